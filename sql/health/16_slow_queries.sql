-- Slow statements from pg_stat_statements, when it is there. The extension is optional: the
-- state function says why it cannot be read (not installed in this database, or installed
-- but not in shared_preload_libraries) so the health check can say so instead of failing.
-- The view is read with dynamic SQL because it may not exist when this file is applied.

CREATE OR REPLACE FUNCTION palmdb.pg_stat_statements_state()
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    schema_name name;
BEGIN
    SELECT n.nspname
    INTO schema_name
    FROM pg_extension AS e
    JOIN pg_namespace AS n
        ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_stat_statements';
    IF schema_name IS NULL THEN
        RETURN 'not installed';
    END IF;
    BEGIN
        EXECUTE format('SELECT 1 FROM %I.pg_stat_statements LIMIT 1', schema_name);
    EXCEPTION
        WHEN object_not_in_prerequisite_state THEN
            RETURN 'not loaded';
    END;
    RETURN 'ready';
END
$$;

COMMENT ON FUNCTION palmdb.pg_stat_statements_state() IS
    'ready, not installed (CREATE EXTENSION missing) or not loaded (shared_preload_libraries)';

-- Dropped first: CREATE OR REPLACE cannot change the columns or parameters it returns
-- and takes, and nothing depends on it but callers.
DROP FUNCTION IF EXISTS palmdb.slow_queries;

CREATE OR REPLACE FUNCTION palmdb.slow_queries(
    min_mean_time interval DEFAULT interval '100 milliseconds',
    min_calls bigint DEFAULT 100
)
RETURNS TABLE (
    query_id       bigint,
    calls          bigint,
    mean_time_ms   numeric,
    total_time_ms  numeric,
    share_of_total numeric,
    query          text
)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    schema_name name;
BEGIN
    IF palmdb.pg_stat_statements_state() <> 'ready' THEN
        RETURN;
    END IF;
    SELECT n.nspname
    INTO schema_name
    FROM pg_extension AS e
    JOIN pg_namespace AS n
        ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_stat_statements';
    RETURN QUERY EXECUTE format(
        'SELECT
             s.queryid                                              AS query_id,
             s.calls                                                AS calls,
             round(s.mean_exec_time::numeric, 2)                    AS mean_time_ms,
             round(s.total_exec_time::numeric, 2)                   AS total_time_ms,
             round((s.total_exec_time / nullif(sum(s.total_exec_time) OVER (), 0))::numeric, 4)
                                                                    AS share_of_total,
             left(s.query, 500)                                     AS query
         FROM %I.pg_stat_statements AS s
         JOIN pg_database AS d
             ON d.oid = s.dbid
         WHERE d.datname = current_database()
             AND s.calls >= $1
             AND s.mean_exec_time >= $2
         ORDER BY s.total_exec_time DESC
         LIMIT 50',
        schema_name
    )
    USING min_calls, extract(epoch FROM min_mean_time) * 1000;
END
$$;

COMMENT ON FUNCTION palmdb.slow_queries(interval, bigint) IS
    'Statements of the current database slower than min_mean_time on average (pg_stat_statements)';

GRANT EXECUTE ON FUNCTION palmdb.pg_stat_statements_state() TO pg_monitor;
GRANT EXECUTE ON FUNCTION palmdb.slow_queries(interval, bigint) TO pg_monitor;

-- slow_queries: how many statements are slow on average. Needs pg_stat_statements; without
-- it the check is ok with no value, and says why and how to enable it.
CREATE OR REPLACE FUNCTION palmdb.check_slow_queries(thresholds jsonb DEFAULT '{}')
RETURNS SETOF palmdb.health_check
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH t AS (
        SELECT
            make_interval(secs => (x.s ->> 'slow_query_mean')::double precision) AS mean,
            (x.s ->> 'slow_query_calls')::bigint                          AS calls,
            palmdb.pg_stat_statements_state()                             AS state
        FROM palmdb.health_settings(thresholds) AS x (s)
    ),
    slow AS (
        SELECT q.*
        FROM t
        CROSS JOIN LATERAL palmdb.slow_queries(t.mean, t.calls) AS q
    )
    SELECT r.*
    FROM t
    CROSS JOIN (
        SELECT count(*) AS n
        FROM slow
    ) AS q
    LEFT JOIN LATERAL (
        SELECT
            s.mean_time_ms                                                AS mean_time_ms,
            s.calls                                                       AS calls,
            s.query                                                       AS query
        FROM slow AS s
        ORDER BY s.mean_time_ms DESC
        LIMIT 1
    ) AS top
        ON true
    CROSS JOIN LATERAL palmdb.health_row(
        check_name     => 'slow_queries',
        value          => CASE WHEN t.state = 'ready' THEN q.n::double precision END,
        warning_level  => 0,
        critical_level => NULL,
        threshold      => format('warning > 0 statements with mean time over %s and at least %s calls', t.mean, t.calls),
        detail         => CASE
            WHEN t.state = 'not installed' THEN 'not checked: the pg_stat_statements extension is not installed in this database'
            WHEN t.state <> 'ready' THEN 'not checked: pg_stat_statements is installed but not in shared_preload_libraries'
            WHEN q.n = 0 THEN format('no statement averages more than %s', t.mean)
            ELSE format('%s slow statement%s; worst %s ms on average over %s calls: %s', q.n, CASE WHEN q.n = 1 THEN '' ELSE 's' END, top.mean_time_ms, top.calls, left(regexp_replace(top.query, '\s+', ' ', 'g'), 120))
        END,
        remedy         => 'SELECT * FROM palmdb.slow_queries();  -- then EXPLAIN (ANALYZE, BUFFERS) the worst one',
        judged         => t.state = 'ready',
        advice         => CASE t.state
            WHEN 'ready' THEN NULL
            WHEN 'not installed' THEN 'CREATE EXTENSION pg_stat_statements;  -- needs shared_preload_libraries = ''pg_stat_statements'' and a restart'
            ELSE 'ALTER SYSTEM SET shared_preload_libraries = ''pg_stat_statements'';  -- then restart PostgreSQL'
        END
    ) AS r
$$;

COMMENT ON FUNCTION palmdb.check_slow_queries(jsonb) IS
    'statements slow on average (needs pg_stat_statements)';

GRANT EXECUTE ON FUNCTION palmdb.check_slow_queries(jsonb) TO pg_monitor;
