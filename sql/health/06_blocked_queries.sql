-- Queries of the current database waiting for a lock, with the sessions that block them.
-- pg_blocking_pids() is the server's own answer (it understands lock queues and parallel
-- workers); pg_locks.waitstart (PostgreSQL 14+) says since when the wait began. It is read
-- through to_jsonb() so that the view also compiles on 13, which lacks the column (the wait
-- is then counted from the start of the blocked query).

CREATE OR REPLACE VIEW palmdb.blocked_queries AS
SELECT
    blocked.pid                                     AS blocked_pid,
    blocked.usename                                 AS blocked_user,
    blocked.application_name                        AS blocked_application,
    now() - coalesce(waiting.since, blocked.query_start)
                                                    AS waiting_for,
    left(blocked.query, 500)                        AS blocked_query,
    blocker.pid                                     AS blocking_pid,
    blocker.usename                                 AS blocking_user,
    blocker.application_name                        AS blocking_application,
    blocker.state                                   AS blocking_state,
    left(blocker.query, 500)                        AS blocking_query
FROM pg_stat_activity AS blocked
CROSS JOIN LATERAL unnest(pg_blocking_pids(blocked.pid)) AS blocking(pid)
JOIN pg_stat_activity AS blocker
    ON blocker.pid = blocking.pid
LEFT JOIN LATERAL (
    SELECT min((to_jsonb(l) ->> 'waitstart')::timestamptz) AS since
    FROM pg_locks AS l
    WHERE l.pid = blocked.pid
        AND NOT l.granted
) AS waiting
    ON true
WHERE blocked.datname = current_database()
    AND blocked.pid <> pg_backend_pid()
    AND blocked.wait_event_type = 'Lock'
ORDER BY waiting_for DESC, blocked_pid, blocking_pid;

COMMENT ON VIEW palmdb.blocked_queries IS
    'Queries waiting for a lock (current database), one row per blocking session';

GRANT SELECT ON palmdb.blocked_queries TO pg_monitor;

-- blocked_queries: the longest lock wait of this database, in seconds.
CREATE OR REPLACE FUNCTION palmdb.check_blocked_queries(thresholds jsonb DEFAULT '{}')
RETURNS SETOF palmdb.health_check
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.*
    FROM (
        SELECT
            make_interval(secs => (x.s ->> 'blocked_warning')::double precision)  AS warning,
            make_interval(secs => (x.s ->> 'blocked_critical')::double precision) AS critical
        FROM palmdb.health_settings(thresholds) AS x (s)
    ) AS t
    CROSS JOIN LATERAL (
        SELECT
            max(extract(epoch FROM b.waiting_for))::double precision      AS longest,
            count(DISTINCT b.blocked_pid) FILTER (WHERE b.waiting_for > t.warning) AS over,
            (array_agg(b ORDER BY b.waiting_for DESC))[1]                 AS top
        FROM palmdb.blocked_queries AS b
    ) AS q
    CROSS JOIN LATERAL palmdb.health_row(
        check_name     => 'blocked_queries',
        value          => coalesce(q.longest, 0),
        warning_level  => extract(epoch FROM t.warning)::double precision,
        critical_level => extract(epoch FROM t.critical)::double precision,
        threshold      => format('warning > %s, critical > %s', t.warning, t.critical),
        detail         => CASE
            WHEN q.over = 0 THEN format('no query waiting for a lock for more than %s', t.warning)
            ELSE format(
                '%s quer%s waiting for a lock for more than %s; longest %s: pid %s (%s) blocked by pid %s (%s: %s)',
                q.over,
                CASE WHEN q.over = 1 THEN 'y' ELSE 'ies' END,
                t.warning,
                date_trunc('second', (q.top).waiting_for),
                (q.top).blocked_pid,
                left(regexp_replace((q.top).blocked_query, '\s+', ' ', 'g'), 80),
                (q.top).blocking_pid,
                (q.top).blocking_state,
                left(regexp_replace((q.top).blocking_query, '\s+', ' ', 'g'), 80)
            )
        END,
        remedy         => CASE
            WHEN q.over > 0
            THEN format('SELECT pg_terminate_backend(%s);  -- the blocker; see palmdb.blocked_queries', (q.top).blocking_pid)
        END
    ) AS r
$$;

COMMENT ON FUNCTION palmdb.check_blocked_queries(jsonb) IS
    'the longest wait for a lock, in seconds';

GRANT EXECUTE ON FUNCTION palmdb.check_blocked_queries(jsonb) TO pg_monitor;
