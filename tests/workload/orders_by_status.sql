-- The newest orders in one status, a page after a cursor (palmdb.orders_by_status; served by
-- preorders_status_created_at_idx).
\set skip random(0, 200)
SELECT p.created_at AS cursor_at, p.id AS cursor_id FROM preorders AS p WHERE p.id > :skip ORDER BY p.id LIMIT 1 \gset
SELECT p.id, p.user_id, p.customer_email, p.status, p.stripe_amount, p.currency, p.created_at, p.updated_at
FROM preorders AS p
WHERE p.status = 'completed' AND (p.created_at, p.id) < (':cursor_at', :cursor_id)
ORDER BY p.created_at DESC, p.id DESC
LIMIT 20;
