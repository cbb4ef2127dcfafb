-- The admin page's user list: users of one role, newest signups first, a page at a time.
-- Keyset pagination: pass the id of the last user of a page as `before` for the next page.
-- Served by users_role_created_at_idx (role, created_at, id).
-- The body names Palm's tables and types, which a database migrated with other migrations
-- (tests, --migrations-dir) may lack; like pg_restore, create the function without
-- compiling the body. The tests call every function, so a typo still fails the build.
SET LOCAL check_function_bodies = off;

CREATE OR REPLACE FUNCTION palmdb.users_by_role(
    wanted_role text,
    page_size integer DEFAULT 50,
    before uuid DEFAULT NULL
)
RETURNS TABLE (
    id uuid,
    email text,
    name text,
    role text,
    created_at timestamptz
)
LANGUAGE plpgsql
STABLE PARALLEL SAFE
AS $$
DECLARE
    -- The values users.role's CHECK constraint allows (migrations/V1__palm_schema.sql).
    allowed constant text[] := ARRAY['user', 'admin'];
    cursor_created_at timestamptz := 'infinity';
    -- The largest uuid: every id sorts below it.
    cursor_id uuid := 'ffffffff-ffff-ffff-ffff-ffffffffffff';
BEGIN
    IF users_by_role.wanted_role IS NULL OR NOT users_by_role.wanted_role = ANY (allowed) THEN
        RAISE EXCEPTION 'unknown role "%"', coalesce(users_by_role.wanted_role, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'allowed values: ' || array_to_string(allowed, ', ');
    END IF;
    IF users_by_role.before IS NOT NULL THEN
        SELECT u.created_at, u.id
        INTO cursor_created_at, cursor_id
        FROM public.users AS u
        WHERE u.id = users_by_role.before;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no user with id % to page from', users_by_role.before
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    RETURN QUERY
        SELECT u.id AS id,
               u.email AS email,
               u.name AS name,
               u.role AS role,
               u.created_at AS created_at
        FROM public.users AS u
        WHERE u.role = users_by_role.wanted_role
          AND (u.created_at, u.id) < (cursor_created_at, cursor_id)
        ORDER BY u.created_at DESC, u.id DESC
        LIMIT palmdb.page_size(users_by_role.page_size);
END
$$;

REVOKE ALL ON FUNCTION palmdb.users_by_role(text, integer, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION palmdb.users_by_role(text, integer, uuid) TO pg_read_all_data;
