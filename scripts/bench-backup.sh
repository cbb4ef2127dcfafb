#!/usr/bin/env bash
# Backup benchmark: palmdb backup create (the whole database: its schema with pg_dump, every
# table's rows) vs pg_dump -Fc, pg_dump -Fd -j2 of the same database and a raw
# COPY ... TO STDOUT > /dev/null of every table (the floor), on the Palm dataset at 1M users
# (about 1M rows per main table), in one run, plaintext and over TLS. Prints a markdown table
# and saves it to docs/benchmarks/backup.md.
#
#   bash scripts/bench-backup.sh            # BENCH_USERS=1000000 by default
#   BENCH_PART=storage bash scripts/bench-backup.sh   # only the object storage part
#   BENCH_PART=local bash scripts/bench-backup.sh     # all but the object storage part
#   BENCH_MAJOR=18 BENCH_USERS=100000 bash scripts/bench-backup.sh   # on PostgreSQL 18
#
# The object storage part (docs/benchmarks/storage.md) runs in the same way on the same data:
# backup to the local disk vs to the 3-node Garage cluster of scripts/ensure-garage.sh,
# plaintext and encrypted (age), and restore into an empty database from each.
#
# Runs under `flock /tmp/palmdb-bench.lock` so benchmarks never overlap on the shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
if [ -z "${PALMDB_BENCH_LOCKED:-}" ]; then
    export PALMDB_BENCH_LOCKED=1
    exec flock /tmp/palmdb-bench.lock bash "$0" "$@"
fi

# BENCH_MAJOR=17 (13..18): against that major's server from scripts/matrix-postgres.sh, with
# that major's pg_dump / pg_restore first on PATH; results in docs/benchmarks/backup-pg<major>.md.
if [ -n "${BENCH_MAJOR:-}" ]; then
    BENCH_ADMIN_URL=$(bash scripts/matrix-postgres.sh "$BENCH_MAJOR")
    clients=$(bash scripts/matrix-postgres.sh "$BENCH_MAJOR" clients)
    if [ -n "$clients" ]; then export PATH=$clients:$PATH; fi
fi

users=${BENCH_USERS:-1000000}
# Each command runs this many times; the table shows the best wall time (the machine is shared).
repeat=${BENCH_REPEAT:-2}
db=${BENCH_DATABASE:-palmdb_bench_backup}
admin_url=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
# Plaintext unless a row says TLS: the server has ssl=on, and libpq's and palmdb's default
# (sslmode=prefer) would otherwise encrypt every run.
base_url=${admin_url%/*}/$db
export DATABASE_URL=$base_url?sslmode=disable
work=${BENCH_WORK_DIR:-/tmp/palmdb-bench-backup}
# The work folder is deleted at the start and the end: only ever a dedicated one.
case $work in
    */palmdb-bench*) ;;
    *) echo "BENCH_WORK_DIR must be a dedicated folder named palmdb-bench*" >&2; exit 1 ;;
