-- Every health check in one call: one row per check with its status, the figure it judged,
-- the thresholds, what was found and the SQL a DBA would run next. Thresholds are parameters
-- with defaults, so from psql:
--     SELECT * FROM palmdb.checks();
--     SELECT * FROM palmdb.checks(long_query_warning => '10 seconds', only_checks => '{blocked_queries}');
-- Check names are stable (docs/health-checks.md); `only_checks` restricts the run to some of them.
-- Each check reads its own view above; the figures judged are:
--   higher is worse: the worst single item (longest query, highest dead ratio ...) or a count;
--   lower is worse: the cache hit ratios.

-- Dropped first: CREATE OR REPLACE cannot change the columns or parameters it returns
-- and takes, and nothing depends on it but callers.
DROP FUNCTION IF EXISTS palmdb.checks;

CREATE OR REPLACE FUNCTION palmdb.checks(
    connections_warning          double precision DEFAULT 0.8,
    connections_critical         double precision DEFAULT 0.9,
    long_query_warning           interval         DEFAULT interval '1 minute',
    long_query_critical          interval         DEFAULT interval '5 minutes',
    idle_in_transaction_warning  interval         DEFAULT interval '1 minute',
    idle_in_transaction_critical interval         DEFAULT interval '10 minutes',
    blocked_warning              interval         DEFAULT interval '10 seconds',
    blocked_critical             interval         DEFAULT interval '1 minute',
    cache_hit_warning            double precision DEFAULT 0.99,
    cache_hit_critical           double precision DEFAULT 0.95,
    cache_min_blocks             bigint           DEFAULT 10000,
    dead_ratio_warning           double precision DEFAULT 0.2,
    dead_ratio_critical          double precision DEFAULT 0.5,
    dead_rows_min                bigint           DEFAULT 1000,
    stale_ratio_warning          double precision DEFAULT 0.2,
    stale_rows_min               bigint           DEFAULT 1000,
    unused_index_min_bytes       bigint           DEFAULT 10485760,
    xid_age_warning              bigint           DEFAULT 1300000000,
    xid_age_critical             bigint           DEFAULT 1400000000,
    sequence_warning             double precision DEFAULT 0.8,
    sequence_critical            double precision DEFAULT 0.9,
    replication_lag_warning      interval         DEFAULT interval '30 seconds',
    replication_lag_critical     interval         DEFAULT interval '5 minutes',
    slot_wal_critical_bytes      bigint           DEFAULT 1073741824,
    slow_query_mean              interval         DEFAULT interval '100 milliseconds',
    slow_query_calls             bigint           DEFAULT 100,
    only_checks                         text[]           DEFAULT NULL
)
RETURNS TABLE (
    name            text,
    status          text,
    value           double precision,
    threshold       text,
    detail          text,
    remedy          text,
    warning_level   double precision,
    critical_level  double precision
)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    seconds_warning  double precision;
    seconds_critical double precision;
    pss_state        text;
