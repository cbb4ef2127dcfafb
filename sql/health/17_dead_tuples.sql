-- dead_tuples: the highest dead-row ratio among tables with enough dead rows to matter.
-- The rule (which tables are judged, which need VACUUM) is palmdb.table_upkeep(), the one
-- `palmdb maintain` acts on, so what this check warns about is what maintain vacuums.

CREATE OR REPLACE FUNCTION palmdb.check_dead_tuples(thresholds jsonb DEFAULT '{}')
RETURNS SETOF palmdb.health_check
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH judged AS (
        SELECT u.*
        FROM palmdb.table_upkeep(thresholds) AS u
        WHERE u.dead_judged
    )
    SELECT r.*
    FROM (
        SELECT
            (x.s ->> 'dead_ratio_warning')::double precision              AS warning,
            (x.s ->> 'dead_ratio_critical')::double precision             AS critical,
            (x.s ->> 'dead_rows_min')::bigint                             AS rows_min
        FROM palmdb.health_settings(thresholds) AS x (s)
    ) AS t
    CROSS JOIN (
        SELECT
            max(j.dead_ratio)::double precision                           AS worst,
            count(*) FILTER (WHERE j.needs_vacuum)                        AS over
        FROM judged AS j
    ) AS d
    LEFT JOIN LATERAL (
        SELECT
            j.schema_name                                                 AS schema_name,
            j.table_name                                                  AS table_name,
            j.dead_rows                                                   AS dead_rows,
            j.live_rows                                                   AS live_rows
        FROM judged AS j
        ORDER BY j.dead_ratio DESC
        LIMIT 1
    ) AS top
        ON true
    CROSS JOIN LATERAL palmdb.health_row(
        check_name     => 'dead_tuples',
        value          => coalesce(d.worst, 0),
        warning_level  => t.warning,
        critical_level => t.critical,
        threshold      => format('warning > %s, critical > %s dead rows ratio (tables with at least %s dead rows)', t.warning, t.critical, t.rows_min),
        detail         => CASE
            WHEN d.over = 0 THEN format('no table with more than %s%% dead rows', 100 * t.warning)
            ELSE format(
                '%s table%s over %s%% dead rows; worst %I.%I: %s dead of %s rows (autovacuum is %s)',
                d.over,
                CASE WHEN d.over = 1 THEN '' ELSE 's' END,
                100 * t.warning,
                top.schema_name,
                top.table_name,
                top.dead_rows,
                top.live_rows + top.dead_rows,
                current_setting('autovacuum')
            )
        END,
        remedy         => CASE
            WHEN d.over > 0
            THEN format('VACUUM (ANALYZE, VERBOSE) %I.%I;  -- or run palmdb maintain', top.schema_name, top.table_name)
        END
    ) AS r
$$;

COMMENT ON FUNCTION palmdb.check_dead_tuples(jsonb) IS
    'the highest dead-row ratio of a table';

GRANT EXECUTE ON FUNCTION palmdb.check_dead_tuples(jsonb) TO pg_monitor;
