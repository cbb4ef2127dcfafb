-- Queries of the current database waiting for a lock, with the sessions that block them.
-- pg_blocking_pids() is the server's own answer (it understands lock queues and parallel
-- workers); pg_locks.waitstart (PostgreSQL 14+) says since when the wait began.

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
    SELECT min(l.waitstart) AS since
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
