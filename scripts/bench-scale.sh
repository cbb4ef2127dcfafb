#!/usr/bin/env bash
# Scale benchmark (issue 16; documented in docs/benchmarks/scale.md, not run in CI): at 0.1M,
# 1M and 10M users of `palmdb demo-data`, the same run measures
#   palmdb backup create (default settings), backup verify, restore into an EMPTY database
#   (tables created from the schema stored in the backup), and restore --create-database
#   --jobs 2 (the restore creates the database, over two connections)
# beside
#   pg_dump -Fc, pg_dump -Fd -j2, pg_restore -j2 of the -Fc dump into an empty database
# with wall time, client CPU, client peak RSS (GNU time) and output size, the load average
# next to every figure, and the growth factor from one scale to the next. Prints a markdown
# table and saves it to docs/benchmarks/scale.md (BENCH_OUT overrides).
#
#   bash scripts/bench-scale.sh                          # BENCH_SCALES="100000 1000000 10000000"
#   BENCH_SCALES="100000 1000000" bash scripts/bench-scale.sh
#   BENCH_PG_FD=0 bash scripts/bench-scale.sh            # without pg_dump -Fd -j2 (saves disk)
#   BENCH_LEVERS=1 bash scripts/bench-scale.sh           # also a restore with more memory
#
# Disk: each scale's dataset, one restored copy at a time and the dumps; 10M users is about
# 10 GB per database plus ~3 x 2 GB of dumps. Before each scale the free space is checked
# against an estimate (BENCH_MIN_FREE_GB_PER_MUSERS, default 3 GB per million users, and
# 30 GB at 10M as the team rule says); below it the -Fd variant is skipped, and below half of
# it the scale is skipped, and the report says so. Datasets and dumps are deleted after each
# scale, and on exit.
#
# Runs under `flock /tmp/palmdb-bench.lock` so benchmarks never overlap on the shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PALMDB_BENCH_LOCKED:-}" ]; then
    export PALMDB_BENCH_LOCKED=1
    exec flock /tmp/palmdb-bench.lock bash "$0" "$@"
fi
source scripts/bench-lib.sh

scales=${BENCH_SCALES:-100000 1000000 10000000}
with_fd=${BENCH_PG_FD:-1}
# BENCH_LEVERS=1 adds a restore with more memory for index builds and FK checks at every
# scale; a list of user counts ("100000 1000000") at those only.
levers=${BENCH_LEVERS:-0}
lever_mwm=${BENCH_LEVER_MWM:-1GB}
lever_wm=${BENCH_LEVER_WORK_MEM:-256MB}
per_musers_gb=${BENCH_MIN_FREE_GB_PER_MUSERS:-3}
admin_url=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
server=${admin_url%/*}
# Plaintext, for palmdb and the PostgreSQL tools alike (the server has ssl=on).
export PGSSLMODE=disable
work=${BENCH_WORK_DIR:-/tmp/palmdb-bench-scale}
case $work in
    */palmdb-bench*) ;;
    *) echo "BENCH_WORK_DIR must be a dedicated folder named palmdb-bench*" >&2; exit 1 ;;
esac
out=${BENCH_OUT:-docs/benchmarks/scale.md}
# BENCH_GENERATE_ONLY=1 builds the datasets of BENCH_SCALES and keeps them (a later run reuses
# each, with the demo-data figures measured when it was built, kept in the database comment);
# BENCH_PALMDB=path uses that palmdb binary instead of building the release one.
generate_only=${BENCH_GENERATE_ONLY:-0}
# BENCH_KEEP=1 keeps each dataset after its scale's run (for experiments); drop them yourself:
#   psql -c "DROP DATABASE palmdb_bench_scale_src_1000000"
keep=${BENCH_KEEP:-$generate_only}
target=palmdb_bench_scale_target

bash scripts/ensure-postgres.sh >/dev/null
bench_ensure_time
if [ -z "${BENCH_PALMDB:-}" ]; then
    cargo build --release --quiet
