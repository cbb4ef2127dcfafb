-- The newest orders in one status, a page at a time. Keyset pagination: pass the id of the
-- last order of a page as `before` to get the next page (orders older than that one, by
-- created_at then id), so page 1000 costs what page 1 costs; there is no OFFSET.
-- The status is checked first: a typo is an error naming the allowed values, not an empty
-- page. Served by preorders_status_created_at_idx (status, created_at, id).
-- The body names Palm's tables and types, which a database migrated with other migrations
-- (tests, --migrations-dir) may lack; like pg_restore, create the function without
-- compiling the body. The tests call every function, so a typo still fails the build.
SET LOCAL check_function_bodies = off;

CREATE OR REPLACE FUNCTION palmdb.orders_by_status(
    wanted_status text,
    page_size integer DEFAULT 20,
    before bigint DEFAULT NULL
)
RETURNS TABLE (
    id bigint,
    user_id uuid,
    customer_email text,
    status text,
    amount_cents integer,
    currency text,
    created_at timestamptz,
    updated_at timestamptz
)
LANGUAGE plpgsql
STABLE PARALLEL SAFE
AS $$
DECLARE
    wanted public.preorder_status;
    cursor_created_at timestamptz := 'infinity';
    cursor_id bigint := 9223372036854775807;
BEGIN
    IF orders_by_status.wanted_status IS NULL
       OR NOT orders_by_status.wanted_status = ANY (enum_range(NULL::public.preorder_status)::text[]) THEN
        RAISE EXCEPTION 'unknown order status "%"', coalesce(orders_by_status.wanted_status, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'allowed values: '
                         || array_to_string(enum_range(NULL::public.preorder_status), ', ');
    END IF;
    wanted := orders_by_status.wanted_status::public.preorder_status;
    IF orders_by_status.before IS NOT NULL THEN
        SELECT p.created_at, p.id
        INTO cursor_created_at, cursor_id
        FROM public.preorders AS p
        WHERE p.id = orders_by_status.before;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no order with id % to page from', orders_by_status.before
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    RETURN QUERY
        SELECT p.id AS id,
               p.user_id AS user_id,
               p.customer_email AS customer_email,
               p.status::text AS status,
               p.stripe_amount AS amount_cents,
               p.currency AS currency,
               p.created_at AS created_at,
               p.updated_at AS updated_at
        FROM public.preorders AS p
        WHERE p.status = wanted
          AND (p.created_at, p.id) < (cursor_created_at, cursor_id)
        ORDER BY p.created_at DESC, p.id DESC
        LIMIT palmdb.page_size(orders_by_status.page_size);
END
$$;

REVOKE ALL ON FUNCTION palmdb.orders_by_status(text, integer, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION palmdb.orders_by_status(text, integer, bigint) TO pg_read_all_data;
