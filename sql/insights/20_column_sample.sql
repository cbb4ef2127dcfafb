-- A value of a column, from the planner's own statistics (pg_stats): `palmdb advise` puts it
-- in place of a statement's parameters ($1, $2...) on PostgreSQL before 16, which cannot
-- EXPLAIN a statement with parameters (16 has EXPLAIN (GENERIC_PLAN)).
-- - quantile NULL, for `col = $1`: a typical value. The middle bound of the histogram is a
--   typical value among the less common ones; a column whose values are all common (a status,
--   a role) has no histogram, and its most common value stands for it.
-- - quantile q, for `col < $1` (1/3) or `col > $1` (2/3): the value at that position in the
--   column's order, so that the comparison keeps about the share of rows a generic plan
--   assumes (one third). Without a histogram the common values are sorted by the column's
--   own type (an enum by its order, a number as a number) to find it.
-- NULL when the column has no statistics (never analyzed) or the caller may not read it
-- (pg_stats only shows the columns the caller can SELECT).
-- anyarray cannot be subscripted directly: its text form is read back as text[].

-- Dropped first: the parameters changed.
DROP FUNCTION IF EXISTS palmdb.column_sample;

CREATE OR REPLACE FUNCTION palmdb.column_sample(
    table_name regclass,
    column_name name,
    quantile float8 DEFAULT NULL
)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    histogram text[];
    common text[];
    column_type text;
    sorted text[];
BEGIN
    SELECT s.histogram_bounds::text::text[],
           s.most_common_vals::text::text[],
           format_type(a.atttypid, a.atttypmod)
    INTO histogram, common, column_type
    FROM pg_class AS c
    JOIN pg_namespace AS n
        ON n.oid = c.relnamespace
    JOIN pg_attribute AS a
        ON a.attrelid = c.oid
        AND a.attname = column_sample.column_name
    JOIN pg_stats AS s
        ON s.schemaname = n.nspname
        AND s.tablename = c.relname
        AND s.attname = a.attname
    WHERE c.oid = column_sample.table_name
    -- A plain table has only inherited = false; a partitioned one only inherited = true.
    ORDER BY s.inherited
    LIMIT 1;

    IF column_sample.quantile IS NULL THEN
        RETURN coalesce(histogram[(cardinality(histogram) + 1) / 2], common[1]);
    END IF;
    IF cardinality(histogram) > 0 THEN
        RETURN histogram[1 + round(column_sample.quantile * (cardinality(histogram) - 1))::int];
    END IF;
    IF cardinality(common) > 0 THEN
        EXECUTE format(
            'SELECT array_agg(v::text ORDER BY v) FROM unnest($1::%s[]) AS v',
            column_type
        )
        INTO sorted
        USING common;
        RETURN sorted[1 + round(column_sample.quantile * (cardinality(sorted) - 1))::int];
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION palmdb.column_sample(regclass, name, float8) IS
    'A value of a column from pg_stats: typical (quantile NULL), or at a quantile of its order';

GRANT EXECUTE ON FUNCTION palmdb.column_sample(regclass, name, float8) TO pg_monitor;
