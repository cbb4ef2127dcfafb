-- Completed orders and their revenue per UTC day, from_day to to_day inclusive, one row per
-- day and currency (amounts in different currencies are never added up). Days without a
-- completed order have no row.
-- Served by preorders_status_created_at_idx (status, created_at, id) INCLUDE (stripe_amount,
-- currency): an index-only range scan, no table reads once the visibility map is set.
-- The body names Palm's tables, which a database migrated with other migrations (tests,
-- --migrations-dir) may lack; like pg_restore, create the function without resolving them.
-- The tests call every function, so a typo still fails the build.
SET LOCAL check_function_bodies = off;

CREATE OR REPLACE FUNCTION palmdb.revenue_by_day(from_day date, to_day date)
RETURNS TABLE (
    day date,
    currency text,
    orders bigint,
    revenue_cents bigint
)
LANGUAGE sql
STABLE PARALLEL SAFE
AS $$
    SELECT (p.created_at AT TIME ZONE 'UTC')::date AS day,
           p.currency AS currency,
           count(*) AS orders,
           sum(p.stripe_amount)::bigint AS revenue_cents
    FROM public.preorders AS p
    WHERE p.status = 'completed'
      AND p.created_at >= (revenue_by_day.from_day::timestamp AT TIME ZONE 'UTC')
      AND p.created_at < ((revenue_by_day.to_day + 1)::timestamp AT TIME ZONE 'UTC')
    GROUP BY 1, 2
    ORDER BY 1, 2
$$;

REVOKE ALL ON FUNCTION palmdb.revenue_by_day(date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION palmdb.revenue_by_day(date, date) TO pg_read_all_data;
