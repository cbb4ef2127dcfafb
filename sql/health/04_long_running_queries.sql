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
