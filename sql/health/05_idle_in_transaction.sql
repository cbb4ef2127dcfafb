-- Sessions of the current database sitting in an open transaction without running anything.
-- They hold locks and stop VACUUM from removing dead rows for as long as they stay open.

CREATE OR REPLACE VIEW palmdb.idle_in_transaction AS
SELECT
    a.pid                                  AS pid,
    a.usename                              AS user_name,
    a.application_name                     AS application_name,
    a.client_addr                          AS client_addr,
    a.state                                AS state,
    now() - a.state_change                 AS idle_for,
    now() - a.xact_start                   AS transaction_age,
    left(a.query, 500)                     AS last_query
FROM pg_stat_activity AS a
WHERE a.datname = current_database()
    AND a.pid <> pg_backend_pid()
    AND a.state IN ('idle in transaction', 'idle in transaction (aborted)')
ORDER BY idle_for DESC;

COMMENT ON VIEW palmdb.idle_in_transaction IS
    'Sessions idle inside an open transaction (current database), longest idle first';

GRANT SELECT ON palmdb.idle_in_transaction TO pg_monitor;
