-- palmdb:no-transaction
-- Covering indexes so that palmdb.user_stats reads one user's orders and sessions from the
-- indexes alone (Index Only Scan: no heap page per order or session, which for a user picked
-- at random is rarely in shared_buffers), and preorders_status_created_at_idx without the
-- INCLUDE columns that only served revenue_by_day before V11's daily rollup.
--
-- Each index keeps its name, so everything that names it (docs/indexes.md, the tests, a DBA's
-- runbook) stays true: build the new one under a temporary name CONCURRENTLY, drop the old one
-- CONCURRENTLY, rename (ALTER INDEX ... RENAME takes SHARE UPDATE EXCLUSIVE: reads and writes
-- go on). Writes never wait; between the drop and the rename the queries use the new index
-- under its temporary name. A run interrupted half-way is finished by the next
-- `palmdb migrate`: every statement is a no-op or a repeat once its work is done.
--
-- Not covered on purpose: user_sessions returns `result` (jsonb) and `error_message` (text),
-- unbounded values that a B-tree cannot hold above about 2.7 kB per entry (an INSERT with a
-- big analysis result would fail). Its page is found in palm_analysis_sessions_user_created_idx
-- and only the rows it returns are read from the heap.

-- user_stats, orders: count, completed, refunded, revenue, first and last activity.
-- Also the ON DELETE RESTRICT check of the foreign key (user_id leads).
CREATE INDEX CONCURRENTLY IF NOT EXISTS preorders_user_id_covering_idx
    ON preorders (user_id) INCLUDE (status, stripe_amount, created_at, updated_at);
DROP INDEX CONCURRENTLY IF EXISTS preorders_user_id_idx;
ALTER INDEX IF EXISTS preorders_user_id_covering_idx RENAME TO preorders_user_id_idx;

-- user_stats, sessions: count, completed, failed, first and last activity; user_sessions'
-- keyset on (created_at, id) as before; the ON DELETE CASCADE from users.
CREATE INDEX CONCURRENTLY IF NOT EXISTS palm_analysis_sessions_user_created_covering_idx
    ON palm_analysis_sessions (user_id, created_at, id) INCLUDE (status, updated_at);
DROP INDEX CONCURRENTLY IF EXISTS palm_analysis_sessions_user_created_idx;
ALTER INDEX IF EXISTS palm_analysis_sessions_user_created_covering_idx
    RENAME TO palm_analysis_sessions_user_created_idx;

-- orders_by_status needs (status, created_at, id) only: INCLUDE (stripe_amount, currency) served
-- the pre-V11 revenue_by_day and made every entry 16 bytes wider.
CREATE INDEX CONCURRENTLY IF NOT EXISTS preorders_status_created_at_lean_idx
    ON preorders (status, created_at, id);
DROP INDEX CONCURRENTLY IF EXISTS preorders_status_created_at_idx;
ALTER INDEX IF EXISTS preorders_status_created_at_lean_idx
    RENAME TO preorders_status_created_at_idx;
