-- Indexes marked INVALID: a CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY that failed
-- halfway. The planner never uses them, yet every write still pays to maintain them.

CREATE OR REPLACE VIEW palmdb.invalid_indexes AS
SELECT
    n.nspname                                      AS schema_name,
    t.relname                                      AS table_name,
    ic.relname                                     AS index_name,
    pg_get_indexdef(i.indexrelid)                  AS index_definition,
    pg_relation_size(i.indexrelid)                 AS index_bytes,
    format('REINDEX INDEX CONCURRENTLY %I.%I;', n.nspname, ic.relname)
                                                   AS remedy
FROM pg_index AS i
JOIN pg_class AS ic
    ON ic.oid = i.indexrelid
JOIN pg_class AS t
    ON t.oid = i.indrelid
JOIN pg_namespace AS n
    ON n.oid = ic.relnamespace
WHERE NOT i.indisvalid
    AND n.nspname NOT LIKE 'pg_temp%'
ORDER BY schema_name, table_name, index_name;

COMMENT ON VIEW palmdb.invalid_indexes IS
    'INVALID indexes left by failed concurrent builds; rebuild or drop them';

GRANT SELECT ON palmdb.invalid_indexes TO pg_monitor;
