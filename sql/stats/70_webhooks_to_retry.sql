-- The retry queue: failed webhook deliveries that have not used up their attempts, oldest
-- first. Retrying changes a row's status, so the queue needs no cursor.
-- Served by webhook_logs_failed_created_at_idx, a partial index on (created_at, id) WHERE
-- status = 'failed': it holds only the few failed rows, not the millions processed.
-- The body names Palm's tables, which a database migrated with other migrations (tests,
-- --migrations-dir) may lack; like pg_restore, create the function without resolving them.
-- The tests call every function, so a typo still fails the build.
SET LOCAL check_function_bodies = off;

CREATE OR REPLACE FUNCTION palmdb.webhooks_to_retry(
    max_attempts integer DEFAULT 5,
    page_size integer DEFAULT 100
)
RETURNS TABLE (
    id bigint,
    provider text,
    event_id text,
    event_type text,
    attempts integer,
    error_message text,
    created_at timestamptz
)
LANGUAGE sql
STABLE PARALLEL SAFE
AS $$
    SELECT w.id AS id,
           w.provider AS provider,
           w.event_id AS event_id,
           w.event_type AS event_type,
           w.attempts AS attempts,
           w.error_message AS error_message,
           w.created_at AS created_at
    FROM public.webhook_logs AS w
    WHERE w.status = 'failed'
      AND w.attempts < webhooks_to_retry.max_attempts
    ORDER BY w.created_at, w.id
    LIMIT palmdb.page_size(webhooks_to_retry.page_size)
$$;

REVOKE ALL ON FUNCTION palmdb.webhooks_to_retry(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION palmdb.webhooks_to_retry(integer, integer) TO pg_read_all_data;