fi
# A copy, so a rebuild during the run cannot swap the binary under it.
palmdb=$work.palmdb
rm -rf "$work" && mkdir -p "$work"
cp "${BENCH_PALMDB:-target/release/palmdb}" "$palmdb"

src=
cleanup() {
    if [ "$keep" != 1 ] && [ -n "$src" ]; then
        psql "$admin_url" -qc "DROP DATABASE IF EXISTS $src WITH (FORCE)" 2>/dev/null || true
    fi
    psql "$admin_url" -qc "DROP DATABASE IF EXISTS $target WITH (FORCE)" 2>/dev/null || true
    rm -rf "$work/data"
}
trap cleanup EXIT

empty_target() {
    psql "$admin_url" -qc "DROP DATABASE IF EXISTS $target WITH (FORCE)" -c "CREATE DATABASE $target"
    psql "$admin_url" -qc "CHECKPOINT"
}

results=$work/results.tsv   # users, step, wall, cpu, rss, output MB, load
: >"$results"
# measure USERS STEP OUTPUT COMMAND...: one timed run; OUTPUT is a path under $work/data whose
# size is recorded, or `-`.
measure() {
    local users=$1 step=$2 output=$3 load wall cpu rss size="–"
    shift 3
    sync
    load=$(bench_load)
    /usr/bin/time -v -o "$work/time.txt" "$@" >"$work/stdout.txt" 2>"$work/stderr.txt" || {
        echo "$step at $users users failed:" >&2
        cat "$work/stderr.txt" >&2
        exit 1
    }
    if grep -q 'pg_restore: error' "$work/stderr.txt"; then
        echo "$step at $users users reported errors:" >&2
        cat "$work/stderr.txt" >&2
        exit 1
    fi
    read -r wall cpu rss < <(bench_time_fields "$work/time.txt")
    if [ "$output" != - ]; then
        size=$(du -sb "$output" | awk '{ printf "%.0f", $1 / 1048576 }')
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$users" "$step" "$wall" "$cpu" "$rss" "$size" "$load" >>"$results"
    printf '%10s  %-40s %8s s  cpu %7s s  rss %5s MB  out %6s MB  load %s\n' \
        "$users" "$step" "$wall" "$cpu" "$rss" "$size" "$load" >&2
}

notes=$work/notes.txt
: >"$notes"
free_gb() { df -BG --output=avail / | tail -1 | tr -dc '0-9'; }

