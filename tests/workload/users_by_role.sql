-- The admin user list: one role, newest signups first, a page after a cursor
-- (palmdb.users_by_role; served by users_role_created_at_idx).
\set skip random(0, 200)
SELECT u.created_at AS cursor_at, u.id AS cursor_id FROM users AS u ORDER BY u.id LIMIT 1 OFFSET :skip \gset
SELECT u.id, u.email, u.name, u.role, u.created_at
FROM users AS u
WHERE u.role = 'user' AND (u.created_at, u.id) < (':cursor_at', ':cursor_id')
ORDER BY u.created_at DESC, u.id DESC
LIMIT 20;
