-- Tables that need VACUUM (ANALYZE) because too many of their rows are dead, or ANALYZE
-- because too many rows changed since their statistics were gathered (a never-analyzed table
-- counts every row it holds). `palmdb maintain` runs the statement column, one table at a time,
-- for the tables it is allowed to maintain.

-- Dropped first: CREATE OR REPLACE cannot change the columns or parameters it returns
-- and takes, and nothing depends on it but callers.
DROP FUNCTION IF EXISTS palmdb.maintenance_candidates;

CREATE OR REPLACE FUNCTION palmdb.maintenance_candidates(
    dead_ratio_min double precision DEFAULT 0.2,
    dead_rows_min bigint DEFAULT 1000,
    stale_ratio_min double precision DEFAULT 0.2,
    stale_rows_min bigint DEFAULT 1000
)
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
AS $$
    SELECT
        s.schemaname                                                AS schema_name,
        s.relname                                                   AS table_name,
        CASE WHEN needs.vacuum THEN 'VACUUM (ANALYZE)' ELSE 'ANALYZE' END
                                                                    AS action,
        CASE
            WHEN needs.vacuum THEN format(
                '%s dead rows (%s%% of %s)',
                s.n_dead_tup,
                round((100 * needs.dead_ratio)::numeric, 1),
                s.n_live_tup + s.n_dead_tup
            )
            ELSE format(
                '%s rows changed since %s',
                s.n_mod_since_analyze,
                coalesce(date_trunc('second', greatest(s.last_analyze, s.last_autoanalyze))::text, 'never analyzed')
            )
        END                                                         AS reason,
        format(
            '%s %I.%I',
            CASE WHEN needs.vacuum THEN 'VACUUM (ANALYZE)' ELSE 'ANALYZE' END,
            s.schemaname,
            s.relname
        )                                                           AS statement,
        -- VACUUM and ANALYZE skip, with only a WARNING, tables the role does not own.
        pg_has_role(c.relowner, 'MEMBER')                           AS allowed
    FROM pg_stat_user_tables AS s
    JOIN pg_class AS c
        ON c.oid = s.relid
    CROSS JOIN LATERAL (
        SELECT
            s.n_dead_tup::double precision / nullif(s.n_live_tup + s.n_dead_tup, 0)
                                                                    AS dead_ratio,
            s.n_mod_since_analyze::double precision / greatest(s.n_live_tup, 1)
                                                                    AS stale_ratio
    ) AS ratios
    CROSS JOIN LATERAL (
        SELECT
            s.n_dead_tup >= dead_rows_min AND ratios.dead_ratio >= dead_ratio_min
                                                                    AS vacuum,
            s.n_mod_since_analyze >= stale_rows_min AND ratios.stale_ratio >= stale_ratio_min
                                                                    AS analyze,
            ratios.dead_ratio                                       AS dead_ratio
    ) AS needs
    WHERE needs.vacuum
        OR needs.analyze
    ORDER BY needs.vacuum DESC, s.n_dead_tup DESC, s.n_mod_since_analyze DESC, schema_name, table_name
$$;

COMMENT ON FUNCTION palmdb.maintenance_candidates(double precision, bigint, double precision, bigint) IS
    'Tables whose dead rows or changes since ANALYZE cross the thresholds, with the statement to run';

GRANT EXECUTE ON FUNCTION palmdb.maintenance_candidates(double precision, bigint, double precision, bigint) TO pg_monitor;
