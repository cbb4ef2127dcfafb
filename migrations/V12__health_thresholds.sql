-- The thresholds every health check and `palmdb maintain` judge by, declared once, and the
-- row type every check returns. SQL (palmdb.checks(), palmdb.maintenance_candidates()),
-- `palmdb health --threshold NAME=VALUE`, `palmdb maintain` and the docs test all read this
-- table; nothing else holds a default. A DBA may UPDATE a row to change a default for every
-- caller (CLI, serve, psql) at once; per-run overrides are passed as JSON and never written.
--
-- A row is either a pair of levels (warning and/or critical: the parameters are
-- <name>_warning and <name>_critical) or one setting that is not a level (value: the
-- parameter is <name>), such as the floor below which a table is not judged.
-- Durations are stored in seconds, sizes in bytes.

CREATE SCHEMA IF NOT EXISTS palmdb;

CREATE TABLE palmdb.health_thresholds (
    name         text             PRIMARY KEY,
    warning      double precision,
    critical     double precision,
    value        double precision,
    unit         text             NOT NULL,
    description  text             NOT NULL,
    CONSTRAINT health_thresholds_levels_or_value
        CHECK ((value IS NULL) <> (warning IS NULL AND critical IS NULL)),
    -- A NULL column passes: only a negative number fails.
    CONSTRAINT health_thresholds_not_negative
        CHECK (warning >= 0 AND critical >= 0 AND value >= 0),
    CONSTRAINT health_thresholds_known_unit
        CHECK (unit IN ('ratio', 'seconds', 'rows', 'blocks', 'bytes', 'transactions', 'calls'))
);

COMMENT ON TABLE palmdb.health_thresholds IS
    'Default thresholds of the health checks and palmdb maintain (parameters: <name>_warning, <name>_critical, or <name> for a value)';

INSERT INTO palmdb.health_thresholds (name, warning, critical, value, unit, description) VALUES
    ('connections',             0.8,        0.9,        NULL,       'ratio',        'client connections (all databases) as a share of max_connections'),
    ('long_query',              60,         300,        NULL,       'seconds',      'how long the longest active query has been running'),
    ('idle_in_transaction',     60,         600,        NULL,       'seconds',      'how long the longest session has sat idle inside a transaction'),
    ('blocked',                 10,         60,         NULL,       'seconds',      'how long the longest lock wait has lasted'),
    ('cache_hit',               0.99,       0.95,       NULL,       'ratio',        'share of block reads served from shared buffers (lower is worse)'),
    ('cache_min_blocks',        NULL,       NULL,       10000,      'blocks',       'fewer block reads than this since the statistics reset are not enough to judge the cache'),
    ('dead_ratio',              0.2,        0.5,        NULL,       'ratio',        'share of a table''s rows that are dead; palmdb maintain VACUUMs tables beyond the warning'),
    ('dead_rows_min',           NULL,       NULL,       1000,       'rows',         'tables with fewer dead rows than this are not judged (nor vacuumed by palmdb maintain)'),
    ('stale_ratio',             0.2,        NULL,       NULL,       'ratio',        'rows changed since ANALYZE relative to the table''s rows; palmdb maintain ANALYZEs tables beyond the warning'),
    ('stale_rows_min',          NULL,       NULL,       1000,       'rows',         'tables with fewer changed rows than this are not judged (nor analyzed by palmdb maintain)'),
    ('unused_index_min_bytes',  NULL,       NULL,       10485760,   'bytes',        'unused indexes smaller than this are not reported'),
    ('xid_age',                 1300000000, 1400000000, NULL,       'transactions', 'transaction-ID or multixact age (the limit is 2147483648)'),
    ('sequence',                0.8,        0.9,        NULL,       'ratio',        'share of a sequence''s (or an integer serial column''s) range used'),
    ('replication_lag',         30,         300,        NULL,       'seconds',      'how far the most-lagging standby is behind'),
    ('slot_wal_critical_bytes', NULL,       NULL,       1073741824, 'bytes',        'an inactive replication slot retaining more WAL than this is critical'),
    ('slow_query_mean',         NULL,       NULL,       0.1,        'seconds',      'statements slower than this on average are slow'),
    ('slow_query_calls',        NULL,       NULL,       100,        'calls',        'statements called fewer times than this are not judged slow');

-- What every health check returns, one row per check (the JSON contract's fields plus the
-- numbers behind `threshold`, for Nagios perfdata).
CREATE TYPE palmdb.health_check AS (
    name            text,
    status          text,
    value           double precision,
    threshold       text,
    detail          text,
    remedy          text,
    warning_level   double precision,
    critical_level  double precision
);

COMMENT ON TYPE palmdb.health_check IS
    'One health check''s verdict: name, status (ok|warning|critical), value, threshold, detail, remedy, levels';

GRANT SELECT ON palmdb.health_thresholds TO pg_monitor;
