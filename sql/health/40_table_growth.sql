-- Trends from `palmdb health --record`: record_health_snapshot() stores every table's figures
-- and deletes snapshots older than `keep`, so the history stays bounded; table_growth_per_day
-- compares each day's last snapshot of a table with the previous recorded day's.
-- SECURITY DEFINER so that a monitoring role can record without write access to the table.

CREATE OR REPLACE FUNCTION palmdb.record_health_snapshot(keep interval DEFAULT interval '90 days')
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    recorded bigint;
BEGIN
    IF keep IS NULL OR keep <= interval '0' THEN
        RAISE EXCEPTION 'keep must be a positive interval, not %', keep;
    END IF;
    INSERT INTO palmdb.health_snapshots (
        taken_at, schema_name, table_name, live_rows, dead_rows, table_bytes, index_bytes,
        toast_bytes, total_bytes, seq_scans, index_scans
    )
    SELECT
        now()             AS taken_at,
        t.schema_name     AS schema_name,
        t.table_name      AS table_name,
        t.live_rows       AS live_rows,
        t.dead_rows       AS dead_rows,
        t.table_bytes     AS table_bytes,
        t.index_bytes     AS index_bytes,
        t.toast_bytes     AS toast_bytes,
        t.total_bytes     AS total_bytes,
        t.seq_scans       AS seq_scans,
        t.index_scans     AS index_scans
    FROM palmdb.table_stats AS t
    -- Two recordings in one transaction (same now()) keep the first.
    ON CONFLICT (taken_at, schema_name, table_name) DO NOTHING;
    GET DIAGNOSTICS recorded = ROW_COUNT;

    DELETE FROM palmdb.health_snapshots AS s
    WHERE s.taken_at < now() - keep;
    RETURN recorded;
END
$$;

COMMENT ON FUNCTION palmdb.record_health_snapshot(interval) IS
    'Stores every table''s figures in palmdb.health_snapshots and deletes snapshots older than keep';

CREATE OR REPLACE VIEW palmdb.table_growth_per_day AS
WITH daily AS (
    -- The last snapshot of each table on each day (UTC) stands for that day.
    SELECT DISTINCT ON (s.schema_name, s.table_name, (s.taken_at AT TIME ZONE 'UTC')::date)
        s.schema_name                                  AS schema_name,
        s.table_name                                   AS table_name,
        (s.taken_at AT TIME ZONE 'UTC')::date          AS day,
        s.taken_at                                     AS taken_at,
        s.live_rows                                    AS live_rows,
        s.total_bytes                                  AS total_bytes
    FROM palmdb.health_snapshots AS s
    ORDER BY s.schema_name, s.table_name, (s.taken_at AT TIME ZONE 'UTC')::date, s.taken_at DESC
)
SELECT
    d.schema_name                                      AS schema_name,
    d.table_name                                       AS table_name,
    d.day                                              AS day,
    d.live_rows                                        AS live_rows,
    d.total_bytes                                      AS total_bytes,
    pg_size_pretty(d.total_bytes)                      AS total_size,
    d.live_rows - lag(d.live_rows) OVER w              AS rows_added,
    d.total_bytes - lag(d.total_bytes) OVER w          AS bytes_added,
    -- Per day, even when recordings skipped days.
    round(
        (d.total_bytes - lag(d.total_bytes) OVER w)::numeric
            / nullif(d.day - lag(d.day) OVER w, 0),
        0
    )                                                  AS bytes_per_day,
    round(
        (d.live_rows - lag(d.live_rows) OVER w)::numeric
            / nullif(d.day - lag(d.day) OVER w, 0),
        0
    )                                                  AS rows_per_day
FROM daily AS d
WINDOW w AS (PARTITION BY d.schema_name, d.table_name ORDER BY d.day)
ORDER BY schema_name, table_name, day;

COMMENT ON VIEW palmdb.table_growth_per_day IS
    'Per table and day: size and rows from recorded snapshots, and growth since the previous recorded day';

REVOKE ALL ON FUNCTION palmdb.record_health_snapshot(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION palmdb.record_health_snapshot(interval) TO pg_monitor;
GRANT SELECT ON palmdb.table_growth_per_day TO pg_monitor;
