-- The statements that cost this database the most, from pg_stat_statements: `palmdb queries`
-- and `palmdb advise` read them here, so psql shows exactly what the CLI shows.
-- pg_stat_statements is cluster-wide; only the current database's statements are returned
-- (filtered by dbid), summed over the roles that ran them. Without the extension the function
-- raises one error saying what is missing and how to fix it, instead of returning nothing
-- (an empty list would read as "no slow queries"). It is read with dynamic SQL because the
-- view may not exist when this file is applied. palmdb.pg_stat_statements_state() is the
-- health check's reading of the same question (sql/health).

-- Dropped first: CREATE OR REPLACE cannot change the columns a function returns.
DROP FUNCTION IF EXISTS palmdb.top_queries;

CREATE OR REPLACE FUNCTION palmdb.top_queries(
    order_by text DEFAULT 'total',
    max_rows integer DEFAULT 20
)
RETURNS TABLE (
    query_id        bigint,
    calls           bigint,
    total_time_ms   numeric,
    mean_time_ms    numeric,
    rows            bigint,
    cache_hit_ratio numeric,
    share_of_total  numeric,
    query           text
)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    state text;
    schema_name name;
    sort_key text;
BEGIN
    sort_key := CASE top_queries.order_by
        WHEN 'total' THEN 'total_time_ms DESC'
        WHEN 'mean' THEN 'mean_time_ms DESC'
        WHEN 'calls' THEN 'calls DESC'
    END;
    IF sort_key IS NULL THEN
        RAISE EXCEPTION 'cannot order statements by "%"', coalesce(top_queries.order_by, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'order by total, mean or calls';
    END IF;
    IF top_queries.max_rows IS NULL OR top_queries.max_rows NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'cannot return % statements', coalesce(top_queries.max_rows::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'ask for 1 to 1000 statements';
    END IF;

    state := palmdb.pg_stat_statements_state();
    IF state = 'not installed' THEN
        RAISE EXCEPTION 'pg_stat_statements is not installed in database %', current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'run CREATE EXTENSION pg_stat_statements; in this database (it also needs shared_preload_libraries = ''pg_stat_statements'')';
    ELSIF state = 'not loaded' THEN
        RAISE EXCEPTION 'pg_stat_statements is installed but not loaded by the server'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'add pg_stat_statements to shared_preload_libraries in postgresql.conf and restart PostgreSQL';
    END IF;

    SELECT n.nspname
    INTO schema_name
    FROM pg_extension AS e
    JOIN pg_namespace AS n
        ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_stat_statements';

    -- One statement run by several roles is one row per role in the view; a DBA asks about
    -- the statement, so the figures are summed per queryid. Times are execution times
    -- (total_exec_time exists from PostgreSQL 13 on).
    RETURN QUERY EXECUTE format(
        'WITH per_statement AS (
             SELECT
                 s.queryid                                     AS query_id,
                 sum(s.calls)::bigint                          AS calls,
                 sum(s.total_exec_time)                        AS total_time,
                 sum(s.rows)::bigint                           AS rows,
                 sum(s.shared_blks_hit)                        AS blks_hit,
                 sum(s.shared_blks_read)                       AS blks_read,
                 min(s.query)                                  AS query
             FROM %I.pg_stat_statements AS s
             WHERE s.dbid = (SELECT d.oid FROM pg_database AS d WHERE d.datname = current_database())
                 AND s.queryid IS NOT NULL
             GROUP BY s.queryid
         )
         SELECT
             p.query_id                                        AS query_id,
             p.calls                                           AS calls,
             round(p.total_time::numeric, 3)                   AS total_time_ms,
             round((p.total_time / nullif(p.calls, 0))::numeric, 3)
                                                               AS mean_time_ms,
             p.rows                                            AS rows,
             -- NULL when the statement read no shared block at all (nothing to judge).
             round((p.blks_hit / nullif(p.blks_hit + p.blks_read, 0))::numeric, 4)
                                                               AS cache_hit_ratio,
             round((p.total_time / nullif(sum(p.total_time) OVER (), 0))::numeric, 4)
                                                               AS share_of_total,
             p.query                                           AS query
         FROM per_statement AS p
         ORDER BY %s, p.query_id
         LIMIT $1',
        schema_name,
        sort_key
    )
    USING top_queries.max_rows;
END
$$;

COMMENT ON FUNCTION palmdb.top_queries(text, integer) IS
    'The current database''s statements from pg_stat_statements, ordered by total or mean execution time or calls';

GRANT EXECUTE ON FUNCTION palmdb.top_queries(text, integer) TO pg_monitor;
