-- The webhook retry queue, oldest first (palmdb.webhooks_to_retry; served by the partial
-- webhook_logs_failed_created_at_idx), and the order of a Stripe checkout session
-- (preorders_stripe_session_id_key).
\set skip random(0, 200)
SELECT w.id, w.provider, w.event_id, w.event_type, w.attempts, w.error_message, w.created_at
FROM webhook_logs AS w
WHERE w.status = 'failed' AND w.attempts < 5
ORDER BY w.created_at, w.id
LIMIT 100;
SELECT p.stripe_session_id AS session_id FROM preorders AS p WHERE p.id > :skip AND p.stripe_session_id IS NOT NULL ORDER BY p.id LIMIT 1 \gset
SELECT p.id, p.status, p.user_id FROM preorders AS p WHERE p.stripe_session_id = ':session_id';
