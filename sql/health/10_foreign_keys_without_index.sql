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
