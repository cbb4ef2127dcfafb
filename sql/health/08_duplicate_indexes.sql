-- Indexes made redundant by another index on the same table (pgHero's rule): both valid,
-- same access method, same expressions, same predicate, and the other index's key columns
-- start with this index's key columns (same operator classes, collations and sort order).
-- Unique and primary-key indexes are never the redundant one: they enforce a constraint.
-- Two identical indexes list only the younger one (higher OID), so one of them stays.

CREATE OR REPLACE VIEW palmdb.duplicate_indexes AS
WITH keyed AS (
    SELECT
        i.indexrelid                                           AS index_oid,
        i.indrelid                                             AS table_oid,
        ic.relam                                               AS access_method,
        i.indisunique                                          AS is_unique,
        i.indisprimary                                         AS is_primary,
        i.indnkeyatts                                          AS key_count,
        i.indnatts                                             AS column_count,
        -- int2vector/oidvector are 0-based; slices make 1-based arrays that compare cleanly.
        (i.indkey::int2[])[0:i.indnkeyatts - 1]                AS key_columns,
        (i.indclass::oid[])[0:i.indnkeyatts - 1]               AS key_opclasses,
        (i.indcollation::oid[])[0:i.indnkeyatts - 1]           AS key_collations,
        (i.indoption::int2[])[0:i.indnkeyatts - 1]             AS key_options,
        coalesce(pg_get_expr(i.indexprs, i.indrelid), '')      AS expressions,
        coalesce(pg_get_expr(i.indpred, i.indrelid), '')       AS predicate
    FROM pg_index AS i
    JOIN pg_class AS ic
        ON ic.oid = i.indexrelid
    JOIN pg_namespace AS n
        ON n.oid = ic.relnamespace
    WHERE i.indisvalid
        AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
        AND n.nspname NOT LIKE 'pg_temp%'
)
SELECT
    n.nspname                                                  AS schema_name,
    t.relname                                                  AS table_name,
    redundant_class.relname                                    AS index_name,
    covering_class.relname                                     AS covered_by,
    pg_get_indexdef(redundant.index_oid)                       AS index_definition,
    pg_get_indexdef(covering.index_oid)                        AS covered_by_definition,
    pg_relation_size(redundant.index_oid)                      AS index_bytes,
    format('DROP INDEX CONCURRENTLY %I.%I;', n.nspname, redundant_class.relname)
                                                               AS remedy
FROM keyed AS redundant
JOIN keyed AS covering
    ON covering.table_oid = redundant.table_oid
    AND covering.index_oid <> redundant.index_oid
    AND covering.access_method = redundant.access_method
    AND covering.expressions = redundant.expressions
    AND covering.predicate = redundant.predicate
    AND covering.key_count >= redundant.key_count
    AND covering.key_columns[1:redundant.key_count] = redundant.key_columns
    AND covering.key_opclasses[1:redundant.key_count] = redundant.key_opclasses
    AND covering.key_collations[1:redundant.key_count] = redundant.key_collations
    AND covering.key_options[1:redundant.key_count] = redundant.key_options
JOIN pg_class AS redundant_class
    ON redundant_class.oid = redundant.index_oid
JOIN pg_class AS covering_class
    ON covering_class.oid = covering.index_oid
JOIN pg_class AS t
    ON t.oid = redundant.table_oid
JOIN pg_namespace AS n
    ON n.oid = t.relnamespace
WHERE NOT redundant.is_unique
    AND NOT redundant.is_primary
    -- INCLUDE columns are part of what the redundant index offers; keep it simple and safe.
    AND redundant.column_count = redundant.key_count
    AND (
        covering.key_count > redundant.key_count
        OR covering.is_unique
        OR covering.is_primary
        OR covering.column_count > covering.key_count
        OR covering.index_oid < redundant.index_oid
    )
ORDER BY schema_name, table_name, index_name, covered_by;

COMMENT ON VIEW palmdb.duplicate_indexes IS
    'Indexes whose key columns are a prefix of another index with the same method, expressions and predicate';

GRANT SELECT ON palmdb.duplicate_indexes TO pg_monitor;

-- duplicate_indexes: how many indexes are redundant; any one is a warning.
CREATE OR REPLACE FUNCTION palmdb.check_duplicate_indexes(thresholds jsonb DEFAULT '{}')
RETURNS SETOF palmdb.health_check
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.*
    FROM (
        SELECT
            count(DISTINCT (x.schema_name, x.index_name))                 AS n,
            string_agg(format('%I.%I (covered by %I)', x.schema_name, x.index_name, x.covered_by), ', ')
                                                                          AS names,
            string_agg(DISTINCT x.remedy, ' ')                            AS remedies
        FROM palmdb.duplicate_indexes AS x
    ) AS f
    CROSS JOIN LATERAL palmdb.health_row(
        check_name     => 'duplicate_indexes',
        value          => f.n::double precision,
        warning_level  => 0,
        critical_level => NULL,
        threshold      => 'warning > 0',
        detail         => CASE
            WHEN f.n = 0 THEN 'no index is made redundant by another'
            ELSE format('%s redundant index%s: %s', f.n, CASE WHEN f.n = 1 THEN '' ELSE 'es' END, f.names)
        END,
        remedy         => f.remedies
    ) AS r
    -- Takes no threshold; validated all the same, so that a typo is refused everywhere.
    CROSS JOIN palmdb.health_settings(thresholds) AS validated
$$;

COMMENT ON FUNCTION palmdb.check_duplicate_indexes(jsonb) IS
    'indexes made redundant by another index';

GRANT EXECUTE ON FUNCTION palmdb.check_duplicate_indexes(jsonb) TO pg_monitor;
