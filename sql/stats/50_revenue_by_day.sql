-- Completed orders and their revenue per UTC day, from_day to to_day inclusive, one row per
-- day and currency (amounts in different currencies are never added up). Days without a
-- completed order have no row.
-- Reads palmdb.daily_revenue (migration V11), which triggers on preorders keep current: a
-- few stripes per day and currency, found by its primary key, instead of every completed
-- order in the range.
-- The body names palmdb.daily_revenue, which a database migrated with other migrations
-- (tests, --migrations-dir) may lack; like pg_restore, create the function without resolving
-- it. The tests call every function, so a typo still fails the build.
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
    SELECT r.day AS day,
           r.currency AS currency,
           sum(r.orders)::bigint AS orders,
           sum(r.revenue_cents)::bigint AS revenue_cents
    FROM palmdb.daily_revenue AS r
    WHERE r.day BETWEEN revenue_by_day.from_day AND revenue_by_day.to_day
    GROUP BY r.day, r.currency
    HAVING sum(r.orders) > 0
    ORDER BY 1, 2
$$;

REVOKE ALL ON FUNCTION palmdb.revenue_by_day(date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION palmdb.revenue_by_day(date, date) TO pg_read_all_data;
