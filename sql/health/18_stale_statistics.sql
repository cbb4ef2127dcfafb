-- stale_statistics: the most rows changed since ANALYZE, relative to the table's size.
-- Warning only: stale statistics are never an outage by themselves. The rule is
-- palmdb.table_upkeep(), the one `palmdb maintain` acts on.

CREATE OR REPLACE FUNCTION palmdb.check_stale_statistics(thresholds jsonb DEFAULT '{}')
RETURNS SETOF palmdb.health_check
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH judged AS (
        SELECT u.*
        FROM palmdb.table_upkeep(thresholds) AS u
        WHERE u.stale_judged
    )
    SELECT r.*
    FROM (
        SELECT
            (x.s ->> 'stale_ratio_warning')::double precision             AS warning,
            (x.s ->> 'stale_rows_min')::bigint                            AS rows_min
        FROM palmdb.health_settings(thresholds) AS x (s)
    ) AS t
    CROSS JOIN (
        SELECT
            max(j.stale_ratio)                                            AS worst,
            count(*) FILTER (WHERE j.needs_analyze)                       AS over
        FROM judged AS j
    ) AS s
    LEFT JOIN LATERAL (
        SELECT
            j.schema_name                                                 AS schema_name,
            j.table_name                                                  AS table_name,
            j.modified_since_analyze                                      AS modified_since_analyze,
            j.last_analyze_any                                            AS last_analyze_any
        FROM judged AS j
        ORDER BY j.stale_ratio DESC
        LIMIT 1
    ) AS top
        ON true
    CROSS JOIN LATERAL palmdb.health_row(
        check_name     => 'stale_statistics',
        value          => coalesce(s.worst, 0),
        warning_level  => t.warning,
        critical_level => NULL,
        threshold      => format('warning > %s of rows changed since ANALYZE (tables with at least %s changes)', t.warning, t.rows_min),
        detail         => CASE
            WHEN s.over = 0 THEN 'planner statistics are current on every table'
            ELSE format(
                '%s table%s with stale planner statistics; worst %I.%I: %s rows changed, last analyzed %s',
                s.over,
                CASE WHEN s.over = 1 THEN '' ELSE 's' END,
                top.schema_name,
                top.table_name,
                top.modified_since_analyze,
                coalesce(date_trunc('second', top.last_analyze_any)::text, 'never')
            )
        END,
        remedy         => CASE
            WHEN s.over > 0
            THEN format('ANALYZE %I.%I;  -- or run palmdb maintain', top.schema_name, top.table_name)
        END
    ) AS r
$$;

COMMENT ON FUNCTION palmdb.check_stale_statistics(jsonb) IS
    'rows changed since ANALYZE, relative to the table''s rows';

GRANT EXECUTE ON FUNCTION palmdb.check_stale_statistics(jsonb) TO pg_monitor;
