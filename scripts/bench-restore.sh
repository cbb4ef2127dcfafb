#!/usr/bin/env bash
# Restore benchmark: `palmdb restore` of the Palm backup at 1M users (about 1M rows per main
# table) into a freshly migrated empty database, against `pg_restore --data-only` of a
# `pg_dump -Fc` of the same data into the same schema, in one run. Prints a markdown table
# and saves it to docs/benchmarks/restore.md.
#
#   bash scripts/bench-restore.sh            # BENCH_USERS=1000000 by default
#
# Runs under `flock /tmp/palmdb-bench.lock` so benchmarks never overlap on the shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PALMDB_BENCH_LOCKED:-}" ]; then
    export PALMDB_BENCH_LOCKED=1
    exec flock /tmp/palmdb-bench.lock bash "$0" "$@"
fi

users=${BENCH_USERS:-1000000}
source_db=${BENCH_DATABASE:-palmdb_bench_restore_src}
admin_url=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
server=${admin_url%/*}
work=${BENCH_WORK_DIR:-/tmp/palmdb-bench-restore}
out=docs/benchmarks/restore.md

bash scripts/ensure-postgres.sh >/dev/null
if [ ! -x /usr/bin/time ]; then
    apt-get install -y -qq time >/dev/null
fi
cargo build --release --quiet
# A copy, so a rebuild during the run cannot swap the binary under it.
palmdb=$work.palmdb
cp target/release/palmdb "$palmdb"

# The dataset: built once, reused while it has the requested size.
have=$(psql "$server/$source_db" -Atc "SELECT count(*) FROM users" 2>/dev/null || echo 0)
if [ "$have" != "$users" ]; then
    echo "building the dataset: $users users (once)" >&2
    psql "$admin_url" -qc "DROP DATABASE IF EXISTS $source_db WITH (FORCE)" -c "CREATE DATABASE $source_db"
    DATABASE_URL=$server/$source_db $palmdb --quiet migrate >/dev/null
    DATABASE_URL=$server/$source_db $palmdb --quiet demo-data --users "$users" >/dev/null
    psql "$server/$source_db" -qc "VACUUM ANALYZE"
fi
rows=$(psql "$server/$source_db" -Atc "SELECT sum(n_live_tup) FROM pg_stat_user_tables
                                        WHERE schemaname = 'public' AND relname <> 'refinery_schema_history'")
table_size=$(psql "$server/$source_db" -Atc "SELECT pg_size_pretty(sum(pg_total_relation_size(relid)))
                                              FROM pg_stat_user_tables WHERE schemaname = 'public'")

# The inputs: one palmdb backup, one pg_dump -Fc of the same tables' data.
rm -rf "$work" && mkdir -p "$work"
DATABASE_URL=$server/$source_db $palmdb --quiet backup create --dir "$work/backups" >/dev/null
pg_dump "$server/$source_db" -Fc --data-only -n public -T refinery_schema_history -f "$work/palm.dump"
backup_mb=$(du -sb "$work/backups" | awk '{ printf "%.0f", $1 / 1048576 }')
dump_mb=$(du -sb "$work/palm.dump" | awk '{ printf "%.0f", $1 / 1048576 }')

# A freshly migrated, empty target database.
fresh() {
    psql "$admin_url" -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"
    DATABASE_URL=$server/$1 $palmdb --quiet migrate >/dev/null
    psql "$admin_url" -qc "CHECKPOINT"
}

results=$work/results.md
: >"$results"
# measure NAME COMMAND...: wall time, peak RSS of the client (GNU time), CPU seconds.
measure() {
    local name=$1
    shift
    sync
    /usr/bin/time -v -o "$work/time.txt" "$@" >"$work/stdout.txt" 2>"$work/stderr.txt" || {
        echo "$name failed:" >&2
        cat "$work/stderr.txt" >&2
        exit 1
    }
    if grep -q 'pg_restore: error' "$work/stderr.txt"; then
        echo "$name reported errors:" >&2
        cat "$work/stderr.txt" >&2
        exit 1
    fi
    local wall rss cpu
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {
            n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.1f", s }' "$work/time.txt")
    rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$work/time.txt")
    cpu=$(awk -F': ' '/User time/ { u = $2 } /System time/ { s = $2 } END { printf "%.1f", u + s }' "$work/time.txt")
    echo "| $name | $wall | $cpu | $rss |" | tee -a "$results" >&2
}

# Every target ends with the same rows as the source, or the run is void.
same_counts() {
    local expected got
    expected=$(psql "$server/$source_db" -Atc "SELECT string_agg(format('%s=%s', relname, n), ' ' ORDER BY relname) FROM (
        SELECT 'users' AS relname, count(*) AS n FROM users UNION ALL SELECT 'preorders', count(*) FROM preorders
        UNION ALL SELECT 'palm_analysis_sessions', count(*) FROM palm_analysis_sessions
        UNION ALL SELECT 'user_images', count(*) FROM user_images UNION ALL SELECT 'webhook_logs', count(*) FROM webhook_logs) AS c")
    got=$(psql "$server/$1" -Atc "SELECT string_agg(format('%s=%s', relname, n), ' ' ORDER BY relname) FROM (
        SELECT 'users' AS relname, count(*) AS n FROM users UNION ALL SELECT 'preorders', count(*) FROM preorders
        UNION ALL SELECT 'palm_analysis_sessions', count(*) FROM palm_analysis_sessions
        UNION ALL SELECT 'user_images', count(*) FROM user_images UNION ALL SELECT 'webhook_logs', count(*) FROM webhook_logs) AS c")
    if [ "$expected" != "$got" ]; then
        echo "$1 does not hold the source's rows: $got (expected $expected)" >&2
        exit 1
    fi
}

echo "running (each line: wall s, client CPU s, client peak RSS MB)" >&2
fresh palmdb_bench_restore_palmdb
measure '`palmdb restore latest` (one transaction, owner rights, FKs checked)' \
    env DATABASE_URL=$server/palmdb_bench_restore_palmdb $palmdb --quiet restore latest --dir "$work/backups"
same_counts palmdb_bench_restore_palmdb

fresh palmdb_bench_restore_pgr2
measure '`pg_restore -j2 --data-only --disable-triggers` (superuser, FKs not checked)' \
    pg_restore -d "$server/palmdb_bench_restore_pgr2" -j2 --data-only --disable-triggers "$work/palm.dump"
same_counts palmdb_bench_restore_pgr2

fresh palmdb_bench_restore_pgr1
measure '`pg_restore -j1 --data-only --single-transaction` (owner rights, FKs checked)' \
    pg_restore -d "$server/palmdb_bench_restore_pgr1" --data-only --single-transaction "$work/palm.dump"
same_counts palmdb_bench_restore_pgr1

measure '`palmdb backup verify latest` (re-hash, decompress, parse every line)' \
    $palmdb --quiet backup verify latest --dir "$work/backups"

for db in palmdb_bench_restore_palmdb palmdb_bench_restore_pgr2 palmdb_bench_restore_pgr1; do
    psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
done

{
    echo "# Restore benchmark"
    echo
    echo "\`bash scripts/bench-restore.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores shared,"
    echo "PostgreSQL $(psql "$admin_url" -Atc 'SHOW server_version' | cut -d' ' -f1) (shared_buffers"
    echo "$(psql "$admin_url" -Atc 'SHOW shared_buffers'), maintenance_work_mem $(psql "$admin_url" -Atc 'SHOW maintenance_work_mem')),"
    echo "release build. Dataset: \`palmdb demo-data --users $users\` — $rows rows in 5 tables,"
    echo "$table_size with indexes. Inputs: the palmdb backup ($backup_mb MB, zstd) and"
    echo "\`pg_dump -Fc --data-only\` of the same tables ($dump_mb MB). Every target is a freshly"
    echo "migrated empty database (same schema, indexes and foreign keys); row counts are checked"
    echo "against the source after each run."
    echo
    echo "| run | wall s | client CPU s | client peak RSS MB |"
    echo "|---|---:|---:|---:|"
    cat "$results"
    cat <<'NOTES'

## Reading it

- **Same work?** Not quite, and the difference favours pg_restore. `pg_restore -j2 --data-only`
  into a schema with foreign keys fails (its two jobs load children before parents), so it
  needs `--disable-triggers`, which takes a superuser (refused on RDS or Supabase) and leaves
  every foreign key unchecked. `palmdb restore` runs as the tables' owner and checks every
  foreign key and every unique index before its single COMMIT. The like-for-like run, owner
  rights and checked keys, is `pg_restore --single-transaction` (one job: `-j` and
  `--single-transaction` exclude each other).
- **What bounds palmdb restore: one server backend.** All-or-nothing means one transaction,
  and one transaction means one connection: a single backend parses the COPY text, writes
  heap and WAL and builds the indexes. The client is not the limit — decompressing and
  turning JSON lines into COPY rows on its own thread takes the client CPU shown, a fraction
  of the wall time, and overlaps with the server's work. `pg_restore -j2` has two backends.
- **How palmdb keeps up with one backend:** inside its transaction it sets aside the foreign
  keys between restored tables and the tables' indexes, loads bare heaps with COPY, then
  builds each index once (a sort, which PostgreSQL may parallelise with maintenance workers)
  and validates each foreign key with one join — pg_restore's own order for a full restore,
  kept atomic. Row-by-row index maintenance and per-row foreign-key triggers are what make
  the one-job `pg_restore --single-transaction` run slow.
- **Memory:** the client's peak RSS stays about 20 MB whatever the size (a bounded queue of
  256 KB chunks between the decoding thread and the connection).
- **Verify** reads every byte and parses every line with the client alone.
NOTES
} >"$out"
cat "$out"
