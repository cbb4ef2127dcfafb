#!/usr/bin/env bash
# The test suite: unit tests and integration tests against a real PostgreSQL (each test
# creates its own database and drops it), and against a real 3-node Garage cluster for the
# object storage tests. Usage: scripts/test.sh [cargo test args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-postgres.sh
bash scripts/ensure-promtool.sh   # the alert rules' tests (tests/suite/prometheus_alerts.rs)
bash scripts/ensure-chromium.sh   # the dashboard's browser test (tests/suite/dashboard.rs)
bash scripts/ensure-garage.sh     # S3 on 3 nodes (tests/suite/object_storage.rs, tests/suite/repository.rs)
# GNU time (Debian's `time`): palmdb's peak memory in tests/suite/big_values.rs.
[ -x /usr/bin/time ] || $( [ "$(id -u)" = 0 ] || echo sudo ) apt-get install -y -qq time
bash scripts/ensure-pgbouncer.sh  # PgBouncer on 6432 (transaction) and 6433 (session) (tests/suite/compat_*.rs)
# Other PostgreSQL majors (tests/suite/cross_version.rs: 13 -> 18, 15 -> 17), fetched once and cached.
for major in 13 15 17 18; do bash scripts/matrix-postgres.sh "$major" >/dev/null; done
cargo test "$@"
