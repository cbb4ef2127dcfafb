#!/usr/bin/env bash
# Backup benchmark: palmdb backup create vs pg_dump -Fc, pg_dump -Fd -j2 and a raw
# COPY ... TO STDOUT > /dev/null (the floor), on the Palm dataset at 1M users (about 1M rows per
# main table), in one run. Prints a markdown table and saves it to docs/benchmarks/backup.md.
#
#   bash scripts/bench-backup.sh            # BENCH_USERS=1000000 by default
#
# Runs under `flock /tmp/palmdb-bench.lock` so benchmarks never overlap on the shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PALMDB_BENCH_LOCKED:-}" ]; then
    export PALMDB_BENCH_LOCKED=1
    exec flock /tmp/palmdb-bench.lock bash "$0" "$@"
fi

users=${BENCH_USERS:-1000000}
# Each command runs this many times; the table shows the best wall time (the machine is shared).
repeat=${BENCH_REPEAT:-2}
db=${BENCH_DATABASE:-palmdb_bench_backup}
admin_url=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export DATABASE_URL=${admin_url%/*}/$db
work=${BENCH_WORK_DIR:-/tmp/palmdb-bench-backup}
# The work folder is deleted at the start and the end: only ever a dedicated one.
case $work in
    */palmdb-bench*) ;;
    *) echo "BENCH_WORK_DIR must be a dedicated folder named palmdb-bench*" >&2; exit 1 ;;
esac
out=docs/benchmarks/backup.md

bash scripts/ensure-postgres.sh >/dev/null
if [ ! -x /usr/bin/time ]; then
    apt-get install -y -qq time >/dev/null
fi
cargo build --release --quiet
palmdb=$PWD/target/release/palmdb

