#!/usr/bin/env bash
# Restore benchmark: `palmdb restore` of the Palm backup at 1M users (about 1M rows per main
# table) into an EMPTY database — the tables created from the schema stored in the backup, the
# rows loaded, indexes and constraints built, in one transaction — against `pg_restore -j2`
# (and `--single-transaction`) of a `pg_dump -Fc` of the same database into an empty database,
# in one run; and palmdb's restore into a database prepared by `palmdb migrate`. Prints a
# markdown table and saves it to docs/benchmarks/restore.md.
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
source scripts/bench-lib.sh

# BENCH_MAJOR=17 (13..18): against that major's server from scripts/matrix-postgres.sh, with
# that major's pg_dump / pg_restore first on PATH; results in docs/benchmarks/restore-pg<major>.md.
if [ -n "${BENCH_MAJOR:-}" ]; then
    BENCH_ADMIN_URL=$(bash scripts/matrix-postgres.sh "$BENCH_MAJOR")
    clients=$(bash scripts/matrix-postgres.sh "$BENCH_MAJOR" clients)
    if [ -n "$clients" ]; then export PATH=$clients:$PATH; fi
fi

users=${BENCH_USERS:-1000000}
source_db=${BENCH_DATABASE:-palmdb_bench_restore_src}
admin_url=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
server=${admin_url%/*}
# Plaintext, for palmdb and the PostgreSQL tools alike (the server has ssl=on).
export PGSSLMODE=disable
work=${BENCH_WORK_DIR:-/tmp/palmdb-bench-restore}
out=docs/benchmarks/restore${BENCH_MAJOR:+-pg$BENCH_MAJOR}.md

bash scripts/ensure-postgres.sh >/dev/null
bench_ensure_time
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
# The source at this binary's newest schema version, as the targets will be.
DATABASE_URL=$server/$source_db $palmdb --quiet migrate >/dev/null
rows=$(psql "$server/$source_db" -Atc "SELECT sum(n_live_tup) FROM pg_stat_user_tables")
table_count=$(psql "$server/$source_db" -Atc "SELECT count(*) FROM pg_stat_user_tables")
table_size=$(psql "$server/$source_db" -Atc "SELECT pg_size_pretty(sum(pg_total_relation_size(relid)))
                                              FROM pg_stat_user_tables")

# The inputs: one palmdb backup, one pg_dump -Fc, both of the whole database.
rm -rf "$work" && mkdir -p "$work"
DATABASE_URL=$server/$source_db $palmdb --quiet backup create --dir "$work/backups" >/dev/null
pg_dump "$server/$source_db" -Fc -f "$work/palm.dump"
backup_mb=$(du -sb "$work/backups" | awk '{ printf "%.0f", $1 / 1048576 }')
dump_mb=$(du -sb "$work/palm.dump" | awk '{ printf "%.0f", $1 / 1048576 }')

# An empty target database, as `CREATE DATABASE` makes it.
empty() {
    psql "$admin_url" -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"
    psql "$admin_url" -qc "CHECKPOINT"
}

# A target database prepared by `palmdb migrate` (the tables exist, empty).
migrated() {
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
    read -r wall cpu rss < <(bench_time_fields "$work/time.txt")
    echo "| $name | $wall | $cpu | $rss |" | tee -a "$results" >&2
}

# Every target ends with the same tables and rows as the source, or the run is void.
expected_counts=$(bench_counts "$server/$source_db")
same_counts() {
    bench_same_counts "$server/$1" "$expected_counts"
}

# The machine is shared: wait (up to BENCH_WAIT minutes) for the 1-minute load to fall below
# the number of cores, then run anyway; the load is recorded with the results.
bench_wait_for_quiet "${BENCH_WAIT:-20}"
load=$(bench_load)
echo "running (each line: wall s, client CPU s, client peak RSS MB)" >&2
empty palmdb_bench_restore_palmdb
measure '`palmdb restore latest` into an empty database (schema from the backup, one transaction)' \
    env DATABASE_URL=$server/palmdb_bench_restore_palmdb $palmdb --quiet restore latest --dir "$work/backups"
same_counts palmdb_bench_restore_palmdb

empty palmdb_bench_restore_pgr2
measure '`pg_restore -j2` of `pg_dump -Fc` into an empty database (two jobs, not atomic)' \
    pg_restore -d "$server/palmdb_bench_restore_pgr2" -j2 "$work/palm.dump"
same_counts palmdb_bench_restore_pgr2

empty palmdb_bench_restore_pgr1
measure '`pg_restore --single-transaction` of `pg_dump -Fc` into an empty database (atomic, one job)' \
    pg_restore -d "$server/palmdb_bench_restore_pgr1" --single-transaction "$work/palm.dump"
same_counts palmdb_bench_restore_pgr1

migrated palmdb_bench_restore_prepared
measure '`palmdb restore latest` into a database prepared by `palmdb migrate`' \
    env DATABASE_URL=$server/palmdb_bench_restore_prepared $palmdb --quiet restore latest --dir "$work/backups"
same_counts palmdb_bench_restore_prepared

measure '`palmdb backup verify latest` (re-hash, decompress, parse every line)' \
    $palmdb --quiet backup verify latest --dir "$work/backups"

for db in palmdb_bench_restore_palmdb palmdb_bench_restore_pgr2 palmdb_bench_restore_pgr1 \
    palmdb_bench_restore_prepared; do
    psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
done

{
    echo "# Restore benchmark"
    echo
    echo "\`${BENCH_MAJOR:+BENCH_MAJOR=$BENCH_MAJOR BENCH_USERS=$users }bash scripts/bench-restore.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores shared with other work"
    echo "(load average $load at the start), PostgreSQL $(psql "$admin_url" -Atc 'SHOW server_version' | cut -d' ' -f1)"
    echo "(shared_buffers $(psql "$admin_url" -Atc 'SHOW shared_buffers'), maintenance_work_mem $(psql "$admin_url" -Atc 'SHOW maintenance_work_mem')),"
    echo "release build, plaintext connections. Dataset: \`palmdb demo-data --users $users\` — $rows rows"
    echo "in $table_count tables (Palm's and palmdb's), $table_size with indexes. Inputs: the palmdb backup"
    echo "($backup_mb MB: schema and zstd rows) and \`pg_dump -Fc\` of the same database ($dump_mb MB)."
    echo "Targets are empty databases (\`CREATE DATABASE\`), except the last restore's, prepared by"
    echo "\`palmdb migrate\`; every table's row count is checked against the source after each run."
    echo
    echo "| run | wall s | client CPU s | client peak RSS MB |"
    echo "|---|---:|---:|---:|"
    cat "$results"
    cat <<'NOTES'

## Reading it

- **Same work:** both start from an empty database and end with the same schema (types,
  tables, sequences, functions, views, indexes, constraints, foreign keys, triggers, grants)
  and the same rows, every foreign key and unique index checked. `palmdb restore` does it in
  one transaction — a failure or a kill leaves the empty database empty — as the database
  owner, with no superuser; `pg_restore -j2` runs two connections and commits as it goes (a
  failure leaves half a database). The atomic pg_restore is `--single-transaction`, one job
  (`-j` and `--single-transaction` exclude each other).
- **How:** palmdb runs pg_restore only to turn the stored schema into SQL, and executes it on
  its own connection: types, tables and sequences, then the rows (COPY ... FREEZE into the
  tables just created, streamed from the zstd files by a second thread), then indexes,
  constraints and triggers — pg_restore's own order, kept in one transaction.
- **What bounds it: one server backend.** All-or-nothing means one transaction, one
  connection: a single backend parses the COPY text, writes the heap and builds the indexes
  (each build may use parallel maintenance workers). `pg_restore -j2` has two backends.
- **Memory:** the client's peak RSS stays about 20 MB whatever the size (a bounded queue of
  256 KB chunks between the decoding thread and the connection; lines are streamed, so even
  one 200 MB value does not raise it: `docs/benchmarks/big-value.md`).
- **Verify** reads every byte and parses every line with the client alone.
NOTES
} >"$out"
cat "$out"
