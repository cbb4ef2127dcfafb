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

-- xid_wraparound_database / xid_wraparound_tables: the oldest unfrozen transaction ID or
-- multixact ID, whichever is older: both stop writes at 2^31, both are fixed by freezing.
CREATE OR REPLACE FUNCTION palmdb.check_xid_wraparound_database(thresholds jsonb DEFAULT '{}')
RETURNS SETOF palmdb.health_check
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.*
    FROM (
        SELECT
            (x.s ->> 'xid_age_warning')::bigint                           AS warning,
            (x.s ->> 'xid_age_critical')::bigint                          AS critical
        FROM palmdb.health_settings(thresholds) AS x (s)
    ) AS t
    CROSS JOIN (
        SELECT
            d.database_name                                               AS database_name,
            d.xid_age                                                     AS xid_age,
            d.multixact_age                                               AS multixact_age,
            greatest(d.xid_age, d.multixact_age)                          AS age
        FROM palmdb.database_xid_age AS d
        ORDER BY age DESC
        LIMIT 1
    ) AS x
    CROSS JOIN LATERAL palmdb.health_row(
        check_name     => 'xid_wraparound_database',
        value          => x.age::double precision,
        warning_level  => t.warning::double precision,
        critical_level => t.critical::double precision,
        threshold      => format('warning > %s, critical > %s transactions or multixacts (the limit is 2147483648)', t.warning, t.critical),
        detail         => format('oldest database %s: transaction-ID age %s, multixact age %s (%s%% of the limit)', x.database_name, x.xid_age, x.multixact_age, round(100 * x.age / 2147483648.0, 2)),
        remedy         => format('-- in database %s: SELECT * FROM palmdb.table_xid_age LIMIT 10; then VACUUM (FREEZE, VERBOSE) each table listed', x.database_name)
    ) AS r
$$;

COMMENT ON FUNCTION palmdb.check_xid_wraparound_database(jsonb) IS
    'transaction-ID age of the oldest database';

CREATE OR REPLACE FUNCTION palmdb.check_xid_wraparound_tables(thresholds jsonb DEFAULT '{}')
RETURNS SETOF palmdb.health_check
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.*
    FROM (
        SELECT
            (x.s ->> 'xid_age_warning')::bigint                           AS warning,
            (x.s ->> 'xid_age_critical')::bigint                          AS critical
        FROM palmdb.health_settings(thresholds) AS x (s)
    ) AS t
    LEFT JOIN LATERAL (
        SELECT
            a.schema_name                                                 AS schema_name,
            a.table_name                                                  AS table_name,
            a.xid_age                                                     AS xid_age,
            a.multixact_age                                               AS multixact_age,
            greatest(a.xid_age, a.multixact_age)                          AS age,
            a.remedy                                                      AS remedy
        FROM palmdb.table_xid_age AS a
        ORDER BY age DESC
        LIMIT 1
    ) AS x
        ON true
    CROSS JOIN LATERAL palmdb.health_row(
        check_name     => 'xid_wraparound_tables',
        value          => coalesce(x.age, 0)::double precision,
        warning_level  => t.warning::double precision,
        critical_level => t.critical::double precision,
        threshold      => format('warning > %s, critical > %s transactions or multixacts (the limit is 2147483648)', t.warning, t.critical),
        detail         => format('oldest table %I.%I: transaction-ID age %s, multixact age %s', x.schema_name, x.table_name, x.xid_age, x.multixact_age),
        remedy         => x.remedy
    ) AS r
$$;

COMMENT ON FUNCTION palmdb.check_xid_wraparound_tables(jsonb) IS
    'transaction-ID age of the oldest table';

GRANT EXECUTE ON FUNCTION palmdb.check_xid_wraparound_database(jsonb) TO pg_monitor;
GRANT EXECUTE ON FUNCTION palmdb.check_xid_wraparound_tables(jsonb) TO pg_monitor;
