-- The page size of every stats listing: 1 to 1000 rows, so one call can never drag a
-- million rows over the wire. IMMUTABLE: the SQL listings that call it stay inlinable.
CREATE OR REPLACE FUNCTION palmdb.page_size(requested integer)
RETURNS integer
LANGUAGE plpgsql
IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
    IF requested IS NULL OR requested < 1 OR requested > 1000 THEN
        RAISE EXCEPTION 'page size must be between 1 and 1000, not %', coalesce(requested::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN requested;
END
$$;

REVOKE ALL ON FUNCTION palmdb.page_size(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION palmdb.page_size(integer) TO pg_read_all_data;
