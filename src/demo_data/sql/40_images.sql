-- $1 seed, $2 number of users: half an image per user, each the photo behind an analysis
-- session (every other session), owned by that session's user.
INSERT INTO user_images (id, user_id, session_id, image_url, hand, created_at)
OVERRIDING SYSTEM VALUE
SELECT g.k AS id,
       s.user_id AS user_id,
       s.id AS session_id,
       'https://images.palm.example/' || $1 || '/' || g.k || '.jpg' AS image_url,
       CASE WHEN pg_temp.demo_unit(g.k, 30, $1) < 0.8 THEN 'right' ELSE 'left' END AS hand,
       s.created_at - interval '5 seconds' AS created_at
FROM generate_series(1::bigint, $2::bigint / 2) AS g(k)
JOIN palm_analysis_sessions AS s
    ON s.id = 2 * g.k
