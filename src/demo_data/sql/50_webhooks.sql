-- $1 seed, $2 number of users: one Stripe webhook delivery per order.
INSERT INTO webhook_logs (
    id, provider, event_id, event_type, payload, status, attempts, error_message,
    created_at, processed_at
)
OVERRIDING SYSTEM VALUE
SELECT w.id AS id,
       'stripe' AS provider,
       'evt_demo_' || $1 || '_' || w.id AS event_id,
       w.event_type AS event_type,
       jsonb_build_object(
           'id', 'evt_demo_' || $1 || '_' || w.id,
           'type', w.event_type,
           'created', extract(epoch FROM w.created_at)::bigint,
           'data', jsonb_build_object('object', jsonb_build_object(
               'id', w.stripe_session_id,
               'amount_total', w.stripe_amount,
               'currency', w.currency,
               'customer_email', w.customer_email
           ))
       ) AS payload,
       w.status AS status,
       CASE
           WHEN w.status = 'received' THEN 0
           WHEN w.status = 'failed' THEN 1 + floor(5 * pg_temp.demo_unit(w.id, 41, $1))::integer
           WHEN pg_temp.demo_unit(w.id, 41, $1) < 0.05 THEN 2
           ELSE 1
       END AS attempts,
       CASE
           WHEN w.status = 'failed' THEN pg_temp.demo_pick(
               ARRAY['signature verification failed', 'order not found', 'database timeout'],
               pg_temp.demo_unit(w.id, 42, $1))
       END AS error_message,
       w.created_at AS created_at,
       CASE WHEN w.status = 'processed' THEN w.created_at + interval '2 seconds' END AS processed_at
FROM (
    SELECT o.id,
           o.stripe_session_id,
           o.stripe_amount,
           o.currency,
           o.customer_email,
           o.updated_at AS created_at,
           CASE o.status
               WHEN 'completed' THEN 'checkout.session.completed'
               WHEN 'refunded' THEN 'charge.refunded'
               WHEN 'failed' THEN 'payment_intent.payment_failed'
               WHEN 'cancelled' THEN 'checkout.session.expired'
               ELSE 'checkout.session.created'
           END AS event_type,
           CASE
               WHEN pg_temp.demo_unit(o.id, 40, $1) < 0.93 THEN 'processed'
               WHEN pg_temp.demo_unit(o.id, 40, $1) < 0.97 THEN 'received'
               ELSE 'failed'
           END::webhook_status AS status
    FROM preorders AS o
) AS w
