-- Indexes never used by a query since the statistics were last reset. Indexes that enforce
-- something (primary key, unique, exclusion) are left out: dropping them changes behaviour.
-- A young index or a recent stats reset also shows 0 scans, hence stats_reset in the output.
-- estimated_bytes (pg_class.relpages, as of the last VACUUM, ANALYZE or CREATE INDEX) costs
-- nothing to read; index_bytes asks the file system, which adds up over thousands of indexes,
-- so filter on the estimate first.

CREATE OR REPLACE VIEW palmdb.unused_indexes AS
SELECT
    s.schemaname                                   AS schema_name,
    s.relname                                      AS table_name,
    s.indexrelname                                 AS index_name,
    s.idx_scan                                     AS index_scans,
    pg_relation_size(s.indexrelid)                 AS index_bytes,
    pg_size_pretty(pg_relation_size(s.indexrelid)) AS index_size,
    d.stats_reset                                  AS stats_reset,
    format('DROP INDEX CONCURRENTLY %I.%I;', s.schemaname, s.indexrelname)
                                                   AS remedy,
    ic.relpages::bigint * current_setting('block_size')::bigint
                                                   AS estimated_bytes
FROM pg_stat_user_indexes AS s
JOIN pg_index AS i
    ON i.indexrelid = s.indexrelid
JOIN pg_class AS ic
    ON ic.oid = s.indexrelid
CROSS JOIN (
    SELECT db.stats_reset
    FROM pg_stat_database AS db
    WHERE db.datname = current_database()
) AS d
WHERE s.idx_scan = 0
    AND NOT i.indisunique
    AND NOT i.indisprimary
    -- An index backing a constraint (e.g. EXCLUDE) is in use by definition.
    AND NOT EXISTS (
        SELECT 1
        FROM pg_constraint AS con
        WHERE con.conindid = s.indexrelid
    )
ORDER BY index_bytes DESC, schema_name, index_name;

COMMENT ON VIEW palmdb.unused_indexes IS
    'Non-unique indexes with no scans since the statistics were reset, largest first';

GRANT SELECT ON palmdb.unused_indexes TO pg_monitor;
