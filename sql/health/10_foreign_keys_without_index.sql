-- Foreign keys whose referencing columns do not lead any valid, non-partial index. Without
-- one, every DELETE or key UPDATE on the referenced table scans the referencing table, and
-- holds its lock meanwhile. The columns may lead the index in any order.

CREATE OR REPLACE VIEW palmdb.foreign_keys_without_index AS
SELECT
    n.nspname                                                  AS schema_name,
    t.relname                                                  AS table_name,
    con.conname                                                AS constraint_name,
    con.confrelid::regclass::text                              AS referenced_table,
    string_agg(quote_ident(a.attname), ', ' ORDER BY k.position)
                                                               AS columns,
    format(
        'CREATE INDEX CONCURRENTLY ON %I.%I (%s);',
        n.nspname,
        t.relname,
        string_agg(quote_ident(a.attname), ', ' ORDER BY k.position)
    )                                                          AS remedy
FROM pg_constraint AS con
JOIN pg_class AS t
    ON t.oid = con.conrelid
JOIN pg_namespace AS n
    ON n.oid = t.relnamespace
CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, position)
JOIN pg_attribute AS a
    ON a.attrelid = con.conrelid
    AND a.attnum = k.attnum
WHERE con.contype = 'f'
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND NOT EXISTS (
        SELECT 1
        FROM pg_index AS i
        WHERE i.indrelid = con.conrelid
            AND i.indisvalid
            AND i.indpred IS NULL
            AND i.indnkeyatts >= cardinality(con.conkey)
            AND (i.indkey::int2[])[0:cardinality(con.conkey) - 1] @> con.conkey
            AND (i.indkey::int2[])[0:cardinality(con.conkey) - 1] <@ con.conkey
    )
GROUP BY n.nspname, t.relname, con.conname, con.confrelid
ORDER BY schema_name, table_name, constraint_name;

COMMENT ON VIEW palmdb.foreign_keys_without_index IS
    'Foreign keys with no index leading on their columns, and the CREATE INDEX that fixes each';

GRANT SELECT ON palmdb.foreign_keys_without_index TO pg_monitor;

-- foreign_keys_without_index: how many foreign keys lack an index; any one is a warning.
CREATE OR REPLACE FUNCTION palmdb.check_foreign_keys_without_index(thresholds jsonb DEFAULT '{}')
RETURNS SETOF palmdb.health_check
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.*
    FROM (
        SELECT
            count(*)                                                      AS n,
            string_agg(format('%I.%I (%s)', x.schema_name, x.table_name, x.columns), ', ')
                                                                          AS names,
            string_agg(x.remedy, ' ')                                     AS remedies
        FROM palmdb.foreign_keys_without_index AS x
    ) AS f
    CROSS JOIN LATERAL palmdb.health_row(
        check_name     => 'foreign_keys_without_index',
        value          => f.n::double precision,
        warning_level  => 0,
        critical_level => NULL,
        threshold      => 'warning > 0',
        detail         => CASE
            WHEN f.n = 0 THEN 'every foreign key has an index on its columns'
            ELSE format('%s foreign key%s without an index: %s', f.n, CASE WHEN f.n = 1 THEN '' ELSE 's' END, f.names)
        END,
        remedy         => f.remedies
    ) AS r
    -- Takes no threshold; validated all the same, so that a typo is refused everywhere.
    CROSS JOIN palmdb.health_settings(thresholds) AS validated
$$;

COMMENT ON FUNCTION palmdb.check_foreign_keys_without_index(jsonb) IS
    'foreign keys with no index on their columns';

GRANT EXECUTE ON FUNCTION palmdb.check_foreign_keys_without_index(jsonb) TO pg_monitor;
