-- palmdb.daily_revenue from scratch, as migration V11's backfill computes it: one stripe (0)
-- per day and currency; the triggers add the other stripes as writes come.
DELETE FROM palmdb.daily_revenue;

INSERT INTO palmdb.daily_revenue (day, currency, stripe, orders, revenue_cents)
SELECT (p.created_at AT TIME ZONE 'UTC')::date AS day,
       p.currency AS currency,
       0 AS stripe,
       count(*) AS orders,
       sum(p.stripe_amount) AS revenue_cents
FROM public.preorders AS p
WHERE p.status = 'completed'
GROUP BY 1, 2;
