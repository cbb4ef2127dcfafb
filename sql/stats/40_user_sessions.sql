-- One user's palm analysis sessions, newest first, a page at a time. Keyset pagination:
-- pass the id of the last session of a page as `before` for the next page.
-- Served by palm_analysis_sessions_user_created_idx (user_id, created_at, id).
-- The body names Palm's tables and types, which a database migrated with other migrations
-- (tests, --migrations-dir) may lack; like pg_restore, create the function without
-- compiling the body. The tests call every function, so a typo still fails the build.
SET LOCAL check_function_bodies = off;

CREATE OR REPLACE FUNCTION palmdb.user_sessions(
    for_user uuid,
    page_size integer DEFAULT 20,
    before bigint DEFAULT NULL
)
RETURNS TABLE (
    id bigint,
    status text,
    analysis_type text,
    result jsonb,
    error_message text,
    created_at timestamptz,
    completed_at timestamptz
)
LANGUAGE plpgsql
STABLE PARALLEL SAFE
AS $$
DECLARE
    cursor_created_at timestamptz := 'infinity';
    cursor_id bigint := 9223372036854775807;
BEGIN
    IF user_sessions.before IS NOT NULL THEN
        SELECT a.created_at, a.id
        INTO cursor_created_at, cursor_id
        FROM public.palm_analysis_sessions AS a
        WHERE a.id = user_sessions.before
          AND a.user_id = user_sessions.for_user;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'user % has no session with id % to page from',
                user_sessions.for_user, user_sessions.before
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    RETURN QUERY
        SELECT a.id AS id,
               a.status::text AS status,
               a.analysis_type AS analysis_type,
               a.result AS result,
               a.error_message AS error_message,
               a.created_at AS created_at,
               a.completed_at AS completed_at
        FROM public.palm_analysis_sessions AS a
        WHERE a.user_id = user_sessions.for_user
          AND (a.created_at, a.id) < (cursor_created_at, cursor_id)
        ORDER BY a.created_at DESC, a.id DESC
        LIMIT palmdb.page_size(user_sessions.page_size);
END
$$;

REVOKE ALL ON FUNCTION palmdb.user_sessions(uuid, integer, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION palmdb.user_sessions(uuid, integer, bigint) TO pg_read_all_data;
