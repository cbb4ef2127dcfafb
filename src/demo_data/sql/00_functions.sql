-- Deterministic pseudo-random helpers for the demo data, created in pg_temp so they vanish
-- with the session. Every value is a pure function of (seed, row number, stream), so the
-- same --seed gives the same rows, whatever order the server produces them in.
--
-- They are one-expression SQL functions so the planner inlines them (ten times faster than
-- calls). A function is only inlined when it is declared no less volatile than its body:
-- `text || bigint` and `timestamptz - interval` are STABLE, so the functions using them are.

-- A number in [0, 1) for row `i` of stream `salt`. hashint8extended is the hash that hash
-- partitioning stores on disk, so PostgreSQL keeps its output stable across versions.
CREATE FUNCTION pg_temp.demo_unit(i bigint, salt integer, seed bigint)
RETURNS float8
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT (hashint8extended(i # (salt::bigint << 48), seed) & 2147483647)::float8
           / 2147483648.0
$$;

-- One of `choices`, uniformly.
CREATE FUNCTION pg_temp.demo_pick(choices text[], u float8)
RETURNS text
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT choices[1 + floor(u * cardinality(choices))::integer]
$$;

-- A user number in 1..n, skewed: low numbers are the heavy buyers (about 100 rows for the
-- heaviest at n = 1M) and about half of the users get none.
CREATE FUNCTION pg_temp.demo_skewed_user(u float8, n bigint)
RETURNS bigint
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT 1 + floor(n * power(u, 1.5))::bigint
$$;

-- A uuid made of two 64-bit hashes: as random-looking as gen_random_uuid(), but repeatable
-- (and ten times cheaper than md5).
CREATE FUNCTION pg_temp.demo_user_id(i bigint, seed bigint)
RETURNS uuid
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT (lpad(to_hex(hashint8extended(i, seed)), 16, '0')
            || lpad(to_hex(hashint8extended(i, seed # 6148914691236517205)), 16, '0'))::uuid
$$;

-- Signups over the two years before the fixed anchor, growing towards the end.
CREATE FUNCTION pg_temp.demo_user_created(i bigint, seed bigint)
RETURNS timestamptz
LANGUAGE sql
STABLE PARALLEL SAFE
AS $$
    SELECT timestamptz '2026-11-01 00:00:00+00'
           - interval '730 days' * (1 - sqrt(pg_temp.demo_unit(i, 1, seed)))
$$;

CREATE FUNCTION pg_temp.demo_first_name(i bigint, seed bigint)
RETURNS text
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT pg_temp.demo_pick(
        ARRAY['ava', 'liam', 'mia', 'noah', 'wei', 'yuki', 'lucas', 'sofia',
              'omar', 'elena', 'arjun', 'chloe', 'mateo', 'hana', 'leo', 'zoe'],
        pg_temp.demo_unit(i, 2, seed))
$$;

CREATE FUNCTION pg_temp.demo_last_name(i bigint, seed bigint)
RETURNS text
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT pg_temp.demo_pick(
        ARRAY['smith', 'chen', 'garcia', 'muller', 'tanaka', 'rossi', 'kim',
              'novak', 'silva', 'dubois', 'patel', 'jensen', 'lopez', 'wang'],
        pg_temp.demo_unit(i, 3, seed))
$$;

-- first.last<i>@domain, unique by the user number.
CREATE FUNCTION pg_temp.demo_plain_email(i bigint, seed bigint)
RETURNS text
LANGUAGE sql
STABLE PARALLEL SAFE
AS $$
    SELECT pg_temp.demo_first_name(i, seed) || '.' || pg_temp.demo_last_name(i, seed) || i
           || '@'
           || pg_temp.demo_pick(
                  ARRAY['gmail.com', 'gmail.com', 'gmail.com', 'outlook.com', 'yahoo.com',
                        'icloud.com', 'proton.me', 'example.org'],
                  pg_temp.demo_unit(i, 5, seed))
$$;

-- About 4% of people type their address with capitals (Ava.Smith12@Gmail.Com).
CREATE FUNCTION pg_temp.demo_user_email(i bigint, seed bigint)
RETURNS text
LANGUAGE sql
STABLE PARALLEL SAFE
AS $$
    SELECT CASE
               WHEN pg_temp.demo_unit(i, 4, seed) < 0.04 THEN initcap(pg_temp.demo_plain_email(i, seed))
               ELSE pg_temp.demo_plain_email(i, seed)
           END
$$;