BEGIN
    -- connections: share of max_connections in use, server-wide.
    IF only_checks IS NULL OR 'connections' = ANY (only_checks) THEN
        RETURN QUERY
        SELECT
            'connections'                                                AS name,
            palmdb.health_level(c.share, connections_warning, connections_critical)
                                                                         AS status,
            c.share                                                      AS value,
            format('warning > %s, critical > %s of max_connections', connections_warning, connections_critical)
                                                                         AS threshold,
            format('%s of %s connections in use (%s)', c.total, current_setting('max_connections'), c.by_state)
                                                                         AS detail,
            CASE
                WHEN palmdb.health_level(c.share, connections_warning, connections_critical) <> 'ok'
                THEN 'SELECT state, usename, application_name, count(*) FROM pg_stat_activity GROUP BY 1, 2, 3 ORDER BY 4 DESC;  -- then use a connection pooler or raise max_connections'
            END                                                          AS remedy,
            connections_warning                                          AS warning_level,
            connections_critical                                         AS critical_level
        FROM (
            SELECT
                coalesce(sum(v.connections), 0)::bigint                  AS total,
                coalesce(sum(v.share_of_max), 0)::double precision       AS share,
                coalesce(string_agg(format('%s %s', v.connections, v.state), ', ' ORDER BY v.connections DESC), 'none')
                                                                         AS by_state
            FROM palmdb.connections AS v
        ) AS c;
    END IF;

    -- long_running_queries: the longest active query of this database, in seconds.
    IF only_checks IS NULL OR 'long_running_queries' = ANY (only_checks) THEN
        seconds_warning := extract(epoch FROM long_query_warning);
        seconds_critical := extract(epoch FROM long_query_critical);
        RETURN QUERY
        SELECT
            'long_running_queries'                                       AS name,
            palmdb.health_level(q.longest, seconds_warning, seconds_critical) AS status,
            coalesce(q.longest, 0)                                       AS value,
            format('warning > %s, critical > %s', long_query_warning, long_query_critical)
                                                                         AS threshold,
            CASE
                WHEN q.over = 0 THEN format('no query running longer than %s', long_query_warning)
                ELSE format(
                    '%s quer%s running longer than %s; longest %s (pid %s, %s): %s',
                    q.over,
                    CASE WHEN q.over = 1 THEN 'y' ELSE 'ies' END,
                    long_query_warning,
                    date_trunc('second', (q.top).running_for),
                    (q.top).pid,
                    coalesce(nullif((q.top).application_name, ''), (q.top).user_name),
                    left(regexp_replace((q.top).query, '\s+', ' ', 'g'), 120)
                )
            END                                                          AS detail,
            CASE
                WHEN q.over > 0
                THEN format('SELECT pg_cancel_backend(%s);  -- pg_terminate_backend(%s) if it does not stop; see palmdb.long_running_queries', (q.top).pid, (q.top).pid)
            END                                                          AS remedy,
            seconds_warning                                              AS warning_level,
            seconds_critical                                             AS critical_level
        FROM (
            SELECT
                max(extract(epoch FROM l.running_for))::double precision AS longest,
                count(*) FILTER (WHERE l.running_for > long_query_warning) AS over,
                (array_agg(l ORDER BY l.running_for DESC))[1]             AS top
            FROM palmdb.long_running_queries AS l
        ) AS q;
    END IF;

    -- idle_in_transaction: the longest-idle open transaction of this database, in seconds.
    IF only_checks IS NULL OR 'idle_in_transaction' = ANY (only_checks) THEN
        seconds_warning := extract(epoch FROM idle_in_transaction_warning);
        seconds_critical := extract(epoch FROM idle_in_transaction_critical);
        RETURN QUERY
        SELECT
            'idle_in_transaction'                                        AS name,
            palmdb.health_level(q.longest, seconds_warning, seconds_critical) AS status,
            coalesce(q.longest, 0)                                       AS value,
            format('warning > %s, critical > %s', idle_in_transaction_warning, idle_in_transaction_critical)
                                                                         AS threshold,
            CASE
                WHEN q.over = 0 THEN format('no session idle in a transaction for more than %s', idle_in_transaction_warning)
                ELSE format(
                    '%s session%s idle in a transaction for more than %s; longest %s (pid %s, %s), last query: %s',
                    q.over,
                    CASE WHEN q.over = 1 THEN '' ELSE 's' END,
                    idle_in_transaction_warning,
                    date_trunc('second', (q.top).idle_for),
                    (q.top).pid,
                    coalesce(nullif((q.top).application_name, ''), (q.top).user_name),
                    left(regexp_replace((q.top).last_query, '\s+', ' ', 'g'), 120)
                )
            END                                                          AS detail,
            CASE
                WHEN q.over > 0
                THEN format('SELECT pg_terminate_backend(%s);  -- and set idle_in_transaction_session_timeout', (q.top).pid)
            END                                                          AS remedy,
            seconds_warning                                              AS warning_level,
            seconds_critical                                             AS critical_level
        FROM (
            SELECT
                max(extract(epoch FROM i.idle_for))::double precision    AS longest,
                count(*) FILTER (WHERE i.idle_for > idle_in_transaction_warning) AS over,
                (array_agg(i ORDER BY i.idle_for DESC))[1]                AS top
            FROM palmdb.idle_in_transaction AS i
        ) AS q;
    END IF;

    -- blocked_queries: the longest lock wait of this database, in seconds.
    IF only_checks IS NULL OR 'blocked_queries' = ANY (only_checks) THEN
        seconds_warning := extract(epoch FROM blocked_warning);
        seconds_critical := extract(epoch FROM blocked_critical);
        RETURN QUERY
        SELECT
            'blocked_queries'                                            AS name,
            palmdb.health_level(q.longest, seconds_warning, seconds_critical) AS status,
            coalesce(q.longest, 0)                                       AS value,
            format('warning > %s, critical > %s', blocked_warning, blocked_critical)
                                                                         AS threshold,
            CASE
                WHEN q.over = 0 THEN format('no query waiting for a lock for more than %s', blocked_warning)
                ELSE format(
                    '%s quer%s waiting for a lock for more than %s; longest %s: pid %s (%s) blocked by pid %s (%s: %s)',
                    q.over,
                    CASE WHEN q.over = 1 THEN 'y' ELSE 'ies' END,
                    blocked_warning,
                    date_trunc('second', (q.top).waiting_for),
                    (q.top).blocked_pid,
                    left(regexp_replace((q.top).blocked_query, '\s+', ' ', 'g'), 80),
                    (q.top).blocking_pid,
                    (q.top).blocking_state,
                    left(regexp_replace((q.top).blocking_query, '\s+', ' ', 'g'), 80)
                )
            END                                                          AS detail,
            CASE
                WHEN q.over > 0
                THEN format('SELECT pg_terminate_backend(%s);  -- the blocker; see palmdb.blocked_queries', (q.top).blocking_pid)
            END                                                          AS remedy,
            seconds_warning                                              AS warning_level,
            seconds_critical                                             AS critical_level
        FROM (
            SELECT
                max(extract(epoch FROM b.waiting_for))::double precision AS longest,
                count(DISTINCT b.blocked_pid) FILTER (WHERE b.waiting_for > blocked_warning) AS over,
                (array_agg(b ORDER BY b.waiting_for DESC))[1]             AS top
            FROM palmdb.blocked_queries AS b
        ) AS q;
    END IF;

    -- cache_hit_tables / cache_hit_indexes: too few reads say nothing, so they are ok.
    IF only_checks IS NULL OR 'cache_hit_tables' = ANY (only_checks) OR 'cache_hit_indexes' = ANY (only_checks) THEN
        RETURN QUERY
        SELECT
            'cache_hit_' || h.kind                                       AS name,
            palmdb.health_level(h.judged, cache_hit_warning, cache_hit_critical, true)
                                                                         AS status,
            h.hit_ratio::double precision                                AS value,
            format('warning < %s, critical < %s (judged from %s block reads)', cache_hit_warning, cache_hit_critical, cache_min_blocks)
                                                                         AS threshold,
            CASE
                WHEN h.judged IS NULL THEN format(
                    'not enough data: %s block reads since statistics were reset, %s needed to judge',
                    h.blocks_hit + h.blocks_read,
                    cache_min_blocks
                )
                ELSE format('%s%% of %s block reads served from shared buffers', round(100 * h.hit_ratio, 2), h.blocks_hit + h.blocks_read)
            END                                                          AS detail,
            CASE
                WHEN palmdb.health_level(h.judged, cache_hit_warning, cache_hit_critical, true) <> 'ok'
                THEN 'SHOW shared_buffers;  -- raise shared_buffers (about 25% of RAM) or find the scans: SELECT * FROM palmdb.table_stats ORDER BY seq_scans DESC;'
            END                                                          AS remedy,
            cache_hit_warning                                            AS warning_level,
            cache_hit_critical                                           AS critical_level
        FROM (
            SELECT
                c.kind                                                   AS kind,
                c.hit_ratio                                              AS hit_ratio,
                c.blocks_hit                                             AS blocks_hit,
                c.blocks_read                                            AS blocks_read,
                CASE
                    WHEN c.blocks_hit + c.blocks_read >= cache_min_blocks THEN c.hit_ratio::double precision
                END                                                      AS judged
            FROM palmdb.cache_hit AS c
            WHERE only_checks IS NULL
                OR 'cache_hit_' || c.kind = ANY (only_checks)
        ) AS h;
    END IF;

    -- dead_tuples: the highest dead-row ratio among tables with enough dead rows to matter.
    IF only_checks IS NULL OR 'dead_tuples' = ANY (only_checks) THEN
        RETURN QUERY
        SELECT
            'dead_tuples'                                                AS name,
            palmdb.health_level(d.worst, dead_ratio_warning, dead_ratio_critical) AS status,
            coalesce(d.worst, 0)                                         AS value,
            format('warning > %s, critical > %s dead rows ratio (tables with at least %s dead rows)', dead_ratio_warning, dead_ratio_critical, dead_rows_min)
                                                                         AS threshold,
            CASE
                WHEN d.over = 0 THEN format('no table with more than %s%% dead rows', 100 * dead_ratio_warning)
                ELSE format(
                    '%s table%s over %s%% dead rows; worst %I.%I: %s dead of %s rows (autovacuum is %s)',
                    d.over,
                    CASE WHEN d.over = 1 THEN '' ELSE 's' END,
                    100 * dead_ratio_warning,
                    top.schema_name,
                    top.table_name,
                    top.dead_rows,
                    top.live_rows + top.dead_rows,
                    current_setting('autovacuum')
                )
            END                                                          AS detail,
            CASE
                WHEN d.over > 0
                THEN format('VACUUM (ANALYZE, VERBOSE) %I.%I;  -- or run palmdb maintain', top.schema_name, top.table_name)
            END                                                          AS remedy,
            dead_ratio_warning                                           AS warning_level,
            dead_ratio_critical                                          AS critical_level
        -- Only the columns needed: the size columns of table_stats lock each table, and a
        -- monitor must not queue behind an ALTER TABLE.
        FROM (
            SELECT
                max(ts.dead_ratio)::double precision                     AS worst,
                count(*) FILTER (WHERE ts.dead_ratio > dead_ratio_warning) AS over
            FROM palmdb.table_stats AS ts
            WHERE ts.dead_rows >= dead_rows_min
        ) AS d
        LEFT JOIN LATERAL (
            SELECT
                ts.schema_name                                           AS schema_name,
                ts.table_name                                            AS table_name,
                ts.dead_rows                                             AS dead_rows,
                ts.live_rows                                             AS live_rows
            FROM palmdb.table_stats AS ts
            WHERE ts.dead_rows >= dead_rows_min
            ORDER BY ts.dead_ratio DESC
            LIMIT 1
        ) AS top
            ON true;
    END IF;

    -- stale_statistics: the most rows changed since ANALYZE, relative to the table's size.
    IF only_checks IS NULL OR 'stale_statistics' = ANY (only_checks) THEN
        RETURN QUERY
        SELECT
            'stale_statistics'                                           AS name,
            palmdb.health_level(s.worst, stale_ratio_warning, NULL)      AS status,
            coalesce(s.worst, 0)                                         AS value,
            format('warning > %s of rows changed since ANALYZE (tables with at least %s changes)', stale_ratio_warning, stale_rows_min)
                                                                         AS threshold,
            CASE
                WHEN s.over = 0 THEN 'planner statistics are current on every table'
                ELSE format(
                    '%s table%s with stale planner statistics; worst %I.%I: %s rows changed, last analyzed %s',
                    s.over,
                    CASE WHEN s.over = 1 THEN '' ELSE 's' END,
                    top.schema_name,
                    top.table_name,
                    top.modified_since_analyze,
                    coalesce(date_trunc('second', top.last_analyze_any)::text, 'never')
                )
            END                                                          AS detail,
            CASE
                WHEN s.over > 0
                THEN format('ANALYZE %I.%I;  -- or run palmdb maintain', top.schema_name, top.table_name)
            END                                                          AS remedy,
            stale_ratio_warning                                          AS warning_level,
            NULL::double precision                                       AS critical_level
        FROM (
            SELECT
                max(r.stale_ratio)                                       AS worst,
                count(*) FILTER (WHERE r.stale_ratio > stale_ratio_warning) AS over
            FROM palmdb.table_stats AS ts
            CROSS JOIN LATERAL (
                SELECT ts.modified_since_analyze::double precision / greatest(ts.live_rows, 1) AS stale_ratio
            ) AS r
            WHERE ts.modified_since_analyze >= stale_rows_min
        ) AS s
        LEFT JOIN LATERAL (
            SELECT
                ts.schema_name                                           AS schema_name,
                ts.table_name                                            AS table_name,
                ts.modified_since_analyze                                AS modified_since_analyze,
                ts.last_analyze_any                                      AS last_analyze_any
            FROM palmdb.table_stats AS ts
            WHERE ts.modified_since_analyze >= stale_rows_min
            ORDER BY ts.modified_since_analyze::double precision / greatest(ts.live_rows, 1) DESC
            LIMIT 1
        ) AS top
            ON true;
    END IF;

    -- unused_indexes: how many large enough indexes were never scanned.
    IF only_checks IS NULL OR 'unused_indexes' = ANY (only_checks) THEN
        RETURN QUERY
        SELECT
            'unused_indexes'                                             AS name,
            palmdb.health_level(u.n, 0, NULL)                            AS status,
            u.n::double precision                                        AS value,
            format('warning > 0 (indexes of at least %s)', pg_size_pretty(unused_index_min_bytes))
                                                                         AS threshold,
            CASE
                WHEN u.n = 0 THEN format('every index of %s or more has been used since %s', pg_size_pretty(unused_index_min_bytes), coalesce(u.since::text, 'the statistics were reset'))
                ELSE format('%s index%s never scanned since %s: %s', u.n, CASE WHEN u.n = 1 THEN '' ELSE 'es' END, coalesce(date_trunc('second', u.since)::text, 'the statistics were reset'), u.names)
            END                                                          AS detail,
            CASE WHEN u.n > 0 THEN u.remedies END                        AS remedy,
            0::double precision                                          AS warning_level,
            NULL::double precision                                       AS critical_level
        FROM (
            SELECT
                count(*)                                                 AS n,
                min(x.stats_reset)                                       AS since,
                string_agg(format('%I.%I (%s)', x.schema_name, x.index_name, x.index_size), ', ' ORDER BY x.index_bytes DESC)
                                                                         AS names,
                string_agg(x.remedy, ' ' ORDER BY x.index_bytes DESC)    AS remedies
            FROM palmdb.unused_indexes AS x
            WHERE x.estimated_bytes >= unused_index_min_bytes
        ) AS u;
    END IF;

    -- duplicate_indexes / invalid_indexes / foreign_keys_without_index /
    -- tables_without_primary_key: counts of findings, any one is a warning.
    IF only_checks IS NULL OR 'duplicate_indexes' = ANY (only_checks) THEN
        RETURN QUERY
        SELECT
            'duplicate_indexes'                                          AS name,
            palmdb.health_level(f.n, 0, NULL)                            AS status,
            f.n::double precision                                        AS value,
            'warning > 0'                                                AS threshold,
            CASE
                WHEN f.n = 0 THEN 'no index is made redundant by another'
                ELSE format('%s redundant index%s: %s', f.n, CASE WHEN f.n = 1 THEN '' ELSE 'es' END, f.names)
            END                                                          AS detail,
            f.remedies                                                   AS remedy,
            0::double precision                                          AS warning_level,
            NULL::double precision                                       AS critical_level
        FROM (
            SELECT
                count(DISTINCT (x.schema_name, x.index_name))            AS n,
                string_agg(format('%I.%I (covered by %I)', x.schema_name, x.index_name, x.covered_by), ', ')
                                                                         AS names,
                string_agg(DISTINCT x.remedy, ' ')                       AS remedies
            FROM palmdb.duplicate_indexes AS x
        ) AS f;
    END IF;

    IF only_checks IS NULL OR 'invalid_indexes' = ANY (only_checks) THEN
        RETURN QUERY
        SELECT
            'invalid_indexes'                                            AS name,
            palmdb.health_level(f.n, 0, NULL)                            AS status,
            f.n::double precision                                        AS value,
            'warning > 0'                                                AS threshold,
            CASE
                WHEN f.n = 0 THEN 'every index is valid'
                ELSE format('%s INVALID index%s (never used by queries, still maintained on writes): %s', f.n, CASE WHEN f.n = 1 THEN '' ELSE 'es' END, f.names)
            END                                                          AS detail,
            f.remedies                                                   AS remedy,
            0::double precision                                          AS warning_level,
            NULL::double precision                                       AS critical_level
        FROM (
            SELECT
                count(*)                                                 AS n,
                string_agg(format('%I.%I', x.schema_name, x.index_name), ', ') AS names,
                string_agg(x.remedy, ' ')                                AS remedies
            FROM palmdb.invalid_indexes AS x
        ) AS f;
    END IF;

    IF only_checks IS NULL OR 'foreign_keys_without_index' = ANY (only_checks) THEN
        RETURN QUERY
        SELECT
            'foreign_keys_without_index'                                 AS name,
            palmdb.health_level(f.n, 0, NULL)                            AS status,
            f.n::double precision                                        AS value,
            'warning > 0'                                                AS threshold,
            CASE
                WHEN f.n = 0 THEN 'every foreign key has an index on its columns'
                ELSE format('%s foreign key%s without an index: %s', f.n, CASE WHEN f.n = 1 THEN '' ELSE 's' END, f.names)
            END                                                          AS detail,
            f.remedies                                                   AS remedy,
            0::double precision                                          AS warning_level,
            NULL::double precision                                       AS critical_level
        FROM (
            SELECT
                count(*)                                                 AS n,
                string_agg(format('%I.%I (%s)', x.schema_name, x.table_name, x.columns), ', ') AS names,
                string_agg(x.remedy, ' ')                                AS remedies
            FROM palmdb.foreign_keys_without_index AS x
        ) AS f;
    END IF;

    IF only_checks IS NULL OR 'tables_without_primary_key' = ANY (only_checks) THEN
        RETURN QUERY
        SELECT
            'tables_without_primary_key'                                 AS name,
            palmdb.health_level(f.n, 0, NULL)                            AS status,
            f.n::double precision                                        AS value,
            'warning > 0'                                                AS threshold,
            CASE
                WHEN f.n = 0 THEN 'every table has a primary key'
                ELSE format('%s table%s without a primary key: %s', f.n, CASE WHEN f.n = 1 THEN '' ELSE 's' END, f.names)
            END                                                          AS detail,
            f.remedies                                                   AS remedy,
            0::double precision                                          AS warning_level,
            NULL::double precision                                       AS critical_level
        FROM (
            SELECT
                count(*)                                                 AS n,
                string_agg(format('%I.%I', x.schema_name, x.table_name), ', ') AS names,
                string_agg(x.remedy, ' ')                                AS remedies
            FROM palmdb.tables_without_primary_key AS x
        ) AS f;
    END IF;

    -- xid_wraparound_database / xid_wraparound_tables: the oldest unfrozen transaction ID or
    -- multixact ID, whichever is older: both stop writes at 2^31, both are fixed by freezing.
    IF only_checks IS NULL OR 'xid_wraparound_database' = ANY (only_checks) THEN
        RETURN QUERY
        SELECT
            'xid_wraparound_database'                                    AS name,
            palmdb.health_level(x.age, xid_age_warning, xid_age_critical) AS status,
            x.age::double precision                                      AS value,
            format('warning > %s, critical > %s transactions or multixacts (the limit is 2147483648)', xid_age_warning, xid_age_critical)
                                                                         AS threshold,
            format('oldest database %s: transaction-ID age %s, multixact age %s (%s%% of the limit)', x.database_name, x.xid_age, x.multixact_age, round(100 * x.age / 2147483648.0, 2))
                                                                         AS detail,
            CASE
                WHEN palmdb.health_level(x.age, xid_age_warning, xid_age_critical) <> 'ok'
                THEN format('-- in database %s: SELECT * FROM palmdb.table_xid_age LIMIT 10; then VACUUM (FREEZE, VERBOSE) each table listed', x.database_name)
            END                                                          AS remedy,
            xid_age_warning::double precision                            AS warning_level,
            xid_age_critical::double precision                           AS critical_level
        FROM (
            SELECT
                d.database_name                                          AS database_name,
                d.xid_age                                                AS xid_age,
                d.multixact_age                                          AS multixact_age,
                greatest(d.xid_age, d.multixact_age)                     AS age
            FROM palmdb.database_xid_age AS d
            ORDER BY age DESC
            LIMIT 1
        ) AS x;
    END IF;

    IF only_checks IS NULL OR 'xid_wraparound_tables' = ANY (only_checks) THEN
        RETURN QUERY
        SELECT
            'xid_wraparound_tables'                                      AS name,
            palmdb.health_level(x.age, xid_age_warning, xid_age_critical) AS status,
            coalesce(x.age, 0)::double precision                         AS value,
            format('warning > %s, critical > %s transactions or multixacts (the limit is 2147483648)', xid_age_warning, xid_age_critical)
                                                                         AS threshold,
            format('oldest table %I.%I: transaction-ID age %s, multixact age %s', x.schema_name, x.table_name, x.xid_age, x.multixact_age)
                                                                         AS detail,
            CASE
                WHEN palmdb.health_level(x.age, xid_age_warning, xid_age_critical) <> 'ok'
                THEN x.remedy
            END                                                          AS remedy,
            xid_age_warning::double precision                            AS warning_level,
            xid_age_critical::double precision                           AS critical_level
        FROM (SELECT 1) AS one
        LEFT JOIN LATERAL (
            SELECT
                t.schema_name                                            AS schema_name,
                t.table_name                                             AS table_name,
                t.xid_age                                                AS xid_age,
                t.multixact_age                                          AS multixact_age,
                greatest(t.xid_age, t.multixact_age)                     AS age,
                t.remedy                                                 AS remedy
            FROM palmdb.table_xid_age AS t
            ORDER BY age DESC
            LIMIT 1
        ) AS x
            ON true;
    END IF;

    -- sequence_exhaustion / serial_column_exhaustion: the fullest sequence or column.
    IF only_checks IS NULL OR 'sequence_exhaustion' = ANY (only_checks) THEN
        RETURN QUERY
        SELECT
            'sequence_exhaustion'                                        AS name,
            palmdb.health_level(s.used_ratio, sequence_warning, sequence_critical) AS status,
            coalesce(s.used_ratio, 0)::double precision                  AS value,
            format('warning > %s, critical > %s of the sequence''s range', sequence_warning, sequence_critical)
                                                                         AS threshold,
            CASE
                WHEN s.sequence_name IS NULL THEN 'no sequence has been used yet'
                ELSE format('fullest sequence %I.%I (%s): %s of %s (%s%%)', s.schema_name, s.sequence_name, s.data_type, s.last_value, s.max_value, round(100 * s.used_ratio, 2))
            END                                                          AS detail,
            CASE
                WHEN palmdb.health_level(s.used_ratio, sequence_warning, sequence_critical) <> 'ok'
                THEN format('ALTER SEQUENCE %I.%I AS bigint MAXVALUE 9223372036854775807;  -- and widen the columns it feeds', s.schema_name, s.sequence_name)
            END                                                          AS remedy,
            sequence_warning                                             AS warning_level,
            sequence_critical                                            AS critical_level
        FROM (SELECT 1) AS one
        LEFT JOIN LATERAL (
            SELECT u.*
            FROM palmdb.sequence_usage() AS u
            ORDER BY u.used_ratio DESC
            LIMIT 1
        ) AS s
            ON true;
    END IF;

    IF only_checks IS NULL OR 'serial_column_exhaustion' = ANY (only_checks) THEN
        RETURN QUERY
        SELECT
            'serial_column_exhaustion'                                   AS name,
            palmdb.health_level(s.used_ratio, sequence_warning, sequence_critical) AS status,
            coalesce(s.used_ratio, 0)::double precision                  AS value,
            format('warning > %s, critical > %s of the column type''s range', sequence_warning, sequence_critical)
                                                                         AS threshold,
            CASE
                WHEN s.column_name IS NULL THEN 'no smallint or integer serial/identity column has been used yet'
                ELSE format('fullest column %I.%I.%I (%s): %s of %s (%s%%)', s.schema_name, s.table_name, s.column_name, s.column_type, s.last_value, s.max_value, round(100 * s.used_ratio, 2))
            END                                                          AS detail,
            CASE
                WHEN palmdb.health_level(s.used_ratio, sequence_warning, sequence_critical) <> 'ok'
                THEN format('ALTER TABLE %I.%I ALTER COLUMN %I TYPE bigint;  -- rewrites the table: plan a window', s.schema_name, s.table_name, s.column_name)
            END                                                          AS remedy,
            sequence_warning                                             AS warning_level,
            sequence_critical                                            AS critical_level
        FROM (SELECT 1) AS one
        LEFT JOIN LATERAL (
            SELECT u.*
            FROM palmdb.serial_column_usage() AS u
            ORDER BY u.used_ratio DESC
            LIMIT 1
        ) AS s
            ON true;
    END IF;

    -- replication_lag: the most-lagging standby (or this standby), in seconds.
    IF only_checks IS NULL OR 'replication_lag' = ANY (only_checks) THEN
        seconds_warning := extract(epoch FROM replication_lag_warning);
        seconds_critical := extract(epoch FROM replication_lag_critical);
        RETURN QUERY
        SELECT
            'replication_lag'                                            AS name,
            palmdb.health_level(r.longest, seconds_warning, seconds_critical) AS status,
            coalesce(r.longest, 0)                                       AS value,
            format('warning > %s, critical > %s', replication_lag_warning, replication_lag_critical)
                                                                         AS threshold,
            CASE
                WHEN r.n = 0 THEN 'no replication: this server is a primary without connected standbys'
                ELSE format('%s replication link%s; most lagging %s: %s behind (%s bytes)', r.n, CASE WHEN r.n = 1 THEN '' ELSE 's' END, coalesce(nullif((r.top).standby_name, ''), (r.top).role), (r.top).lag, (r.top).lag_bytes)
            END                                                          AS detail,
            CASE
                WHEN palmdb.health_level(r.longest, seconds_warning, seconds_critical) <> 'ok'
                THEN 'SELECT * FROM palmdb.replication_lag;  -- check the standby''s network, disk and replay conflicts'
            END                                                          AS remedy,
            seconds_warning                                              AS warning_level,
            seconds_critical                                             AS critical_level
        FROM (
            SELECT
                count(*)                                                 AS n,
                max(extract(epoch FROM l.lag))::double precision         AS longest,
                (array_agg(l ORDER BY l.lag DESC))[1]                    AS top
            FROM palmdb.replication_lag AS l
        ) AS r;
    END IF;

    -- inactive_replication_slots: slots nobody consumes; critical once one holds back too much WAL.
    IF only_checks IS NULL OR 'inactive_replication_slots' = ANY (only_checks) THEN
        RETURN QUERY
        SELECT
            'inactive_replication_slots'                                 AS name,
            CASE
                WHEN s.n = 0 THEN 'ok'
                WHEN s.most_wal > slot_wal_critical_bytes THEN 'critical'
                ELSE 'warning'
            END                                                          AS status,
            s.n::double precision                                        AS value,
            format('warning > 0, critical when one retains more than %s of WAL', pg_size_pretty(slot_wal_critical_bytes))
                                                                         AS threshold,
            CASE
                WHEN s.n = 0 THEN 'no inactive replication slot'
                ELSE format('%s inactive slot%s retaining up to %s of WAL: %s', s.n, CASE WHEN s.n = 1 THEN '' ELSE 's' END, pg_size_pretty(s.most_wal), s.names)
            END                                                          AS detail,
            s.remedies                                                   AS remedy,
            0::double precision                                          AS warning_level,
            NULL::double precision                                       AS critical_level
        FROM (
            SELECT
                count(*)                                                 AS n,
                coalesce(max(x.retained_wal_bytes), 0)                   AS most_wal,
                string_agg(x.slot_name, ', ')                            AS names,
                string_agg(x.remedy, ' ')                                AS remedies
            FROM palmdb.replication_slots AS x
            WHERE NOT x.active
        ) AS s;
    END IF;

    -- slow_queries: needs pg_stat_statements; without it the check says so and stays ok.
    IF only_checks IS NULL OR 'slow_queries' = ANY (only_checks) THEN
        pss_state := palmdb.pg_stat_statements_state();
        IF pss_state <> 'ready' THEN
            RETURN QUERY
            SELECT
                'slow_queries'                                           AS name,
                'ok'                                                     AS status,
                NULL::double precision                                   AS value,
                format('warning > 0 statements with mean time over %s and at least %s calls', slow_query_mean, slow_query_calls)
                                                                         AS threshold,
                CASE pss_state
                    WHEN 'not installed' THEN 'not checked: the pg_stat_statements extension is not installed in this database'
                    ELSE 'not checked: pg_stat_statements is installed but not in shared_preload_libraries'
                END                                                      AS detail,
                CASE pss_state
                    WHEN 'not installed' THEN 'CREATE EXTENSION pg_stat_statements;  -- needs shared_preload_libraries = ''pg_stat_statements'' and a restart'
                    ELSE 'ALTER SYSTEM SET shared_preload_libraries = ''pg_stat_statements'';  -- then restart PostgreSQL'
                END                                                      AS remedy,
                0::double precision                                      AS warning_level,
                NULL::double precision                                   AS critical_level;
        ELSE
            RETURN QUERY
            SELECT
                'slow_queries'                                           AS name,
                palmdb.health_level(q.n, 0, NULL)                        AS status,
                q.n::double precision                                    AS value,
                format('warning > 0 statements with mean time over %s and at least %s calls', slow_query_mean, slow_query_calls)
                                                                         AS threshold,
                CASE
                    WHEN q.n = 0 THEN format('no statement averages more than %s', slow_query_mean)
                    ELSE format('%s slow statement%s; worst %s ms on average over %s calls: %s', q.n, CASE WHEN q.n = 1 THEN '' ELSE 's' END, (q.top).mean_time_ms, (q.top).calls, left(regexp_replace((q.top).query, '\s+', ' ', 'g'), 120))
                END                                                      AS detail,
                CASE
                    WHEN q.n > 0 THEN 'SELECT * FROM palmdb.slow_queries();  -- then EXPLAIN (ANALYZE, BUFFERS) the worst one'
                END                                                      AS remedy,
                0::double precision                                      AS warning_level,
                NULL::double precision                                   AS critical_level
            FROM (
                SELECT
                    count(*)                                             AS n,
                    (array_agg(x ORDER BY x.mean_time_ms DESC))[1]       AS top
                FROM palmdb.slow_queries(slow_query_mean, slow_query_calls) AS x
            ) AS q;
        END IF;
    END IF;
END
$$;

COMMENT ON FUNCTION palmdb.checks IS
    'Every health check: name, status (ok|warning|critical), value, threshold, detail, remedy';

GRANT EXECUTE ON FUNCTION palmdb.checks TO pg_monitor;
