# Pieces the benchmark scripts share (sourced, not run): timing a command with GNU time,
# waiting for a quieter machine, checking that a restored database holds the source's rows.
# Used by scripts/bench-scale.sh, bench-restore.sh, bench-backup.sh and bench-big-value.sh.

# bench_ensure_time: GNU time (peak RSS) on a fresh Debian machine.
bench_ensure_time() {
    if [ ! -x /usr/bin/time ]; then
        apt-get install -y -qq time >/dev/null
    fi
}

# bench_time_fields FILE: "wall_s cpu_s rss_mb" from the report of `/usr/bin/time -v -o FILE`.
bench_time_fields() {
    awk -F': ' '
        /Elapsed \(wall clock\)/ { n = split($2, p, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + p[i] }
        /User time/ { u = $2 }
        /System time/ { s = $2 }
        /Maximum resident set size/ { r = $2 / 1024 }
        END { printf "%.1f %.1f %.0f\n", w, u + s, r }' "$1"
}

# bench_load: the 1-, 5- and 15-minute load averages, "3.70 3.83 3.56".
bench_load() {
    cut -d' ' -f1-3 /proc/loadavg
}

# bench_wait_for_quiet MINUTES: wait up to MINUTES for the 1-minute load to fall below the
# number of cores, then go on anyway (the load is recorded with every figure).
bench_wait_for_quiet() {
    local deadline=$(( $(date +%s) + $1 * 60 ))
    while awk -v n="$(nproc)" '{ exit !($1 >= n) }' /proc/loadavg && [ "$(date +%s)" -lt "$deadline" ]; do
        echo "load $(cut -d' ' -f1 /proc/loadavg) >= $(nproc) cores: waiting" >&2
        sleep 30
    done
}

# bench_counts URL: "schema.table=rows ..." for every user table, exact counts.
bench_counts() {
    psql "$1" -Atc "SELECT string_agg(format('%s.%s=%s', schemaname, relname,
                           (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', schemaname, relname), false, true, '')))[1]::text),
                           ' ' ORDER BY schemaname, relname)
                    FROM pg_stat_user_tables"
}

# bench_same_counts URL EXPECTED: fails the run unless the database at URL holds EXPECTED.
bench_same_counts() {
    local got
    got=$(bench_counts "$1")
    if [ "$2" != "$got" ]; then
        echo "${1##*/} does not hold the source's rows: $got (expected $2)" >&2
        exit 1
    fi
}
