-- $1 seed, $2 number of users: one order per user on average, skewed towards heavy buyers.
INSERT INTO preorders (
    id, user_id, status, stripe_amount, currency, stripe_session_id,
    stripe_payment_intent_id, customer_email, created_at, updated_at
)
OVERRIDING SYSTEM VALUE
SELECT o.j AS id,
       o.user_id AS user_id,
       o.status AS status,
       CASE
           WHEN o.tier < 0.55 THEN 1999
           WHEN o.tier < 0.85 THEN 4999
           WHEN o.tier < 0.97 THEN 999
           ELSE 9999
       END AS stripe_amount,
       CASE
           WHEN o.region < 0.85 THEN 'usd'
           WHEN o.region < 0.95 THEN 'eur'
           ELSE 'gbp'
       END AS currency,
       'cs_demo_' || $1 || '_' || o.j AS stripe_session_id,
       CASE
           WHEN o.status IN ('completed', 'refunded', 'processing') THEN 'pi_demo_' || $1 || '_' || o.j
       END AS stripe_payment_intent_id,
       o.email AS customer_email,
       o.created_at AS created_at,
       o.created_at + interval '10 minutes' * pg_temp.demo_unit(o.j, 13, $1) AS updated_at
FROM (
    SELECT g.j,
           pg_temp.demo_user_id(s.buyer, $1) AS user_id,
           pg_temp.demo_user_email(s.buyer, $1) AS email,
           CASE
               WHEN s.outcome < 0.70 THEN 'completed'
               WHEN s.outcome < 0.80 THEN 'failed'
               WHEN s.outcome < 0.87 THEN 'cancelled'
               WHEN s.outcome < 0.95 THEN 'initiated'
               WHEN s.outcome < 0.97 THEN 'processing'
               ELSE 'refunded'
           END::preorder_status AS status,
           pg_temp.demo_unit(g.j, 11, $1) AS tier,
           pg_temp.demo_unit(g.j, 12, $1) AS region,
           -- Orders come soon after signup more often than late.
           u.signup + (timestamptz '2026-11-01 00:00:00+00' - u.signup)
                    * power(pg_temp.demo_unit(g.j, 14, $1), 3) AS created_at
    FROM generate_series(1::bigint, $2::bigint) AS g(j)
    CROSS JOIN LATERAL (
        SELECT pg_temp.demo_skewed_user(pg_temp.demo_unit(g.j, 10, $1), $2) AS buyer,
               pg_temp.demo_unit(g.j, 15, $1) AS outcome
    ) AS s
    -- The user's id, address and signup time are recomputed from the user number: twice as
    -- fast as joining the users just written.
    CROSS JOIN LATERAL (
        SELECT pg_temp.demo_user_created(s.buyer, $1) AS signup
    ) AS u
) AS o
