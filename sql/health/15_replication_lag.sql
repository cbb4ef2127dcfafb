-- Replication as seen from this server. On a primary: one row per connected standby with its
-- lag (pg_stat_replication). On a standby: one row for itself, the time since the last replayed
-- transaction. pg_current_wal_lsn() cannot run during recovery, hence the CASEs.

CREATE OR REPLACE VIEW palmdb.replication_lag AS
SELECT
    'standby'                                                   AS role,
    coalesce(r.application_name, '')                            AS standby_name,
    r.client_addr                                               AS client_addr,
    r.state                                                     AS state,
    r.sync_state                                                AS sync_state,
    coalesce(r.replay_lag, interval '0')                        AS lag,
    pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::bigint AS lag_bytes
FROM pg_stat_replication AS r
WHERE NOT pg_is_in_recovery()
UNION ALL
SELECT
    'this server (standby)'                                     AS role,
    ''                                                          AS standby_name,
    NULL::inet                                                  AS client_addr,
    'replaying'                                                 AS state,
    NULL::text                                                  AS sync_state,
    -- Nothing left to replay means no lag, however old the last transaction is.
    CASE
        WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN interval '0'
        ELSE now() - pg_last_xact_replay_timestamp()
    END                                                         AS lag,
    pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint
                                                                AS lag_bytes
FROM (SELECT 1) AS one
WHERE pg_is_in_recovery();

COMMENT ON VIEW palmdb.replication_lag IS
    'Lag of each standby (on a primary) or of this server (on a standby)';

GRANT SELECT ON palmdb.replication_lag TO pg_monitor;

-- replication_lag: the most-lagging standby (or this standby), in seconds.
CREATE OR REPLACE FUNCTION palmdb.check_replication_lag(thresholds jsonb DEFAULT '{}')
RETURNS SETOF palmdb.health_check
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.*
    FROM (
        SELECT
            make_interval(secs => (x.s ->> 'replication_lag_warning')::double precision)  AS warning,
            make_interval(secs => (x.s ->> 'replication_lag_critical')::double precision) AS critical
        FROM palmdb.health_settings(thresholds) AS x (s)
    ) AS t
    CROSS JOIN (
        SELECT
            count(*)                                                      AS n,
            max(extract(epoch FROM l.lag))::double precision              AS longest,
            (array_agg(l ORDER BY l.lag DESC))[1]                         AS top
        FROM palmdb.replication_lag AS l
    ) AS q
    CROSS JOIN LATERAL palmdb.health_row(
        check_name     => 'replication_lag',
        value          => coalesce(q.longest, 0),
        warning_level  => extract(epoch FROM t.warning)::double precision,
        critical_level => extract(epoch FROM t.critical)::double precision,
        threshold      => format('warning > %s, critical > %s', t.warning, t.critical),
        detail         => CASE
            WHEN q.n = 0 THEN 'no replication: this server is a primary without connected standbys'
            ELSE format('%s replication link%s; most lagging %s: %s behind (%s bytes)', q.n, CASE WHEN q.n = 1 THEN '' ELSE 's' END, coalesce(nullif((q.top).standby_name, ''), (q.top).role), (q.top).lag, (q.top).lag_bytes)
        END,
        remedy         => 'SELECT * FROM palmdb.replication_lag;  -- check the standby''s network, disk and replay conflicts'
    ) AS r
$$;

COMMENT ON FUNCTION palmdb.check_replication_lag(jsonb) IS
    'the most-lagging standby, in seconds';

GRANT EXECUTE ON FUNCTION palmdb.check_replication_lag(jsonb) TO pg_monitor;
