#!/usr/bin/env bash
# The test suite: unit tests and integration tests against a real PostgreSQL (each test
# creates its own database and drops it) and a real 3-node Garage cluster for the object
# storage tests. Usage: scripts/test.sh [cargo test args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-postgres.sh
bash scripts/ensure-garage.sh
cargo test "$@"
