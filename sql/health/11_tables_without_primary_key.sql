-- Tables without a primary key: rows cannot be addressed reliably, logical replication
-- cannot replicate their UPDATEs and DELETEs, and duplicates creep in unnoticed.

CREATE OR REPLACE VIEW palmdb.tables_without_primary_key AS
SELECT
    n.nspname                                      AS schema_name,
    t.relname                                      AS table_name,
    t.reltuples::bigint                            AS estimated_rows,
    format(
        'ALTER TABLE %I.%I ADD PRIMARY KEY (...);  -- or: ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY',
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