# The dataset: built once, reused while it has the requested size.
have=$(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM users" 2>/dev/null || echo 0)
if [ "$have" != "$users" ]; then
    echo "building the dataset: $users users (once)" >&2
    psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
    $palmdb --quiet migrate >/dev/null
    $palmdb --quiet demo-data --users "$users" >/dev/null
    psql "$DATABASE_URL" -qc "VACUUM ANALYZE"
fi
tables=$(psql "$DATABASE_URL" -Atc "SELECT string_agg(format('%I.%I', schemaname, relname), ' ' ORDER BY relname)
                                     FROM pg_stat_user_tables
                                     WHERE schemaname = 'public' AND relname <> 'refinery_schema_history'")
rows=$(psql "$DATABASE_URL" -Atc "SELECT sum(n_live_tup) FROM pg_stat_user_tables
                                   WHERE schemaname = 'public' AND relname <> 'refinery_schema_history'")
db_size=$(psql "$DATABASE_URL" -Atc "SELECT pg_size_pretty(pg_database_size(current_database()))")
table_size=$(psql "$DATABASE_URL" -Atc "SELECT pg_size_pretty(sum(pg_table_size(relid)))
                                         FROM pg_stat_user_tables WHERE schemaname = 'public'")

rm -rf "$work" && mkdir -p "$work"
copy_sql=$work/copy.sql
for t in $tables; do echo "COPY $t TO STDOUT;" >>"$copy_sql"; done

results=$work/results.md
: >"$results"
# measure NAME OUTPUT_DIR COMMAND...: wall time, peak RSS (GNU time) and output size.
# OUTPUT_DIR is a path under $work that the command creates, or `-` when it writes nothing;
# nothing outside $work is ever deleted.
measure() {
    local name=$1 output=$2
    shift 2
    local best_wall="" best_rss=0 size="–" run wall rss
    case $output in
        -) ;;
        "$work"/?*) ;;
        *) echo "measure: refusing output $output outside $work" >&2; exit 1 ;;
    esac
    for run in $(seq "$repeat"); do
        [ "$output" = - ] || rm -rf "$output"
        sync
        /usr/bin/time -v -o "$work/time.txt" "$@" >"$work/stdout.txt" 2>"$work/stderr.txt" || {
            echo "$name failed:" >&2
            cat "$work/stderr.txt" >&2
            exit 1
        }
        wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {
                n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.1f", s }' "$work/time.txt")
        rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$work/time.txt")
        if [ -z "$best_wall" ] || awk -v a="$wall" -v b="$best_wall" 'BEGIN { exit !(a < b) }'; then
            best_wall=$wall
        fi
        [ "$rss" -gt "$best_rss" ] && best_rss=$rss
        if [ "$output" != - ]; then
            size=$(du -sb "$output" | awk '{ printf "%.0f", $1 / 1048576 }')
        fi
    done
    echo "| $name | $best_wall | $size | $best_rss |" | tee -a "$results" >&2
    [ "$output" = - ] || rm -rf "$output"
    return 0
}

load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "running (each line: wall s, output MB, peak RSS MB)" >&2
measure 'raw `COPY ... TO STDOUT` > /dev/null (psql, the floor)' - \
    psql "$DATABASE_URL" -q -o /dev/null -f "$copy_sql"
measure '`pg_dump -Fc` (gzip, default level)' "$work/dump.fc" \
    pg_dump -Fc -n public -f "$work/dump.fc" "$DATABASE_URL"
measure '`pg_dump -Fd -j2`' "$work/dump.fd" \
    pg_dump -Fd -j2 -n public -f "$work/dump.fd" "$DATABASE_URL"
measure '`palmdb backup create --jobs 1`' "$work/b1" \
    $palmdb --quiet backup create --dir "$work/b1" --jobs 1
measure '`palmdb backup create --jobs 2` (default)' "$work/b2" \
    $palmdb --quiet backup create --dir "$work/b2" --jobs 2
measure '`palmdb backup create --jobs 4`' "$work/b4" \
    $palmdb --quiet backup create --dir "$work/b4" --jobs 4
measure '`palmdb backup create --jobs 2 --compress none`' "$work/bn" \
    $palmdb --quiet backup create --dir "$work/bn" --jobs 2 --compress none
measure '`palmdb backup create --jobs 2 --compress zstd:1`' "$work/bz1" \
    $palmdb --quiet backup create --dir "$work/bz1" --jobs 2 --compress zstd:1
measure '`palmdb backup create --jobs 2 --mask`' "$work/bm" \
    $palmdb --quiet backup create --dir "$work/bm" --jobs 2 --mask

# Memory does not grow with the data: the same backup of a 1,000-user database.
small_url=${admin_url%/*}/${db}_small
psql "$admin_url" -qc "DROP DATABASE IF EXISTS ${db}_small WITH (FORCE)" -c "CREATE DATABASE ${db}_small"
DATABASE_URL=$small_url $palmdb --quiet migrate >/dev/null
DATABASE_URL=$small_url $palmdb --quiet demo-data --users 1000 >/dev/null
measure '`palmdb backup create --jobs 2` of 1,000 users (memory check)' "$work/bs" \
    env DATABASE_URL="$small_url" $palmdb --quiet backup create --dir "$work/bs" --jobs 2
psql "$admin_url" -qc "DROP DATABASE ${db}_small"

{
    echo "# Backup benchmark"
    echo
    echo "\`bash scripts/bench-backup.sh\` on $(date -u +%Y-%m-%d): best wall time of $repeat runs each, $(nproc) cores"
    echo "shared with other work (load average $load at the start), PostgreSQL"
    echo "$(psql "$DATABASE_URL" -Atc 'SHOW server_version' | cut -d' ' -f1) on the same machine, release build; peak RSS from GNU time."
    echo "Dataset: \`palmdb demo-data --users $users\`: $rows rows in the public tables,"
    echo "tables $table_size on disk (database $db_size with indexes)."
    echo
    echo "| what | wall s | output MB | peak RSS MB |"
    echo "|---|---:|---:|---:|"
    cat "$results"
} >"$out.tmp"
if [ -f "$out" ] && grep -q '^## Reading' "$out"; then
    sed -n '/^## Reading/,$p' "$out" >>"$out.tmp.notes"
    { cat "$out.tmp"; echo; cat "$out.tmp.notes"; } >"$out"
    rm -f "$out.tmp.notes" "$out.tmp"
else
    mv "$out.tmp" "$out"
fi
cat "$out"
rm -rf "$work"
