-- $1 seed, $2 number of users.
INSERT INTO users (id, email, name, role, created_at, updated_at)
SELECT pg_temp.demo_user_id(g.i, $1) AS id,
       pg_temp.demo_user_email(g.i, $1) AS email,
       CASE
           WHEN pg_temp.demo_unit(g.i, 6, $1) < 0.15 THEN NULL
           ELSE initcap(pg_temp.demo_first_name(g.i, $1)) || ' ' || initcap(pg_temp.demo_last_name(g.i, $1))
       END AS name,
       CASE WHEN pg_temp.demo_unit(g.i, 7, $1) < 0.001 THEN 'admin' ELSE 'user' END AS role,
       pg_temp.demo_user_created(g.i, $1) AS created_at,
       pg_temp.demo_user_created(g.i, $1)
           + interval '30 days' * power(pg_temp.demo_unit(g.i, 8, $1), 4) AS updated_at
FROM generate_series(1::bigint, $2::bigint) AS g(i)