esac
out=docs/benchmarks/backup${BENCH_MAJOR:+-pg$BENCH_MAJOR}.md
part=${BENCH_PART:-all}
case $part in all | storage | local) ;; *) echo "BENCH_PART is all, local or storage" >&2; exit 1 ;; esac

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
# Every table, as palmdb and pg_dump back up the whole database.
tables=$(psql "$DATABASE_URL" -Atc "SELECT string_agg(format('%I.%I', schemaname, relname), ' ' ORDER BY schemaname, relname)
                                     FROM pg_stat_user_tables")
rows=$(psql "$DATABASE_URL" -Atc "SELECT sum(n_live_tup) FROM pg_stat_user_tables")
db_size=$(psql "$DATABASE_URL" -Atc "SELECT pg_size_pretty(pg_database_size(current_database()))")
table_size=$(psql "$DATABASE_URL" -Atc "SELECT pg_size_pretty(sum(pg_table_size(relid)))
                                         FROM pg_stat_user_tables")
tls_url="$base_url?sslmode=require"

rm -rf "$work" && mkdir -p "$work"
copy_sql=$work/copy.sql
for t in $tables; do echo "COPY $t TO STDOUT;" >>"$copy_sql"; done
# The floor at --jobs 2: the same COPYs over two connections, the tables dealt biggest first
# to the less busy one, as palmdb hands them to its jobs.
jobs_sql=("$work/copy-1.sql" "$work/copy-2.sql")
: >"${jobs_sql[0]}"; : >"${jobs_sql[1]}"
dealt=(0 0)
while read -r t size; do
    j=0; [ "${dealt[1]}" -lt "${dealt[0]}" ] && j=1
    echo "COPY $t TO STDOUT;" >>"${jobs_sql[$j]}"
    dealt[j]=$((dealt[j] + size))
done < <(psql "$DATABASE_URL" -AtF' ' -c "SELECT format('%I.%I', schemaname, relname), pg_table_size(relid)
                                           FROM pg_stat_user_tables ORDER BY 2 DESC, 1")

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
        # What a run needs that is not part of it (a new empty database for a restore).
        if [ -n "${before_each:-}" ]; then eval "$before_each"; fi
        sync
        /usr/bin/time -v -o "$work/time.txt" "$@" >"$work/stdout.txt" 2>"$work/stderr.txt" || {
            echo "$name failed:" >&2
            cat "$work/stderr.txt" >&2
            exit 1
        }
        read -r wall _ rss < <(bench_time_fields "$work/time.txt")
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

# The machine is shared: wait (up to BENCH_WAIT minutes) for the 1-minute load to fall below
# the number of cores, then run anyway; the load is recorded with the results.
deadline=$(( $(date +%s) + ${BENCH_WAIT:-20} * 60 ))
while awk -v n="$(nproc)" '{ exit !($1 >= n) }' /proc/loadavg && [ "$(date +%s)" -lt "$deadline" ]; do
    echo "load $(cut -d' ' -f1 /proc/loadavg) >= $(nproc) cores: waiting" >&2
    sleep 30
done
load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "running (each line: wall s, output MB, peak RSS MB)" >&2
if [ "$part" != storage ]; then
measure 'raw `COPY ... TO STDOUT` > /dev/null (psql, the floor)' - \
    psql "$DATABASE_URL" -q -o /dev/null -f "$copy_sql"
measure 'raw `COPY ... TO STDOUT` > /dev/null over 2 connections (the floor at `--jobs 2`)' - \
    bash -c 'psql "$1" -q -o /dev/null -f "$2" & first=$!; psql "$1" -q -o /dev/null -f "$3" && wait $first' \
    _ "$DATABASE_URL" "${jobs_sql[0]}" "${jobs_sql[1]}"
measure '`pg_dump -Fc` (gzip, default level)' "$work/dump.fc" \
    pg_dump -Fc -f "$work/dump.fc" "$DATABASE_URL"
# Some pg_dump builds have no TLS (PyPI's 18): say so in the table instead of failing.
tls_probe=$(pg_dump --schema-only -f /dev/null "$tls_url" 2>&1 || true)
if [[ $tls_probe == *"SSL support is not compiled in"* ]]; then
    echo "| \`pg_dump -Fc\` over TLS | not measured: this pg_dump has no SSL support | – | – |" | tee -a "$results" >&2
else
    measure '`pg_dump -Fc` over TLS (`sslmode=require`)' "$work/dump.fct" \
        pg_dump -Fc -f "$work/dump.fct" "$tls_url"
fi
measure '`pg_dump -Fd -j2`' "$work/dump.fd" \
    pg_dump -Fd -j2 -f "$work/dump.fd" "$DATABASE_URL"
measure '`palmdb backup create --jobs 1`' "$work/b1" \
    $palmdb --quiet backup create --dir "$work/b1" --jobs 1
measure '`palmdb backup create --jobs 2` (default)' "$work/b2" \
    $palmdb --quiet backup create --dir "$work/b2" --jobs 2
if [[ $tls_probe == *"SSL support is not compiled in"* ]]; then
    # palmdb stores the schema with that pg_dump, over the same connection settings.
    echo "| \`palmdb backup create --jobs 2\` over TLS | not measured: the major's pg_dump has no SSL support | – | – |" | tee -a "$results" >&2
else
    measure '`palmdb backup create --jobs 2` over TLS (`sslmode=require`)' "$work/b2t" \
        env DATABASE_URL="$tls_url" $palmdb --quiet backup create --dir "$work/b2t" --jobs 2
fi
measure '`palmdb backup create --jobs 2 --no-schema` (rows only)' "$work/b2n" \
    $palmdb --quiet backup create --dir "$work/b2n" --jobs 2 --no-schema
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
fi

# The object storage part: the same backup to the local disk and to Garage (3 nodes in 3
# zones, replication factor 3, on this machine), plaintext and age-encrypted, and restores
# into an empty database from each; docs/benchmarks/storage.md.
storage_part() {
    bash scripts/ensure-garage.sh
    local garage_dir=${PALMDB_GARAGE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/palmdb/garage}
    local garage_env=$garage_dir/env
    # Shares the cluster as the tests do (tests/suite/common/garage.rs): no fault test stops a node
    # under the benchmark, and the benchmark waits for one that is running.
    exec 7>"$garage_dir/faults.lock"
    flock -s 7
    # shellcheck source=/dev/null
    set -a; . "$garage_env"; set +a
    command -v age-keygen >/dev/null || apt-get install -y -qq -o DPkg::Lock::Timeout=600 age >/dev/null
    local prefix=bench-$$ s3 keys=$work/keys restored=${db}_restored
    s3=s3://$PALMDB_TEST_S3_BUCKET/$prefix
    mkdir -p "$keys"
    age-keygen -o "$keys/key.txt" 2>/dev/null
    chmod 600 "$keys/key.txt"
    age-keygen -y "$keys/key.txt" >"$keys/recipients.txt"
    # Garage wants the payload's SHA-256 in a header, which curl 7.88 does not add: the
    # requests have no body, so it is the hash of nothing.
    local empty_sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
    # Deletes what the runs stored under the prefix (curl signs the requests; the key is
    # handed over in a config on a pipe, never on a command line). The query's `/` is written
    # %2F: curl signs it as given, and S3 checks the signature against the encoded form.
    s3_clean() {
        local key
        for key in $(curl -fsS -K <(printf 'user = "%s:%s"\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY") \
                --aws-sigv4 "aws:amz:$AWS_REGION:s3" -H "x-amz-content-sha256: $empty_sha256" \
                "$AWS_ENDPOINT_URL/$PALMDB_TEST_S3_BUCKET?list-type=2&prefix=$prefix%2F" |
                grep -o '<Key>[^<]*</Key>' | sed 's/<[^>]*>//g'); do
            curl -fsS -K <(printf 'user = "%s:%s"\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY") \
                --aws-sigv4 "aws:amz:$AWS_REGION:s3" -H "x-amz-content-sha256: $empty_sha256" -X DELETE \
                "$AWS_ENDPOINT_URL/$PALMDB_TEST_S3_BUCKET/$key" >/dev/null
        done
    }
    s3_clean
    results=$work/storage.md
    : >"$results"
    echo "object storage part (each line: wall s, output MB, peak RSS MB)" >&2
    measure '`backup create --jobs 2` to the local disk' "$work/l2" \
        $palmdb --quiet backup create --dir "$work/l2" --jobs 2
    before_each=s3_clean
    measure '`backup create --jobs 2` to Garage (`--repo s3://...`)' - \
        $palmdb --quiet backup create --repo "$s3/plain" --jobs 2
    before_each=
    measure '`backup create --jobs 2 --encrypt-to` to the local disk' "$work/le" \
        $palmdb --quiet backup create --dir "$work/le" --jobs 2 --encrypt-to "$keys/recipients.txt"
    before_each=s3_clean
    measure '`backup create --jobs 2 --encrypt-to` to Garage' - \
        $palmdb --quiet backup create --repo "$s3/encrypted" --jobs 2 --encrypt-to "$keys/recipients.txt"
    # One backup of each kind to restore from.
    $palmdb --quiet backup create --dir "$work/from" --jobs 2 >/dev/null
    $palmdb --quiet backup create --repo "$s3/plain" --jobs 2 >/dev/null
    $palmdb --quiet backup create --repo "$s3/encrypted" --jobs 2 --encrypt-to "$keys/recipients.txt" >/dev/null
    local target=${admin_url%/*}/$restored?sslmode=disable
    before_each="psql '$admin_url' -qc 'DROP DATABASE IF EXISTS $restored WITH (FORCE)' -c 'CREATE DATABASE $restored'"
    measure '`restore latest` from the local disk into an empty database' - \
        env DATABASE_URL="$target" $palmdb --quiet restore latest --dir "$work/from"
    measure '`restore latest` from Garage into an empty database' - \
        env DATABASE_URL="$target" $palmdb --quiet restore latest --repo "$s3/plain"
    measure '`restore latest --identity` (encrypted) from Garage into an empty database' - \
        env DATABASE_URL="$target" $palmdb --quiet restore latest --repo "$s3/encrypted" --identity "$keys/key.txt"
    before_each=
    psql "$admin_url" -qc "DROP DATABASE IF EXISTS $restored WITH (FORCE)"
    s3_clean

    local storage_out=docs/benchmarks/storage.md
    {
        echo "# Object storage benchmark"
        echo
        echo "\`BENCH_PART=storage bash scripts/bench-backup.sh\` on $(date -u +%Y-%m-%d): best wall time of $repeat runs"
        echo "each, $(nproc) cores shared with other work (load average $load at the start), PostgreSQL"
        echo "$(psql "$DATABASE_URL" -Atc 'SHOW server_version' | cut -d' ' -f1) and a 3-node Garage $(garage_version) cluster (3 zones,"
        echo "replication factor 3, every node on this machine, over loopback) on the same machine;"
        echo "release build; peak RSS from GNU time. Dataset: \`palmdb demo-data --users $users\`,"
        echo "$rows rows. Backups hold the schema (pg_dump) and every table; restores go into an"
        echo "empty database (the tables created from the stored schema, in one transaction)."
        echo
        echo "| what | wall s | output MB | peak RSS MB |"
        echo "|---|---:|---:|---:|"
        cat "$results"
    } >"$storage_out.tmp"
    if [ -f "$storage_out" ] && grep -q '^## Reading' "$storage_out"; then
        sed -n '/^## Reading/,$p' "$storage_out" >"$storage_out.notes"
        { cat "$storage_out.tmp"; echo; cat "$storage_out.notes"; } >"$storage_out"
        rm -f "$storage_out.notes" "$storage_out.tmp"
    else
        mv "$storage_out.tmp" "$storage_out"
    fi
    cat "$storage_out"
}
garage_version() {
    "${PALMDB_GARAGE_BIN:-$HOME/.cargo/bin/garage}" --version 2>/dev/null | awk '{ print $2 }' | cut -d: -f2
}

if [ "$part" = storage ]; then
    storage_part
    rm -rf "$work"
    exit 0
fi

{
    echo "# Backup benchmark"
    echo
    echo "\`${BENCH_MAJOR:+BENCH_MAJOR=$BENCH_MAJOR BENCH_USERS=$users }bash scripts/bench-backup.sh\` on $(date -u +%Y-%m-%d): best wall time of $repeat runs each, $(nproc) cores"
    echo "shared with other work (load average $load at the start), PostgreSQL"
    echo "$(psql "$DATABASE_URL" -Atc 'SHOW server_version' | cut -d' ' -f1) on the same machine, release build; peak RSS from GNU time."
    echo "Dataset: \`palmdb demo-data --users $users\`: $rows rows in all tables (Palm's and palmdb's),"
    echo "tables $table_size on disk (database $db_size with indexes). Every run backs up the whole"
    echo "database: palmdb its schema (pg_dump --schema-only, same snapshot) and every table's rows;"
    echo "pg_dump schema and data."
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
# The object storage part does not depend on the major: only with the system's server.
[ -n "${BENCH_MAJOR:-}" ] || [ "$part" = local ] || storage_part
rm -rf "$work"
