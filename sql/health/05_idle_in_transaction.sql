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

-- idle_in_transaction: the longest-idle open transaction of this database, in seconds.
CREATE OR REPLACE FUNCTION palmdb.check_idle_in_transaction(thresholds jsonb DEFAULT '{}')
RETURNS SETOF palmdb.health_check
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.*
    FROM (
        SELECT
            make_interval(secs => (x.s ->> 'idle_in_transaction_warning')::double precision)  AS warning,
            make_interval(secs => (x.s ->> 'idle_in_transaction_critical')::double precision) AS critical
        FROM palmdb.health_settings(thresholds) AS x (s)
    ) AS t
    CROSS JOIN LATERAL (
        SELECT
            max(extract(epoch FROM i.idle_for))::double precision         AS longest,
            count(*) FILTER (WHERE i.idle_for > t.warning)                AS over,
            (array_agg(i ORDER BY i.idle_for DESC))[1]                    AS top
        FROM palmdb.idle_in_transaction AS i
    ) AS q
    CROSS JOIN LATERAL palmdb.health_row(
        check_name     => 'idle_in_transaction',
        value          => coalesce(q.longest, 0),
        warning_level  => extract(epoch FROM t.warning)::double precision,
        critical_level => extract(epoch FROM t.critical)::double precision,
        threshold      => format('warning > %s, critical > %s', t.warning, t.critical),
        detail         => CASE
            WHEN q.over = 0 THEN format('no session idle in a transaction for more than %s', t.warning)
            ELSE format(
                '%s session%s idle in a transaction for more than %s; longest %s (pid %s, %s), last query: %s',
                q.over,
                CASE WHEN q.over = 1 THEN '' ELSE 's' END,
                t.warning,
                date_trunc('second', (q.top).idle_for),
                (q.top).pid,
                coalesce(nullif((q.top).application_name, ''), (q.top).user_name),
                left(regexp_replace((q.top).last_query, '\s+', ' ', 'g'), 120)
            )
        END,
        remedy         => CASE
            WHEN q.over > 0
            THEN format('SELECT pg_terminate_backend(%s);  -- and set idle_in_transaction_session_timeout', (q.top).pid)
        END
    ) AS r
$$;

COMMENT ON FUNCTION palmdb.check_idle_in_transaction(jsonb) IS
    'the longest session idle inside a transaction, in seconds';

GRANT EXECUTE ON FUNCTION palmdb.check_idle_in_transaction(jsonb) TO pg_monitor;
