-- Snapshots taken by `palmdb health --record`: the key figures of every table at one moment,
-- so that growth per table per day can be read back (palmdb.table_growth_per_day).
-- Retention is bounded by palmdb.record_health_snapshot(keep), which deletes older rows.

CREATE SCHEMA IF NOT EXISTS palmdb;

CREATE TABLE palmdb.health_snapshots (
    taken_at      timestamptz NOT NULL,
    schema_name   name        NOT NULL,
    table_name    name        NOT NULL,
    live_rows     bigint      NOT NULL,
    dead_rows     bigint      NOT NULL,
    table_bytes   bigint      NOT NULL,
    index_bytes   bigint      NOT NULL,
    toast_bytes   bigint      NOT NULL,
    total_bytes   bigint      NOT NULL,
    seq_scans     bigint      NOT NULL,
    index_scans   bigint      NOT NULL,
    PRIMARY KEY (taken_at, schema_name, table_name)
);

-- Growth is read per table over time; retention deletes by time.
CREATE INDEX health_snapshots_table_idx
    ON palmdb.health_snapshots (schema_name, table_name, taken_at);

COMMENT ON TABLE palmdb.health_snapshots IS
    'Per-table figures recorded by palmdb health --record; pruned by palmdb.record_health_snapshot';

-- Monitoring roles read palmdb's health objects; the sql/health files grant on each object.
GRANT USAGE ON SCHEMA palmdb TO pg_monitor;
GRANT SELECT ON palmdb.health_snapshots TO pg_monitor;
