-- Share of block reads served from shared buffers, for tables and for indexes, since the
-- statistics were last reset (the pgHero query, split by kind). A ratio computed from a
-- handful of reads means nothing, so the block counts are shown next to it.

CREATE OR REPLACE VIEW palmdb.cache_hit AS
SELECT
    'tables'                                                     AS kind,
    coalesce(sum(t.heap_blks_hit), 0)::bigint                    AS blocks_hit,
    coalesce(sum(t.heap_blks_read), 0)::bigint                   AS blocks_read,
    round(sum(t.heap_blks_hit) / nullif(sum(t.heap_blks_hit) + sum(t.heap_blks_read), 0), 4)
                                                                 AS hit_ratio
FROM pg_statio_user_tables AS t
UNION ALL
SELECT
    'indexes'                                                    AS kind,
    coalesce(sum(i.idx_blks_hit), 0)::bigint                     AS blocks_hit,
    coalesce(sum(i.idx_blks_read), 0)::bigint                    AS blocks_read,
    round(sum(i.idx_blks_hit) / nullif(sum(i.idx_blks_hit) + sum(i.idx_blks_read), 0), 4)
                                                                 AS hit_ratio
FROM pg_statio_user_indexes AS i;

COMMENT ON VIEW palmdb.cache_hit IS
    'Buffer cache hit ratio for tables and for indexes (current database, since stats reset)';

GRANT SELECT ON palmdb.cache_hit TO pg_monitor;
