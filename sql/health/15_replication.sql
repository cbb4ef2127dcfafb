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

-- Slots that nobody consumes keep WAL (and, for logical slots, old rows) forever.
CREATE OR REPLACE VIEW palmdb.replication_slots AS
SELECT
    s.slot_name                                                 AS slot_name,
    s.slot_type                                                 AS slot_type,
    s.database                                                  AS database_name,
    s.active                                                    AS active,
    s.wal_status                                                AS wal_status,
    CASE
        WHEN pg_is_in_recovery() THEN NULL
        ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint
    END                                                         AS retained_wal_bytes,
    format('SELECT pg_drop_replication_slot(%L);', s.slot_name) AS remedy
FROM pg_replication_slots AS s
ORDER BY active, retained_wal_bytes DESC NULLS LAST, slot_name;

COMMENT ON VIEW palmdb.replication_slots IS
    'Replication slots, inactive first, with the WAL each one holds back';

GRANT SELECT ON palmdb.replication_lag TO pg_monitor;
GRANT SELECT ON palmdb.replication_slots TO pg_monitor;
