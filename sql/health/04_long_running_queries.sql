-- Queries of the current database that have been running for a while, longest first.
-- The session reading the view is left out: it is the monitor, not the workload.

CREATE OR REPLACE VIEW palmdb.long_running_queries AS
SELECT
    a.pid                                  AS pid,
    a.usename                              AS user_name,
    a.application_name                     AS application_name,
    a.client_addr                          AS client_addr,
    now() - a.query_start                  AS running_for,
    a.wait_event_type                      AS wait_event_type,
    a.wait_event                           AS wait_event,
    left(a.query, 500)                     AS query
FROM pg_stat_activity AS a
WHERE a.datname = current_database()
    AND a.pid <> pg_backend_pid()
    AND a.backend_type = 'client backend'
    AND a.state = 'active'
ORDER BY running_for DESC;

COMMENT ON VIEW palmdb.long_running_queries IS
    'Active queries in the current database with how long they have run, longest first';

GRANT SELECT ON palmdb.long_running_queries TO pg_monitor;

-- long_running_queries: the longest active query of this database, in seconds.
CREATE OR REPLACE FUNCTION palmdb.check_long_running_queries(thresholds jsonb DEFAULT '{}')
RETURNS SETOF palmdb.health_check
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.*
    FROM (
        SELECT
            make_interval(secs => (x.s ->> 'long_query_warning')::double precision)  AS warning,
            make_interval(secs => (x.s ->> 'long_query_critical')::double precision) AS critical
        FROM palmdb.health_settings(thresholds) AS x (s)
    ) AS t
    CROSS JOIN LATERAL (
        SELECT
            max(extract(epoch FROM l.running_for))::double precision      AS longest,
            count(*) FILTER (WHERE l.running_for > t.warning)             AS over,
            (array_agg(l ORDER BY l.running_for DESC))[1]                 AS top
        FROM palmdb.long_running_queries AS l
    ) AS q
    CROSS JOIN LATERAL palmdb.health_row(
        check_name     => 'long_running_queries',
        value          => coalesce(q.longest, 0),
        warning_level  => extract(epoch FROM t.warning)::double precision,
        critical_level => extract(epoch FROM t.critical)::double precision,
        threshold      => format('warning > %s, critical > %s', t.warning, t.critical),
        detail         => CASE
            WHEN q.over = 0 THEN format('no query running longer than %s', t.warning)
            ELSE format(
                '%s quer%s running longer than %s; longest %s (pid %s, %s): %s',
                q.over,
                CASE WHEN q.over = 1 THEN 'y' ELSE 'ies' END,
                t.warning,
                date_trunc('second', (q.top).running_for),
                (q.top).pid,
                coalesce(nullif((q.top).application_name, ''), (q.top).user_name),
                left(regexp_replace((q.top).query, '\s+', ' ', 'g'), 120)
            )
        END,
        remedy         => CASE
            WHEN q.over > 0
            THEN format('SELECT pg_cancel_backend(%s);  -- pg_terminate_backend(%s) if it does not stop; see palmdb.long_running_queries', (q.top).pid, (q.top).pid)
        END
    ) AS r
$$;

COMMENT ON FUNCTION palmdb.check_long_running_queries(jsonb) IS
    'the longest-running active query, in seconds';

GRANT EXECUTE ON FUNCTION palmdb.check_long_running_queries(jsonb) TO pg_monitor;
