-- Transaction-ID and multixact age: how far each database and table is from the 2^31 limit
-- at which PostgreSQL stops accepting writes to prevent wraparound. VACUUM (FREEZE) lowers it;
-- autovacuum normally does so once an age passes autovacuum_freeze_max_age.

CREATE OR REPLACE VIEW palmdb.database_xid_age AS
SELECT
    d.datname                                                AS database_name,
    age(d.datfrozenxid)::bigint                              AS xid_age,
    mxid_age(d.datminmxid)::bigint                           AS multixact_age,
    round(age(d.datfrozenxid)::numeric / 2147483648, 4)      AS share_of_limit,
    current_setting('autovacuum_freeze_max_age')::bigint     AS autovacuum_freeze_max_age
FROM pg_database AS d
WHERE d.datallowconn
ORDER BY xid_age DESC;

COMMENT ON VIEW palmdb.database_xid_age IS
    'Transaction-ID age of every database that accepts connections, oldest first';

-- A TOAST table is frozen separately; it is reported under the table that owns it.
CREATE OR REPLACE VIEW palmdb.table_xid_age AS
SELECT
    n.nspname                                                AS schema_name,
    owner_table.relname                                      AS table_name,
    c.relkind = 't'                                          AS is_toast,
    age(c.relfrozenxid)::bigint                              AS xid_age,
    mxid_age(c.relminmxid)::bigint                           AS multixact_age,
    round(age(c.relfrozenxid)::numeric / 2147483648, 4)      AS share_of_limit,
    format('VACUUM (FREEZE, VERBOSE) %I.%I;', n.nspname, owner_table.relname)
                                                             AS remedy
FROM pg_class AS c
LEFT JOIN pg_class AS owning
    ON c.relkind = 't'
    AND owning.reltoastrelid = c.oid
JOIN pg_class AS owner_table
    ON owner_table.oid = coalesce(owning.oid, c.oid)
JOIN pg_namespace AS n
    ON n.oid = owner_table.relnamespace
WHERE c.relkind IN ('r', 'm', 't')
    AND c.relfrozenxid <> '0'
    AND n.nspname NOT LIKE 'pg_temp%'
ORDER BY xid_age DESC;

COMMENT ON VIEW palmdb.table_xid_age IS
    'Transaction-ID age per table (TOAST under its table) in the current database, oldest first';

GRANT SELECT ON palmdb.database_xid_age TO pg_monitor;
GRANT SELECT ON palmdb.table_xid_age TO pg_monitor;
