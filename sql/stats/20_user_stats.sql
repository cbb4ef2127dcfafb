-- One user's order and analysis figures in one row; no row for an unknown user. Counts and
-- revenue are zeros, never NULL, for a user without orders or sessions; the activity times
-- are NULL when there was no activity at all.
-- Served by Index Only Scans of preorders_user_id_idx and
-- palm_analysis_sessions_user_created_idx (user_id first, V13 INCLUDEs every column read here),
-- so a user picked at random costs a few index pages, not one heap page per order or session.
-- revenue_cents adds completed orders' stripe_amount, in each order's own currency.
-- The body names Palm's tables, which a database migrated with other migrations (tests,
-- --migrations-dir) may lack; like pg_restore, create the function without resolving them.
-- The tests call every function, so a typo still fails the build.
SET LOCAL check_function_bodies = off;

CREATE OR REPLACE FUNCTION palmdb.user_stats(for_user uuid)
RETURNS TABLE (
    user_id uuid,
    email text,
    role text,
    signed_up_at timestamptz,
    orders_total bigint,
    orders_completed bigint,
    orders_refunded bigint,
    revenue_cents bigint,
    sessions_total bigint,
    sessions_completed bigint,
    sessions_failed bigint,
    first_activity_at timestamptz,
    last_activity_at timestamptz
)
LANGUAGE sql
STABLE PARALLEL SAFE
ROWS 1
AS $$
    SELECT u.id AS user_id,
           u.email AS email,
           u.role AS role,
           u.created_at AS signed_up_at,
           o.total AS orders_total,
           o.completed AS orders_completed,
           o.refunded AS orders_refunded,
           o.revenue_cents AS revenue_cents,
           s.total AS sessions_total,
           s.completed AS sessions_completed,
           s.failed AS sessions_failed,
           -- LEAST and GREATEST skip NULLs: a user with sessions but no orders still has both.
           LEAST(o.first_at, s.first_at) AS first_activity_at,
           GREATEST(o.last_at, s.last_at) AS last_activity_at
    FROM public.users AS u
    CROSS JOIN LATERAL (
        SELECT count(*) AS total,
               count(*) FILTER (WHERE p.status = 'completed') AS completed,
               count(*) FILTER (WHERE p.status = 'refunded') AS refunded,
               COALESCE(SUM(p.stripe_amount) FILTER (WHERE p.status = 'completed'), 0) AS revenue_cents,
               min(p.created_at) AS first_at,
               max(p.updated_at) AS last_at
        FROM public.preorders AS p
        WHERE p.user_id = u.id
    ) AS o
    CROSS JOIN LATERAL (
        SELECT count(*) AS total,
               count(*) FILTER (WHERE a.status = 'completed') AS completed,
               count(*) FILTER (WHERE a.status = 'failed') AS failed,
               min(a.created_at) AS first_at,
               max(a.updated_at) AS last_at
        FROM public.palm_analysis_sessions AS a
        WHERE a.user_id = u.id
    ) AS s
    WHERE u.id = user_stats.for_user
$$;

REVOKE ALL ON FUNCTION palmdb.user_stats(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION palmdb.user_stats(uuid) TO pg_read_all_data;
