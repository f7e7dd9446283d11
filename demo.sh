#!/usr/bin/env bash
# The whole story on a throw-away local Anvil and MongoDB-wire server, narrated (`hrm demo`):
# five hospitals, three patients, sealed health and bill details, votes with one rejection,
# migration into MongoDB, an audit, and a diabetes prediction for each patient.
# Installs the pinned tools first (tools/setup); leaves nothing running. With --serve it ends by
# serving St Mary's web app on the story's data until Ctrl-C.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
case " $* " in
  *geth*) tools/setup --without-fhir-validator --without-browser ;;   # the Geth network needs geth
  *) tools/setup --without-geth --without-fhir-validator --without-browser ;;
esac
cargo run --quiet --locked -- demo "$@"
