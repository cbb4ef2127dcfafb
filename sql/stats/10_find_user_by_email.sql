-- The account behind an address, whatever its case: served by users_email_lower_key, the
-- unique index on lower(email). A one-SELECT STABLE SQL function, so the planner inlines it
-- and EXPLAIN of a call shows the index scan.
-- The body names Palm's tables, which a database migrated with other migrations (tests,
-- --migrations-dir) may lack; like pg_restore, create the function without resolving them.
-- The tests call every function, so a typo still fails the build.
SET LOCAL check_function_bodies = off;

CREATE OR REPLACE FUNCTION palmdb.find_user_by_email(address text)
RETURNS TABLE (
    id uuid,
    email text,
    name text,
    role text,
    created_at timestamptz
)
LANGUAGE sql
STABLE PARALLEL SAFE
ROWS 1
AS $$
    SELECT u.id AS id,
           u.email AS email,
           u.name AS name,
           u.role AS role,
           u.created_at AS created_at
    FROM public.users AS u
    WHERE lower(u.email) = lower(find_user_by_email.address)
$$;

REVOKE ALL ON FUNCTION palmdb.find_user_by_email(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION palmdb.find_user_by_email(text) TO pg_read_all_data;
