-- palmdb:no-transaction
-- The indexes the stats functions (sql/stats/) and Palm's listing pages need, built
-- CONCURRENTLY so that migrating a live database never blocks its writes.
-- docs/indexes.md says which query each one serves and why the seed's others are not here.

-- users_by_role: one role, newest signups first, keyset on (created_at, id).
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_role_created_at_idx
    ON users (role, created_at, id);

-- orders_by_status (keyset on (created_at, id)) and revenue_by_day (status = 'completed' over
-- a created_at range). INCLUDE lets revenue_by_day add up amounts from the index alone.
CREATE INDEX CONCURRENTLY IF NOT EXISTS preorders_status_created_at_idx
    ON preorders (status, created_at, id) INCLUDE (stripe_amount, currency);

-- user_sessions (one user's sessions, newest first) and user_stats. Its leading user_id also
-- serves the foreign key, so V3 drops the single-column index it makes redundant.
CREATE INDEX CONCURRENTLY IF NOT EXISTS palm_analysis_sessions_user_created_idx
    ON palm_analysis_sessions (user_id, created_at, id);

-- webhooks_to_retry: only failed deliveries, a few percent of the table.
CREATE INDEX CONCURRENTLY IF NOT EXISTS webhook_logs_failed_created_at_idx
    ON webhook_logs (created_at, id)
    WHERE status = 'failed';
