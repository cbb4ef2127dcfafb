-- Client connections by state, and their share of max_connections. Connections are a
-- server-wide resource, so this counts every database, not only the current one.

CREATE OR REPLACE VIEW palmdb.connections AS
SELECT
    coalesce(a.state, 'unknown')                                          AS state,
    count(*)                                                              AS connections,
    round(count(*)::numeric / current_setting('max_connections')::numeric, 4)
                                                                          AS share_of_max
FROM pg_stat_activity AS a
WHERE a.backend_type = 'client backend'
GROUP BY coalesce(a.state, 'unknown');

COMMENT ON VIEW palmdb.connections IS
    'Client connections per state (all databases) and their share of max_connections';

GRANT SELECT ON palmdb.connections TO pg_monitor;
