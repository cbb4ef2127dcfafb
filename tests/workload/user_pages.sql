-- One user's pages: the account by address (users_email_lower_key), their stats
-- (users_pkey, preorders_user_id_idx, palm_analysis_sessions_user_created_idx), their
-- analyses newest first and their palm photos (user_images_user_id_idx).
\set skip random(0, 500)
SELECT u.id AS user_id, u.email AS email FROM users AS u ORDER BY u.id LIMIT 1 OFFSET :skip \gset
SELECT u.id, u.email, u.name, u.role, u.created_at FROM users AS u WHERE lower(u.email) = lower(':email');
SELECT count(*) AS total, count(*) FILTER (WHERE p.status = 'completed') AS completed,
       coalesce(sum(p.stripe_amount) FILTER (WHERE p.status = 'completed'), 0) AS revenue_cents
FROM preorders AS p
WHERE p.user_id = ':user_id';
SELECT a.id, a.status, a.analysis_type, a.created_at, a.completed_at
FROM palm_analysis_sessions AS a
WHERE a.user_id = ':user_id' AND (a.created_at, a.id) < ('infinity', 9223372036854775807)
ORDER BY a.created_at DESC, a.id DESC
LIMIT 20;
SELECT i.id, i.image_url, i.hand, i.created_at FROM user_images AS i WHERE i.user_id = ':user_id' ORDER BY i.created_at DESC;
