-- One rule for turning a figure into ok / warning / critical, shared by every check.
-- A threshold is crossed when the value is strictly beyond it, so a threshold of 0 means
-- "any at all". NULL thresholds are levels a check does not have; a NULL value is ok
-- (nothing measured, e.g. no cache statistics yet).

CREATE OR REPLACE FUNCTION palmdb.health_level(
    value double precision,
    warning double precision,
    critical double precision,
    lower_is_worse boolean DEFAULT false
)
RETURNS text
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT
        CASE
            WHEN value IS NULL THEN 'ok'
            WHEN NOT lower_is_worse AND value > critical THEN 'critical'
            WHEN NOT lower_is_worse AND value > warning THEN 'warning'
            WHEN lower_is_worse AND value < critical THEN 'critical'
            WHEN lower_is_worse AND value < warning THEN 'warning'
            ELSE 'ok'
        END
$$;

COMMENT ON FUNCTION palmdb.health_level(double precision, double precision, double precision, boolean) IS
    'ok, warning or critical for a value against its thresholds (strictly beyond = crossed)';

GRANT EXECUTE ON FUNCTION palmdb.health_level(double precision, double precision, double precision, boolean) TO pg_monitor;
