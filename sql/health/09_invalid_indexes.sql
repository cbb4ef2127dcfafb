-- Indexes marked INVALID, and what to do about each: the one definition that the
-- invalid_indexes check reports and `palmdb migrate` repairs (src/health/invalid_indexes.rs
-- reads the query below from this file, because migrate must work before this view exists).
--
-- An index is INVALID while a CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY builds it,
-- and stays so when the build fails. The planner never uses one, yet every write still pays
-- to maintain it. Three cases:
--   being built    a concurrent build or reindex is running on its table now (seen in
--                  pg_stat_progress_create_index): leave it alone, it may become valid;
--   leftover       the _ccnew / _ccold copy a failed REINDEX CONCURRENTLY leaves behind,
--                  a duplicate of a valid index: drop it;
--   failed build   anything else: rebuild it.
-- Keep the query free of semicolons at the end of a line: the reader takes the view's query
-- up to the first one.

CREATE OR REPLACE VIEW palmdb.invalid_indexes AS
SELECT
    n.nspname                                      AS schema_name,
    t.relname                                      AS table_name,
    ic.relname                                     AS index_name,
    pg_get_indexdef(i.indexrelid)                  AS index_definition,
    pg_relation_size(i.indexrelid)                 AS index_bytes,
    CASE state.problem
        WHEN 'being built' THEN format('-- a concurrent %s is running on %I.%I (pid %s): wait for it to finish', build.command, n.nspname, t.relname, build.pid)
        WHEN 'leftover' THEN format('DROP INDEX CONCURRENTLY %I.%I;', n.nspname, ic.relname)
        ELSE format('REINDEX INDEX CONCURRENTLY %I.%I;', n.nspname, ic.relname)
    END                                            AS remedy,
    state.problem                                  AS problem,
    i.indexrelid                                   AS index_oid
FROM pg_index AS i
JOIN pg_class AS ic
    ON ic.oid = i.indexrelid
JOIN pg_class AS t
    ON t.oid = i.indrelid
JOIN pg_namespace AS n
    ON n.oid = ic.relnamespace
-- Which index a REINDEX CONCURRENTLY reports differs between its phases, so any concurrent
-- build on the same table (of this database: OIDs repeat across databases) protects them all.
LEFT JOIN LATERAL (
    SELECT
        p.pid                                      AS pid,
        p.command                                  AS command
    FROM pg_stat_progress_create_index AS p
    WHERE p.relid = i.indrelid
        AND p.datname = current_database()
        AND p.command IN ('CREATE INDEX CONCURRENTLY', 'REINDEX CONCURRENTLY')
    ORDER BY p.pid
    LIMIT 1
) AS build
    ON true
CROSS JOIN LATERAL (
    SELECT
        CASE
            WHEN build.pid IS NOT NULL THEN 'being built'
            -- REINDEX CONCURRENTLY names its copies <index>_ccnew[N] and <index>_ccold[N].
            WHEN ic.relname ~ '_cc(new|old)[0-9]*$' THEN 'leftover'
            ELSE 'failed build'
        END                                        AS problem
) AS state
WHERE NOT i.indisvalid
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\_temp\_%'
    AND n.nspname NOT LIKE 'pg\_toast\_temp\_%'
ORDER BY schema_name, table_name, index_name;

COMMENT ON VIEW palmdb.invalid_indexes IS
    'INVALID indexes: being built (wait), REINDEX CONCURRENTLY leftovers (drop) or failed builds (rebuild)';

GRANT SELECT ON palmdb.invalid_indexes TO pg_monitor;

-- invalid_indexes: how many INVALID indexes need repair; any one is a warning. Builds in
-- progress are named in the detail but not counted: they are not a problem (yet).
CREATE OR REPLACE FUNCTION palmdb.check_invalid_indexes(thresholds jsonb DEFAULT '{}')
RETURNS SETOF palmdb.health_check
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.*
    FROM (
        SELECT
            count(*) FILTER (WHERE x.problem <> 'being built')            AS n,
            string_agg(format('%I.%I', x.schema_name, x.index_name), ', ')
                FILTER (WHERE x.problem <> 'being built')                 AS names,
            string_agg(x.remedy, ' ') FILTER (WHERE x.problem <> 'being built')
                                                                          AS remedies,
            string_agg(format('%I.%I', x.schema_name, x.index_name), ', ')
                FILTER (WHERE x.problem = 'being built')                  AS building
        FROM palmdb.invalid_indexes AS x
    ) AS f
    CROSS JOIN LATERAL palmdb.health_row(
        check_name     => 'invalid_indexes',
        value          => f.n::double precision,
        warning_level  => 0,
        critical_level => NULL,
        threshold      => 'warning > 0',
        detail         => concat(
            CASE
                WHEN f.n = 0 AND f.building IS NULL THEN 'every index is valid'
                WHEN f.n = 0 THEN 'no INVALID index needs repair'
                ELSE format('%s INVALID index%s (never used by queries, still maintained on writes): %s', f.n, CASE WHEN f.n = 1 THEN '' ELSE 'es' END, f.names)
            END,
            CASE
                WHEN f.building IS NOT NULL THEN format('; being built concurrently (not counted): %s', f.building)
            END
        ),
        remedy         => f.remedies
    ) AS r
    -- Takes no threshold; validated all the same, so that a typo is refused everywhere.
    CROSS JOIN palmdb.health_settings(thresholds) AS validated
$$;

COMMENT ON FUNCTION palmdb.check_invalid_indexes(jsonb) IS
    'INVALID indexes left by failed concurrent builds';

GRANT EXECUTE ON FUNCTION palmdb.check_invalid_indexes(jsonb) TO pg_monitor;
