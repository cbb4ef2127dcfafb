-- Per-table statistics: live and dead rows, when the table was last vacuumed and analyzed,
-- its sizes, and how it is read (sequential vs index scans). Every user table of the current
-- database, palmdb's own included. Readable by pg_monitor (pg_stat_user_tables and the
-- size functions need no privilege on the table itself).

GRANT USAGE ON SCHEMA palmdb TO pg_monitor;

-- The dead-row ratio as every reader sees it (table_stats, the dead_tuples check and palmdb
-- maintain): dead rows over all rows, to four decimals. Judged as shown.
CREATE OR REPLACE FUNCTION palmdb.dead_ratio(dead_rows bigint, live_rows bigint)
RETURNS numeric
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT round(dead_rows::numeric / nullif(live_rows + dead_rows, 0), 4)
$$;

-- Rows changed since the last ANALYZE relative to the table's rows; a never-analyzed table
-- counts every row it holds, and an empty one counts as one row.
CREATE OR REPLACE FUNCTION palmdb.stale_ratio(modified_since_analyze bigint, live_rows bigint)
RETURNS double precision
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT modified_since_analyze::double precision / greatest(live_rows, 1)
$$;

CREATE OR REPLACE VIEW palmdb.table_stats AS
SELECT
    s.schemaname                                              AS schema_name,
    s.relname                                                 AS table_name,
    s.n_live_tup                                              AS live_rows,
    s.n_dead_tup                                              AS dead_rows,
    palmdb.dead_ratio(s.n_dead_tup, s.n_live_tup)             AS dead_ratio,
    s.n_mod_since_analyze                                     AS modified_since_analyze,
    greatest(s.last_vacuum, s.last_autovacuum)                AS last_vacuum_any,
    s.last_vacuum                                             AS last_vacuum,
    s.last_autovacuum                                         AS last_autovacuum,
    greatest(s.last_analyze, s.last_autoanalyze)              AS last_analyze_any,
    s.last_analyze                                            AS last_analyze,
    s.last_autoanalyze                                        AS last_autoanalyze,
    pg_relation_size(s.relid)                                 AS table_bytes,
    pg_indexes_size(s.relid)                                  AS index_bytes,
    coalesce(pg_total_relation_size(c.reltoastrelid), 0)      AS toast_bytes,
    pg_total_relation_size(s.relid)                           AS total_bytes,
    s.seq_scan                                                AS seq_scans,
    coalesce(s.idx_scan, 0)                                   AS index_scans,
    round(coalesce(s.idx_scan, 0)::numeric / nullif(s.seq_scan + coalesce(s.idx_scan, 0), 0), 4)
                                                              AS index_scan_ratio,
    s.relid                                                   AS table_oid
FROM pg_stat_user_tables AS s
JOIN pg_class AS c
    ON c.oid = s.relid;

COMMENT ON VIEW palmdb.table_stats IS
    'Per-table rows, dead rows, vacuum/analyze times, sizes and scan counts (current database)';

GRANT SELECT ON palmdb.table_stats TO pg_monitor;

-- When a table needs VACUUM or ANALYZE: the one rule that the dead_tuples and
-- stale_statistics checks judge and `palmdb maintain` acts on. A table is judged once it has
-- at least dead_rows_min dead rows (stale_rows_min changed rows), and needs maintenance when
-- its ratio is strictly beyond the warning level, as every health threshold is crossed.
-- Reads the statistics only (no size functions): a monitor must not queue behind a lock.
CREATE OR REPLACE FUNCTION palmdb.table_upkeep(thresholds jsonb DEFAULT '{}')
RETURNS TABLE (
    schema_name             name,
    table_name              name,
    table_oid               oid,
    live_rows               bigint,
    dead_rows               bigint,
    dead_ratio              numeric,
    dead_judged             boolean,
    needs_vacuum            boolean,
    modified_since_analyze  bigint,
    last_analyze_any        timestamptz,
    stale_ratio             double precision,
    stale_judged            boolean,
    needs_analyze           boolean
)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT
        s.schemaname                                              AS schema_name,
        s.relname                                                 AS table_name,
        s.relid                                                   AS table_oid,
        s.n_live_tup                                              AS live_rows,
        s.n_dead_tup                                              AS dead_rows,
        r.dead_ratio                                              AS dead_ratio,
        s.n_dead_tup >= t.dead_rows_min                           AS dead_judged,
        s.n_dead_tup >= t.dead_rows_min
            AND r.dead_ratio > t.dead_ratio_warning               AS needs_vacuum,
        s.n_mod_since_analyze                                     AS modified_since_analyze,
        greatest(s.last_analyze, s.last_autoanalyze)              AS last_analyze_any,
        r.stale_ratio                                             AS stale_ratio,
        s.n_mod_since_analyze >= t.stale_rows_min                 AS stale_judged,
        s.n_mod_since_analyze >= t.stale_rows_min
            AND r.stale_ratio > t.stale_ratio_warning             AS needs_analyze
    FROM (
        SELECT
            (x.s ->> 'dead_ratio_warning')::double precision      AS dead_ratio_warning,
            (x.s ->> 'dead_rows_min')::bigint                     AS dead_rows_min,
            (x.s ->> 'stale_ratio_warning')::double precision     AS stale_ratio_warning,
            (x.s ->> 'stale_rows_min')::bigint                    AS stale_rows_min
        FROM palmdb.health_settings(thresholds) AS x (s)
    ) AS t
    CROSS JOIN pg_stat_user_tables AS s
    CROSS JOIN LATERAL (
        SELECT
            palmdb.dead_ratio(s.n_dead_tup, s.n_live_tup)         AS dead_ratio,
            palmdb.stale_ratio(s.n_mod_since_analyze, s.n_live_tup)
                                                                  AS stale_ratio
    ) AS r
$$;

COMMENT ON FUNCTION palmdb.table_upkeep(jsonb) IS
    'Per table: dead-row and stale-statistics ratios, and whether VACUUM or ANALYZE is needed (the thresholds'' rule)';

GRANT EXECUTE ON FUNCTION palmdb.dead_ratio(bigint, bigint) TO pg_monitor;
GRANT EXECUTE ON FUNCTION palmdb.stale_ratio(bigint, bigint) TO pg_monitor;
GRANT EXECUTE ON FUNCTION palmdb.table_upkeep(jsonb) TO pg_monitor;
