-- Per-table statistics: live and dead rows, when the table was last vacuumed and analyzed,
-- its sizes, and how it is read (sequential vs index scans). Every user table of the current
-- database, palmdb's own included. Readable by pg_monitor (pg_stat_user_tables and the
-- size functions need no privilege on the table itself).

GRANT USAGE ON SCHEMA palmdb TO pg_monitor;

CREATE OR REPLACE VIEW palmdb.table_stats AS
SELECT
    s.schemaname                                              AS schema_name,
    s.relname                                                 AS table_name,
    s.n_live_tup                                              AS live_rows,
    s.n_dead_tup                                              AS dead_rows,
    round(s.n_dead_tup::numeric / nullif(s.n_live_tup + s.n_dead_tup, 0), 4)
                                                              AS dead_ratio,
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