for users in $scales; do
    need=$(( (users * per_musers_gb + 999999) / 1000000 ))
    [ "$users" -ge 10000000 ] && [ "$need" -lt 30 ] && need=30
    fd=$with_fd
    src=palmdb_bench_scale_src_$users
    built=$(psql "$admin_url" -Atc "SELECT shobj_description(oid, 'pg_database') FROM pg_database
                                     WHERE datname = '$src'")
    # A dataset built earlier already takes its share of the disk.
    free=$(( $(free_gb) + $(psql "$admin_url" -Atc "SELECT (coalesce(sum(pg_database_size(datname)), 0) / 1073741824)::bigint
                                                     FROM pg_database WHERE datname = '$src'") ))
    if [ "$free" -lt $(( need / 2 )) ]; then
        echo "- $users users: skipped, $free GB free on / (needs about $need GB)" | tee -a "$notes" >&2
        continue
    fi
    if [ "$fd" = 1 ] && [ "$free" -lt "$need" ]; then
        fd=0
        echo "- $users users: \`pg_dump -Fd -j2\` skipped, $free GB free on / (under $need GB)" | tee -a "$notes" >&2
    fi
    echo "== $users users ($free GB free)" >&2
    rm -rf "$work/data" && mkdir -p "$work/data"
    if [ "${built%%$'\t'*}" = "palmdb-bench-scale $users" ]; then
        echo "reusing $src, built earlier" >&2
        printf '%s\n' "${built#*$'\t'}" >>"$results"
        DATABASE_URL=$server/$src $palmdb --quiet migrate >/dev/null
    else
        psql "$admin_url" -qc "DROP DATABASE IF EXISTS $src WITH (FORCE)" -c "CREATE DATABASE $src"
        DATABASE_URL=$server/$src $palmdb --quiet migrate >/dev/null
        measure "$users" 'demo-data (generate, index, FKs)' - \
            env DATABASE_URL=$server/$src $palmdb --quiet demo-data --users "$users"
        psql "$server/$src" -qc "VACUUM ANALYZE"
        psql "$admin_url" -qc "COMMENT ON DATABASE $src IS \$\$palmdb-bench-scale $users	$(tail -1 "$results")\$\$"
    fi
    if [ "$generate_only" = 1 ]; then
        continue
    fi
    db_mb=$(psql "$server/$src" -Atc "SELECT pg_database_size(current_database()) / 1048576")
    rows=$(psql "$server/$src" -Atc "SELECT sum(n_live_tup) FROM pg_stat_user_tables")
    echo "- $users users: $rows rows, database $db_mb MB with indexes" >>"$notes"
    expected=$(bench_counts "$server/$src")
    bench_wait_for_quiet "${BENCH_WAIT:-5}"

    measure "$users" 'palmdb backup create' "$work/data/backups" \
        env DATABASE_URL=$server/$src $palmdb --quiet backup create --dir "$work/data/backups"
    measure "$users" 'palmdb backup verify' - \
        $palmdb --quiet backup verify latest --dir "$work/data/backups"
    empty_target
    measure "$users" 'palmdb restore (empty database)' - \
        env DATABASE_URL=$server/$target $palmdb --quiet restore latest --dir "$work/data/backups"
    bench_same_counts "$server/$target" "$expected"
    # The same backup into a database the restore creates, over two connections, named only
    # when complete (still all or nothing, as the database either exists whole or not at all).
    psql "$admin_url" -qc "DROP DATABASE IF EXISTS $target WITH (FORCE)" -c "CHECKPOINT"
    measure "$users" 'palmdb restore --create-database --jobs 2' - \
        env DATABASE_URL=$server/$target $palmdb --quiet restore latest --dir "$work/data/backups" \
        --create-database --jobs 2
    bench_same_counts "$server/$target" "$expected"
    if [ "$levers" = 1 ] || grep -qw -- "$users" <<<"$levers"; then
        # The index and foreign-key lever, measured before it is built in: the same restore
        # with more memory for the index builds (maintenance_work_mem; the parallel workers
        # share it) and the foreign-key checks' joins (work_mem), as the database's defaults,
        # which the restore's transaction inherits.
        empty_target
        psql "$admin_url" -qc "ALTER DATABASE $target SET maintenance_work_mem = '$lever_mwm'" \
            -c "ALTER DATABASE $target SET work_mem = '$lever_wm'"
        measure "$users" "palmdb restore, mwm $lever_mwm, work_mem $lever_wm" - \
            env DATABASE_URL=$server/$target $palmdb --quiet restore latest --dir "$work/data/backups"
        bench_same_counts "$server/$target" "$expected"
    fi
    psql "$admin_url" -qc "DROP DATABASE IF EXISTS $target WITH (FORCE)"
    rm -rf "$work/data/backups"

    measure "$users" 'pg_dump -Fc' "$work/data/palm.dump" \
        pg_dump -Fc -f "$work/data/palm.dump" "$server/$src"
    if [ "$fd" = 1 ]; then
        measure "$users" 'pg_dump -Fd -j2' "$work/data/palm.dir" \
            pg_dump -Fd -j2 -f "$work/data/palm.dir" "$server/$src"
        rm -rf "$work/data/palm.dir"
    fi
    empty_target
    measure "$users" 'pg_restore -j2 (empty database)' - \
        pg_restore -d "$server/$target" -j2 "$work/data/palm.dump"
    bench_same_counts "$server/$target" "$expected"
    cleanup
done

if [ "$generate_only" = 1 ]; then
    echo "datasets kept for the next run: $(psql "$admin_url" -Atc "SELECT string_agg(datname, ' ')
        FROM pg_database WHERE datname LIKE 'palmdb_bench_scale_src_%'")" >&2
    exit 0
fi

# The table: one row per step, per scale its wall s / peak RSS MB / output MB and load, then
# the growth of wall time from each scale to the next.
report=$work/report.md
awk -F'\t' -v scales="$(tr ' ' '\n' <<<"$scales" | sort -n | xargs)" '
    { key = $1 SUBSEP $2; wall[key] = $3; cpu[key] = $4; rss[key] = $5; size[key] = $6; load[key] = $7
      if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 }
      if (!($1 in have)) { have[$1] = 1 } }
    function label(u) { return u >= 1000000 ? (u / 1000000) "M" : (u / 1000) "k" }
    END {
        m = 0
        split(scales, all, " ")
        for (i = 1; i in all; i++) if (all[i] in have) s[++m] = all[i]
        head = "| step |"; rule = "|---|"
        for (i = 1; i <= m; i++) { head = head " " label(s[i]) ": wall s | CPU s | RSS MB | out MB | load |"; rule = rule "---:|---:|---:|---:|---|" }
        for (i = 2; i <= m; i++) { head = head " " label(s[i]) "/" label(s[i-1]) " |"; rule = rule "---:|" }
        print head; print rule
        for (j = 1; j <= n; j++) {
            line = "| " order[j] " |"
            for (i = 1; i <= m; i++) {
                k = s[i] SUBSEP order[j]
                if (k in wall) line = line " " wall[k] " | " cpu[k] " | " rss[k] " | " size[k] " | " load[k] " |"
                else line = line " – | – | – | – | – |"
            }
            for (i = 2; i <= m; i++) {
                a = s[i] SUBSEP order[j]; b = s[i-1] SUBSEP order[j]
                if ((a in wall) && (b in wall) && wall[b] > 0) line = line sprintf(" %.1f× |", wall[a] / wall[b])
                else line = line " – |"
            }
            print line
        }
    }' "$results" >"$report"

{
    echo "## Run of $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "\`bash scripts/bench-scale.sh\` (BENCH_SCALES=\"$scales\"), $(nproc) cores shared with other work,"
    echo "PostgreSQL $(psql "$admin_url" -Atc 'SHOW server_version' | cut -d' ' -f1) (shared_buffers $(psql "$admin_url" -Atc 'SHOW shared_buffers'),"
    echo "maintenance_work_mem $(psql "$admin_url" -Atc 'SHOW maintenance_work_mem'), max_parallel_maintenance_workers $(psql "$admin_url" -Atc 'SHOW max_parallel_maintenance_workers')),"
    echo "release build, plaintext connections, $(git rev-parse --short HEAD). One run per figure; \"load\" is"
    echo "the 1/5/15-minute load average when the step started. RSS is the client's peak."
    echo
    cat "$notes"
    echo
    cat "$report"
} >"$work/section.md"
cat "$work/section.md"
# The page keeps its prose: the run replaces what lies between the markers (appends with
# BENCH_OUT_APPEND=1, to keep several runs side by side).
start='<!-- bench-scale:start -->' end='<!-- bench-scale:end -->'
if [ -f "$out" ] && grep -qF "$start" "$out"; then
    awk -v start="$start" -v end="$end" -v section="$work/section.md" -v append="${BENCH_OUT_APPEND:-}" '
        $0 == start { print; skip = !append; if (!append) { while ((getline l < section) > 0) print l }; next }
        $0 == end { if (append) { print ""; while ((getline l < section) > 0) print l }; skip = 0; print; next }
        !skip { print }' "$out" >"$work/page.md"
    cp "$work/page.md" "$out"
else
    { echo "# Scale benchmark"; echo; echo "$start"; cat "$work/section.md"; echo "$end"; } >"$out"
fi
echo "written to $out" >&2
