#!/usr/bin/env bash
# Runs the whole test suite: installs the pinned tools if needed (tools/setup), then every unit and
# integration test against a real Anvil and a real MongoDB-wire server started by the harness
# (SecantusDB), then the archive-facing tests again on FerretDB over PostgreSQL.
# Extra arguments go to `cargo test` (e.g. `./test.sh --test migration`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
tools/setup
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked "$@" 2>&1 | tee "$log"
# The archive-facing tests once more on FerretDB over PostgreSQL, the second archive hrm supports
# (only for the whole suite, not when arguments pick tests).
if [ "$#" -eq 0 ]; then
  echo "== the archive-facing tests on FerretDB over PostgreSQL"
  HRM_TEST_ARCHIVE=ferretdb cargo test --locked --test it -- \
    migration:: reorg:: sharing:: web:: exchange:: directory:: \
    operations::sessions_live operations::cookie_less operations::doctor 2>&1 | tee -a "$log"
fi
# One closing line for the whole run (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
