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

-- unused_indexes: how many large enough indexes were never scanned.
CREATE OR REPLACE FUNCTION palmdb.check_unused_indexes(thresholds jsonb DEFAULT '{}')
RETURNS SETOF palmdb.health_check
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.*
    FROM (
        SELECT
            (x.s ->> 'unused_index_min_bytes')::bigint                    AS min_bytes
        FROM palmdb.health_settings(thresholds) AS x (s)
    ) AS t
    CROSS JOIN LATERAL (
        SELECT
            count(*)                                                      AS n,
            min(x.stats_reset)                                            AS since,
            string_agg(format('%I.%I (%s)', x.schema_name, x.index_name, x.index_size), ', ' ORDER BY x.index_bytes DESC)
                                                                          AS names,
            string_agg(x.remedy, ' ' ORDER BY x.index_bytes DESC)         AS remedies
        FROM palmdb.unused_indexes AS x
        WHERE x.estimated_bytes >= t.min_bytes
    ) AS u
    CROSS JOIN LATERAL palmdb.health_row(
        check_name     => 'unused_indexes',
        value          => u.n::double precision,
        warning_level  => 0,
        critical_level => NULL,
        threshold      => format('warning > 0 (indexes of at least %s)', pg_size_pretty(t.min_bytes)),
        detail         => CASE
            WHEN u.n = 0 THEN format('every index of %s or more has been used since %s', pg_size_pretty(t.min_bytes), coalesce(u.since::text, 'the statistics were reset'))
            ELSE format('%s index%s never scanned since %s: %s', u.n, CASE WHEN u.n = 1 THEN '' ELSE 'es' END, coalesce(date_trunc('second', u.since)::text, 'the statistics were reset'), u.names)
        END,
        remedy         => u.remedies
    ) AS r
$$;

COMMENT ON FUNCTION palmdb.check_unused_indexes(jsonb) IS
    'large indexes never scanned';

GRANT EXECUTE ON FUNCTION palmdb.check_unused_indexes(jsonb) TO pg_monitor;
