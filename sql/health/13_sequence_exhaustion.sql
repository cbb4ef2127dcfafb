-- How much of each sequence's range is used. pg_sequences shows last_value only to roles
-- with USAGE or SELECT on the sequence, which a monitoring role does not have; the function
-- runs as its owner (the role that ran palmdb migrate) and returns figures only, never data.

CREATE OR REPLACE FUNCTION palmdb.sequence_usage()
RETURNS TABLE (
    schema_name  name,
    sequence_name name,
    data_type    regtype,
    last_value   bigint,
    max_value    bigint,
    used_ratio   numeric
)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT
        s.schemaname                                        AS schema_name,
        s.sequencename                                      AS sequence_name,
        s.data_type                                         AS data_type,
        s.last_value                                        AS last_value,
        CASE WHEN s.increment_by > 0 THEN s.max_value ELSE s.min_value END
                                                            AS max_value,
        -- Descending sequences run towards min_value; both sides are negative then.
        round(
            CASE
                WHEN s.increment_by > 0 THEN s.last_value::numeric / s.max_value
                ELSE s.last_value::numeric / s.min_value
            END,
            6
        )                                                   AS used_ratio
    FROM pg_sequences AS s
    WHERE s.schemaname NOT LIKE 'pg_temp%'
        AND NOT s.cycle
        AND s.last_value IS NOT NULL
    ORDER BY used_ratio DESC, schema_name, sequence_name
$$;

COMMENT ON FUNCTION palmdb.sequence_usage() IS
    'Share of each non-cycling sequence''s range already used, highest first';

CREATE OR REPLACE VIEW palmdb.sequence_usage AS
SELECT
    u.schema_name                                           AS schema_name,
    u.sequence_name                                         AS sequence_name,
    u.data_type                                             AS data_type,
    u.last_value                                            AS last_value,
    u.max_value                                             AS max_value,
    u.used_ratio                                            AS used_ratio
FROM palmdb.sequence_usage() AS u;

COMMENT ON VIEW palmdb.sequence_usage IS
    'Share of each non-cycling sequence''s range already used, highest first';

REVOKE ALL ON FUNCTION palmdb.sequence_usage() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION palmdb.sequence_usage() TO pg_monitor;
GRANT SELECT ON palmdb.sequence_usage TO pg_monitor;

-- sequence_exhaustion: the fullest sequence.
CREATE OR REPLACE FUNCTION palmdb.check_sequence_exhaustion(thresholds jsonb DEFAULT '{}')
RETURNS SETOF palmdb.health_check
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.*
    FROM (
        SELECT
            (x.s ->> 'sequence_warning')::double precision                AS warning,
            (x.s ->> 'sequence_critical')::double precision               AS critical
        FROM palmdb.health_settings(thresholds) AS x (s)
    ) AS t
    LEFT JOIN LATERAL (
        SELECT u.*
        FROM palmdb.sequence_usage() AS u
        ORDER BY u.used_ratio DESC
        LIMIT 1
    ) AS s
        ON true
    CROSS JOIN LATERAL palmdb.health_row(
        check_name     => 'sequence_exhaustion',
        value          => coalesce(s.used_ratio, 0)::double precision,
        warning_level  => t.warning,
        critical_level => t.critical,
        threshold      => format('warning > %s, critical > %s of the sequence''s range', t.warning, t.critical),
        detail         => CASE
            WHEN s.sequence_name IS NULL THEN 'no sequence has been used yet'
            ELSE format('fullest sequence %I.%I (%s): %s of %s (%s%%)', s.schema_name, s.sequence_name, s.data_type, s.last_value, s.max_value, round(100 * s.used_ratio, 2))
        END,
        -- format() refuses NULL identifiers: no remedy when there is no sequence to name.
        remedy         => CASE
            WHEN s.sequence_name IS NOT NULL
            THEN format('ALTER SEQUENCE %I.%I AS bigint MAXVALUE 9223372036854775807;  -- and widen the columns it feeds', s.schema_name, s.sequence_name)
        END
    ) AS r
$$;

COMMENT ON FUNCTION palmdb.check_sequence_exhaustion(jsonb) IS
    'share of the fullest sequence''s range used';

GRANT EXECUTE ON FUNCTION palmdb.check_sequence_exhaustion(jsonb) TO pg_monitor;
