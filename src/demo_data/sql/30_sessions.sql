-- $1 seed, $2 number of users: one palm analysis per user on average, skewed.
INSERT INTO palm_analysis_sessions (
    id, user_id, status, analysis_type, result, error_message,
    created_at, updated_at, completed_at
)
OVERRIDING SYSTEM VALUE
SELECT a.j AS id,
       a.user_id AS user_id,
       a.status AS status,
       pg_temp.demo_pick(ARRAY['basic', 'basic', 'basic', 'detailed', 'detailed', 'compatibility'],
                         pg_temp.demo_unit(a.j, 22, $1)) AS analysis_type,
       CASE
           WHEN a.status = 'completed' THEN jsonb_build_object(
               'model', 'palm-v2',
               'confidence', round((0.6 + 0.4 * pg_temp.demo_unit(a.j, 23, $1))::numeric, 3),
               'lines', jsonb_build_object(
                   'heart', pg_temp.demo_pick(ARRAY['long', 'short', 'curved', 'straight'],
                                              pg_temp.demo_unit(a.j, 24, $1)),
                   'head', pg_temp.demo_pick(ARRAY['deep', 'faint', 'forked', 'wavy'],
                                             pg_temp.demo_unit(a.j, 25, $1)),
                   'life', pg_temp.demo_pick(ARRAY['long', 'broken', 'double', 'curved'],
                                             pg_temp.demo_unit(a.j, 26, $1))
               )
           )
       END AS result,
       CASE
           WHEN a.status = 'failed' THEN pg_temp.demo_pick(
               ARRAY['image too blurry', 'no hand detected', 'model timeout'],
               pg_temp.demo_unit(a.j, 27, $1))
       END AS error_message,
       a.created_at AS created_at,
       a.created_at + interval '1 second' * a.seconds AS updated_at,
       CASE WHEN a.status = 'completed' THEN a.created_at + interval '1 second' * a.seconds END
           AS completed_at
FROM (
    SELECT g.j,
           pg_temp.demo_user_id(s.owner, $1) AS user_id,
           CASE
               WHEN s.outcome < 0.82 THEN 'completed'
               WHEN s.outcome < 0.90 THEN 'failed'
               WHEN s.outcome < 0.96 THEN 'pending'
               ELSE 'processing'
           END::analysis_status AS status,
           u.signup + (timestamptz '2026-11-01 00:00:00+00' - u.signup)
                    * power(pg_temp.demo_unit(g.j, 28, $1), 2) AS created_at,
           5 + 55 * pg_temp.demo_unit(g.j, 29, $1) AS seconds
    FROM generate_series(1::bigint, $2::bigint) AS g(j)
    CROSS JOIN LATERAL (
        SELECT pg_temp.demo_skewed_user(pg_temp.demo_unit(g.j, 20, $1), $2) AS owner,
               pg_temp.demo_unit(g.j, 21, $1) AS outcome
    ) AS s
    -- The user's id, address and signup time are recomputed from the user number: twice as
    -- fast as joining the users just written.
    CROSS JOIN LATERAL (
        SELECT pg_temp.demo_user_created(s.owner, $1) AS signup
    ) AS u
) AS a
