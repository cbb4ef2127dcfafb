-- Tables without a primary key: rows cannot be addressed reliably, logical replication
-- cannot replicate their UPDATEs and DELETEs, and duplicates creep in unnoticed.

CREATE OR REPLACE VIEW palmdb.tables_without_primary_key AS
SELECT
    n.nspname                                      AS schema_name,
    t.relname                                      AS table_name,
    t.reltuples::bigint                            AS estimated_rows,
    format(
        'ALTER TABLE %I.%I ADD PRIMARY KEY (...);  /* or: ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY */',
        n.nspname,
        t.relname
    )                                              AS remedy
FROM pg_class AS t
JOIN pg_namespace AS n
    ON n.oid = t.relnamespace
WHERE t.relkind IN ('r', 'p')
    AND NOT t.relispartition
    AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
    AND n.nspname NOT LIKE 'pg_temp%'
    AND NOT EXISTS (
        SELECT 1
        FROM pg_constraint AS con
        WHERE con.conrelid = t.oid
            AND con.contype = 'p'
    )
ORDER BY schema_name, table_name;

COMMENT ON VIEW palmdb.tables_without_primary_key IS
    'Ordinary and partitioned tables with no primary key';

GRANT SELECT ON palmdb.tables_without_primary_key TO pg_monitor;

-- tables_without_primary_key: how many tables lack a primary key; any one is a warning.
CREATE OR REPLACE FUNCTION palmdb.check_tables_without_primary_key(thresholds jsonb DEFAULT '{}')
RETURNS SETOF palmdb.health_check
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.*
    FROM (
        SELECT
            count(*)                                                      AS n,
            string_agg(format('%I.%I', x.schema_name, x.table_name), ', ') AS names,
            string_agg(x.remedy, ' ')                                     AS remedies
        FROM palmdb.tables_without_primary_key AS x
    ) AS f
    CROSS JOIN LATERAL palmdb.health_row(
        check_name     => 'tables_without_primary_key',
        value          => f.n::double precision,
        warning_level  => 0,
        critical_level => NULL,
        threshold      => 'warning > 0',
        detail         => CASE
            WHEN f.n = 0 THEN 'every table has a primary key'
            ELSE format('%s table%s without a primary key: %s', f.n, CASE WHEN f.n = 1 THEN '' ELSE 's' END, f.names)
        END,
        remedy         => f.remedies
    ) AS r
    -- Takes no threshold; validated all the same, so that a typo is refused everywhere.
    CROSS JOIN palmdb.health_settings(thresholds) AS validated
$$;

COMMENT ON FUNCTION palmdb.check_tables_without_primary_key(jsonb) IS
    'tables without a primary key';

GRANT EXECUTE ON FUNCTION palmdb.check_tables_without_primary_key(jsonb) TO pg_monitor;
