-- palmdb:no-transaction
-- palm_analysis_sessions (user_id) is a prefix of palm_analysis_sessions_user_created_idx
-- (user_id, created_at, id), built in V2: every lookup by user_id, including the ON DELETE
-- CASCADE from users, is served by the longer index, so the short one is only write cost.
DROP INDEX CONCURRENTLY IF EXISTS palm_analysis_sessions_user_id_idx;
