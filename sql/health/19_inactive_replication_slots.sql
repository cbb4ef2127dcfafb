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

GRANT SELECT ON palmdb.replication_slots TO pg_monitor;

-- inactive_replication_slots: slots nobody consumes, a warning; critical once one of them
-- holds back more WAL than slot_wal_critical_bytes.
CREATE OR REPLACE FUNCTION palmdb.check_inactive_replication_slots(thresholds jsonb DEFAULT '{}')
RETURNS SETOF palmdb.health_check
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.*
    FROM (
        SELECT
            (x.s ->> 'slot_wal_critical_bytes')::bigint                   AS critical_bytes
        FROM palmdb.health_settings(thresholds) AS x (s)
    ) AS t
    CROSS JOIN (
        SELECT
            count(*)                                                      AS n,
            coalesce(max(x.retained_wal_bytes), 0)                        AS most_wal,
            string_agg(x.slot_name, ', ')                                 AS names,
            string_agg(x.remedy, ' ')                                     AS remedies
        FROM palmdb.replication_slots AS x
        WHERE NOT x.active
    ) AS s
    CROSS JOIN LATERAL palmdb.health_row(
        check_name     => 'inactive_replication_slots',
        value          => s.n::double precision,
        warning_level  => 0,
        critical_level => NULL,
        threshold      => format('warning > 0, critical when one retains more than %s of WAL', pg_size_pretty(t.critical_bytes)),
        detail         => CASE
            WHEN s.n = 0 THEN 'no inactive replication slot'
            ELSE format('%s inactive slot%s retaining up to %s of WAL: %s', s.n, CASE WHEN s.n = 1 THEN '' ELSE 's' END, pg_size_pretty(s.most_wal), s.names)
        END,
        remedy         => s.remedies,
        status         => CASE
            WHEN s.n = 0 THEN 'ok'
            WHEN s.most_wal > t.critical_bytes THEN 'critical'
            ELSE 'warning'
        END
    ) AS r
$$;

COMMENT ON FUNCTION palmdb.check_inactive_replication_slots(jsonb) IS
    'replication slots nobody consumes';

GRANT EXECUTE ON FUNCTION palmdb.check_inactive_replication_slots(jsonb) TO pg_monitor;
