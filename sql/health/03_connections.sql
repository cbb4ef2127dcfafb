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

-- connections: share of max_connections in use, server-wide.
CREATE OR REPLACE FUNCTION palmdb.check_connections(thresholds jsonb DEFAULT '{}')
RETURNS SETOF palmdb.health_check
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.*
    FROM (
        SELECT
            (x.s ->> 'connections_warning')::double precision             AS warning,
            (x.s ->> 'connections_critical')::double precision            AS critical
        FROM palmdb.health_settings(thresholds) AS x (s)
    ) AS t
    CROSS JOIN (
        SELECT
            coalesce(sum(v.connections), 0)::bigint                       AS total,
            coalesce(sum(v.share_of_max), 0)::double precision            AS share,
            coalesce(string_agg(format('%s %s', v.connections, v.state), ', ' ORDER BY v.connections DESC), 'none')
                                                                          AS by_state
        FROM palmdb.connections AS v
    ) AS c
    CROSS JOIN LATERAL palmdb.health_row(
        check_name     => 'connections',
        value          => c.share,
        warning_level  => t.warning,
        critical_level => t.critical,
        threshold      => format('warning > %s, critical > %s of max_connections', t.warning, t.critical),
        detail         => format('%s of %s connections in use (%s)', c.total, current_setting('max_connections'), c.by_state),
        remedy         => 'SELECT state, usename, application_name, count(*) FROM pg_stat_activity GROUP BY 1, 2, 3 ORDER BY 4 DESC;  -- then use a connection pooler or raise max_connections'
    ) AS r
$$;

COMMENT ON FUNCTION palmdb.check_connections(jsonb) IS
    'client connections as a share of max_connections';

GRANT EXECUTE ON FUNCTION palmdb.check_connections(jsonb) TO pg_monitor;
