-- Tables that need VACUUM (ANALYZE) because too many of their rows are dead, or ANALYZE
-- because too many rows changed since their statistics were gathered (a never-analyzed table
-- counts every row it holds). `palmdb maintain` runs the statement column, one table at a time,
-- for the tables it is allowed to maintain.
--
-- Which tables need it is palmdb.table_upkeep(), the rule the dead_tuples and
-- stale_statistics checks judge: maintain fixes what health warns about. The thresholds are
-- those of palmdb.health_thresholds (dead_ratio_warning, dead_rows_min, stale_ratio_warning,
-- stale_rows_min), overridden per run by the JSON argument:
--     SELECT * FROM palmdb.maintenance_candidates('{"dead_rows_min": 100}');

-- Dropped first: CREATE OR REPLACE cannot change the columns or parameters it returns
-- and takes, and nothing depends on it but callers.
DROP FUNCTION IF EXISTS palmdb.maintenance_candidates;

CREATE OR REPLACE FUNCTION palmdb.maintenance_candidates(thresholds jsonb DEFAULT '{}')
RETURNS TABLE (
    schema_name  name,
    table_name   name,
    action       text,
    reason       text,
    statement    text,
    allowed      boolean
)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT
        u.schema_name                                               AS schema_name,
        u.table_name                                                AS table_name,
        CASE WHEN u.needs_vacuum THEN 'VACUUM (ANALYZE)' ELSE 'ANALYZE' END
                                                                    AS action,
        CASE
            WHEN u.needs_vacuum THEN format(
                '%s dead rows (%s%% of %s)',
                u.dead_rows,
                round(100 * u.dead_ratio, 1),
                u.live_rows + u.dead_rows
            )
            ELSE format(
                '%s rows changed since %s',
                u.modified_since_analyze,
                coalesce(date_trunc('second', u.last_analyze_any)::text, 'never analyzed')
            )
        END                                                         AS reason,
        format(
            '%s %I.%I',
            CASE WHEN u.needs_vacuum THEN 'VACUUM (ANALYZE)' ELSE 'ANALYZE' END,
            u.schema_name,
            u.table_name
        )                                                           AS statement,
        -- VACUUM and ANALYZE skip, with only a WARNING, tables the role does not own.
        pg_has_role(c.relowner, 'MEMBER')                           AS allowed
    FROM palmdb.table_upkeep(thresholds) AS u
    JOIN pg_class AS c
        ON c.oid = u.table_oid
    WHERE u.needs_vacuum
        OR u.needs_analyze
    ORDER BY u.needs_vacuum DESC, u.dead_rows DESC, u.modified_since_analyze DESC, schema_name, table_name
$$;

COMMENT ON FUNCTION palmdb.maintenance_candidates(jsonb) IS
    'Tables whose dead rows or changes since ANALYZE cross the thresholds, with the statement to run';

GRANT EXECUTE ON FUNCTION palmdb.maintenance_candidates(jsonb) TO pg_monitor;
