#!/usr/bin/env bash
# The version matrix: the test suite against PostgreSQL 13, 14, 15, 16, 17 and 18, each
# started by scripts/matrix-postgres.sh on 127.0.0.1:543MAJOR, then one pass/fail line per
# major. The tests' databases are created on that server (PALMDB_TEST_ADMIN_URL, see
# tests/suite/common); a few tests are tied to the system's server on 5432 by design (tests/suite/connect.rs:
# its TLS certificate and password roles) and run there in every pass.
#
#   bash scripts/test-matrix.sh                      every major, every test
#   bash scripts/test-matrix.sh 13 18                some majors
#   bash scripts/test-matrix.sh 18 -- --test suite -- health::
#                                                    narrower: cargo test options, and after a
#                                                    second -- the test binary's (module filters)
#
# Logs: target/test-matrix/<major>.log. Exit 0 only when every major passed.
# HypoPG is a Debian package built for the system's major only: on the other majors the
# tests that need it (`palmdb advise`) are skipped and the table says so.
set -uo pipefail
cd "$(dirname "$0")/.."

majors=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do majors+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#majors[@]} -gt 0 ] || majors=(13 14 15 16 17 18)
# cargo test's options, then (after a second --) the test binary's: filters like `health::`.
cargo_args=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do cargo_args+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
test_args=("$@")

set -e
bash scripts/ensure-postgres.sh
bash scripts/ensure-promtool.sh
bash scripts/ensure-chromium.sh
bash scripts/ensure-garage.sh
for major in "${majors[@]}"; do bash scripts/matrix-postgres.sh "$major" >/dev/null; done
nice cargo test --no-run "${cargo_args[@]}" >/dev/null
set +e

mkdir -p target/test-matrix
declare -A result
failed_any=0
total_passed=0
total_failed=0
for major in "${majors[@]}"; do
  url=$(bash scripts/matrix-postgres.sh "$major")
  version=$(psql "$url" -qAtc "SHOW server_version" 2>/dev/null)
  skip=()
  skipped_note=""
  if [ "$(psql "$url" -qAtc "SELECT count(*) FROM pg_available_extensions WHERE name = 'hypopg'")" = 0 ]; then
    # The tests that create the hypopg extension (advise and its plan modes, and the
    # dashboard's browser test, whose advice page needs it).
    skip=(--skip advise --skip generic_plans --skip dashboard::every_page_in_a_real_browser)
    skipped_note="advise and dashboard browser tests skipped (no HypoPG for $major)"
  fi
  # That major's pg_dump / pg_restore / psql first on PATH (tests compare schemas with pg_dump).
  clients=$(bash scripts/matrix-postgres.sh "$major" clients)
  log=target/test-matrix/$major.log
  echo "== PostgreSQL $version ($url)" >&2
  start=$(date +%s)
  PATH=${clients:+$clients:}$PATH PALMDB_TEST_ADMIN_URL=$url nice cargo test --no-fail-fast "${cargo_args[@]}" -- "${skip[@]}" "${test_args[@]}" >"$log" 2>&1
  code=$?
  seconds=$(($(date +%s) - start))
  passed=$(grep -Eo '^test result: .*' "$log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
  failed=$(grep -Eo '^test result: .*' "$log" | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
  names=$(grep -E '^test .* \.\.\. FAILED$' "$log" | sed -E 's/^test (.*) \.\.\. FAILED$/\1/' | tr '\n' ' ')
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  if [ $code = 0 ]; then
    verdict=PASS
  else
    verdict=FAIL
    failed_any=1
    grep -E '^test .* FAILED$|panicked at|^error' "$log" | head -n 20 >&2
  fi
  result[$major]=$(printf '%-6s %-8s %7s %7s %6ss  %s' "$major" "$verdict" "$passed" "$failed" "$seconds" "$version${skipped_note:+; $skipped_note}${names:+; failed: $names}")
  echo "${result[$major]}" >&2
done

echo
printf '%-6s %-8s %7s %7s %7s  %s\n' MAJOR RESULT PASSED FAILED TIME "SERVER / NOTES"
for major in "${majors[@]}"; do echo "${result[$major]}"; done
echo "matrix: $total_passed passed, $total_failed failed"
exit $failed_any
