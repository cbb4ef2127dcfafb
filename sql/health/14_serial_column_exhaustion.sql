-- serial and identity columns of type smallint or integer, against the maximum of the
-- COLUMN's type: a bigint sequence feeding an integer column fails at 2^31-1, long before
-- the sequence itself runs out. The owning sequence comes from pg_depend ('a' for serial,
-- 'i' for identity). SECURITY DEFINER for the same reason as palmdb.sequence_usage().

CREATE OR REPLACE FUNCTION palmdb.serial_column_usage()
RETURNS TABLE (
    schema_name    name,
    table_name     name,
    column_name    name,
    column_type    regtype,
    sequence_name  text,
    last_value     bigint,
    max_value      bigint,
    used_ratio     numeric
)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT
        n.nspname                                               AS schema_name,
        t.relname                                               AS table_name,
        a.attname                                               AS column_name,
        a.atttypid::regtype                                     AS column_type,
        seq.oid::regclass::text                                 AS sequence_name,
        last.value                                              AS last_value,
        CASE a.atttypid WHEN 'int2'::regtype THEN 32767 ELSE 2147483647 END::bigint
                                                                AS max_value,
        round(
            last.value::numeric
                / CASE a.atttypid WHEN 'int2'::regtype THEN 32767 ELSE 2147483647 END,
            6
        )                                                       AS used_ratio
    FROM pg_depend AS d
    JOIN pg_class AS seq
        ON seq.oid = d.objid
        AND seq.relkind = 'S'
    JOIN pg_sequence AS ps
        ON ps.seqrelid = seq.oid
    JOIN pg_class AS t
        ON t.oid = d.refobjid
    JOIN pg_namespace AS n
        ON n.oid = t.relnamespace
    JOIN pg_attribute AS a
        ON a.attrelid = d.refobjid
        AND a.attnum = d.refobjsubid
    -- Read the sequence only for the narrow columns: reading thousands of bigint ones is the
    -- expensive part on a large schema.
    CROSS JOIN LATERAL (
        SELECT pg_sequence_last_value(seq.oid) AS value
    ) AS last
    WHERE d.classid = 'pg_class'::regclass
        AND d.refclassid = 'pg_class'::regclass
        AND d.deptype IN ('a', 'i')
        AND a.atttypid IN ('int2'::regtype, 'int4'::regtype)
        AND ps.seqincrement > 0
        AND last.value IS NOT NULL
    ORDER BY used_ratio DESC, schema_name, table_name, column_name
$$;

COMMENT ON FUNCTION palmdb.serial_column_usage() IS
    'serial/identity smallint and integer columns: share of the column type''s range used';

CREATE OR REPLACE VIEW palmdb.serial_column_usage AS
SELECT
    u.schema_name                                           AS schema_name,
    u.table_name                                            AS table_name,
    u.column_name                                           AS column_name,
    u.column_type                                           AS column_type,
    u.sequence_name                                         AS sequence_name,
    u.last_value                                            AS last_value,
    u.max_value                                             AS max_value,
    u.used_ratio                                            AS used_ratio
FROM palmdb.serial_column_usage() AS u;

COMMENT ON VIEW palmdb.serial_column_usage IS
    'serial/identity smallint and integer columns: share of the column type''s range used';

REVOKE ALL ON FUNCTION palmdb.serial_column_usage() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION palmdb.serial_column_usage() TO pg_monitor;
GRANT SELECT ON palmdb.serial_column_usage TO pg_monitor;

-- serial_column_exhaustion: the fullest smallint or integer serial/identity column.
CREATE OR REPLACE FUNCTION palmdb.check_serial_column_exhaustion(thresholds jsonb DEFAULT '{}')
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
        FROM palmdb.serial_column_usage() AS u
        ORDER BY u.used_ratio DESC
        LIMIT 1
    ) AS s
        ON true
    CROSS JOIN LATERAL palmdb.health_row(
        check_name     => 'serial_column_exhaustion',
        value          => coalesce(s.used_ratio, 0)::double precision,
        warning_level  => t.warning,
        critical_level => t.critical,
        threshold      => format('warning > %s, critical > %s of the column type''s range', t.warning, t.critical),
        detail         => CASE
            WHEN s.column_name IS NULL THEN 'no smallint or integer serial/identity column has been used yet'
            ELSE format('fullest column %I.%I.%I (%s): %s of %s (%s%%)', s.schema_name, s.table_name, s.column_name, s.column_type, s.last_value, s.max_value, round(100 * s.used_ratio, 2))
        END,
        -- format() refuses NULL identifiers: no remedy when there is no column to name.
        remedy         => CASE
            WHEN s.column_name IS NOT NULL
            THEN format('ALTER TABLE %I.%I ALTER COLUMN %I TYPE bigint;  -- rewrites the table: plan a window', s.schema_name, s.table_name, s.column_name)
        END
    ) AS r
$$;

COMMENT ON FUNCTION palmdb.check_serial_column_exhaustion(jsonb) IS
    'share of a serial/identity integer column''s range used';

GRANT EXECUTE ON FUNCTION palmdb.check_serial_column_exhaustion(jsonb) TO pg_monitor;
