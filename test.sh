#!/usr/bin/env bash
# Runs the whole test suite: installs the pinned tools if needed (tools/setup), then every unit and
# integration test against a real Anvil and a real MongoDB-wire server started by the harness.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
tools/setup
cargo test --workspace --locked "$@"
