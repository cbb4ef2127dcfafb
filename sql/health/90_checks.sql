-- Every health check in one call: one row per check with its status, the figure it judged,
-- the thresholds, what was found and the SQL a DBA would run next. From psql:
--     SELECT * FROM palmdb.checks();
--     SELECT * FROM palmdb.checks('{"long_query_warning": "10s"}', '{long_running_queries}');
--     SELECT * FROM palmdb.checks(only_checks => '{blocked_queries}');
-- `thresholds` overrides defaults of palmdb.health_thresholds for this call only (names:
-- palmdb.health_threshold_parameters); `only_checks` restricts the run to some checks.
-- Check names are stable (docs/health-checks.md).
--
-- Each check is palmdb.check_<name>(thresholds) in its own file of sql/health/; this is only
-- the list, in the order the checks are reported. A new check adds one line here.

-- The checks palmdb knows: every palmdb.check_<name>() function, with what it watches (its
-- comment). `--check NAME` and `only_checks` accept these names.
CREATE OR REPLACE VIEW palmdb.health_checks AS
SELECT
    substr(p.proname, length('check_') + 1)::text                AS name,
    obj_description(p.oid, 'pg_proc')                            AS watches
FROM pg_proc AS p
WHERE p.pronamespace = 'palmdb'::regnamespace
    AND p.proname LIKE 'check\_%'
ORDER BY name;

COMMENT ON VIEW palmdb.health_checks IS
    'Every health check (a palmdb.check_<name>() function) and what it watches';

-- Dropped first: CREATE OR REPLACE cannot change the columns or parameters it returns
-- and takes, and nothing depends on it but callers.
DROP FUNCTION IF EXISTS palmdb.checks;

CREATE OR REPLACE FUNCTION palmdb.checks(
    thresholds   jsonb  DEFAULT '{}',
    only_checks  text[] DEFAULT NULL
)
RETURNS SETOF palmdb.health_check
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM palmdb.health_refuse_unknown(
        'check', only_checks, ARRAY(SELECT c.name FROM palmdb.health_checks AS c)
    );
    -- Refuses unknown thresholds and bad values before any check runs.
    PERFORM palmdb.health_settings(thresholds);

    RETURN QUERY
              SELECT * FROM palmdb.check_connections(thresholds)                WHERE palmdb.health_selected('connections', only_checks)
    UNION ALL SELECT * FROM palmdb.check_long_running_queries(thresholds)       WHERE palmdb.health_selected('long_running_queries', only_checks)
    UNION ALL SELECT * FROM palmdb.check_idle_in_transaction(thresholds)        WHERE palmdb.health_selected('idle_in_transaction', only_checks)
    UNION ALL SELECT * FROM palmdb.check_blocked_queries(thresholds)            WHERE palmdb.health_selected('blocked_queries', only_checks)
    UNION ALL SELECT * FROM palmdb.check_cache_hit_tables(thresholds)           WHERE palmdb.health_selected('cache_hit_tables', only_checks)
    UNION ALL SELECT * FROM palmdb.check_cache_hit_indexes(thresholds)          WHERE palmdb.health_selected('cache_hit_indexes', only_checks)
    UNION ALL SELECT * FROM palmdb.check_dead_tuples(thresholds)                WHERE palmdb.health_selected('dead_tuples', only_checks)
    UNION ALL SELECT * FROM palmdb.check_stale_statistics(thresholds)           WHERE palmdb.health_selected('stale_statistics', only_checks)
    UNION ALL SELECT * FROM palmdb.check_unused_indexes(thresholds)             WHERE palmdb.health_selected('unused_indexes', only_checks)
    UNION ALL SELECT * FROM palmdb.check_duplicate_indexes(thresholds)          WHERE palmdb.health_selected('duplicate_indexes', only_checks)
    UNION ALL SELECT * FROM palmdb.check_invalid_indexes(thresholds)            WHERE palmdb.health_selected('invalid_indexes', only_checks)
    UNION ALL SELECT * FROM palmdb.check_foreign_keys_without_index(thresholds) WHERE palmdb.health_selected('foreign_keys_without_index', only_checks)
    UNION ALL SELECT * FROM palmdb.check_tables_without_primary_key(thresholds) WHERE palmdb.health_selected('tables_without_primary_key', only_checks)
    UNION ALL SELECT * FROM palmdb.check_xid_wraparound_database(thresholds)    WHERE palmdb.health_selected('xid_wraparound_database', only_checks)
    UNION ALL SELECT * FROM palmdb.check_xid_wraparound_tables(thresholds)      WHERE palmdb.health_selected('xid_wraparound_tables', only_checks)
    UNION ALL SELECT * FROM palmdb.check_sequence_exhaustion(thresholds)        WHERE palmdb.health_selected('sequence_exhaustion', only_checks)
    UNION ALL SELECT * FROM palmdb.check_serial_column_exhaustion(thresholds)   WHERE palmdb.health_selected('serial_column_exhaustion', only_checks)
    UNION ALL SELECT * FROM palmdb.check_replication_lag(thresholds)            WHERE palmdb.health_selected('replication_lag', only_checks)
    UNION ALL SELECT * FROM palmdb.check_inactive_replication_slots(thresholds) WHERE palmdb.health_selected('inactive_replication_slots', only_checks)
    UNION ALL SELECT * FROM palmdb.check_slow_queries(thresholds)               WHERE palmdb.health_selected('slow_queries', only_checks);
END
$$;

COMMENT ON FUNCTION palmdb.checks(jsonb, text[]) IS
    'Every health check: name, status (ok|warning|critical), value, threshold, detail, remedy';

GRANT SELECT ON palmdb.health_checks TO pg_monitor;
GRANT EXECUTE ON FUNCTION palmdb.checks(jsonb, text[]) TO pg_monitor;
