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

-- cache_hit_tables / cache_hit_indexes: lower is worse; too few reads say nothing, so they
-- are ok with a detail that says so.
CREATE OR REPLACE FUNCTION palmdb.cache_hit_verdict(kind text, thresholds jsonb DEFAULT '{}')
RETURNS SETOF palmdb.health_check
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.*
    FROM (
        SELECT
            (x.s ->> 'cache_hit_warning')::double precision               AS warning,
            (x.s ->> 'cache_hit_critical')::double precision              AS critical,
            (x.s ->> 'cache_min_blocks')::bigint                          AS min_blocks
        FROM palmdb.health_settings(thresholds) AS x (s)
    ) AS t
    CROSS JOIN palmdb.cache_hit AS c
    CROSS JOIN LATERAL (
        SELECT
            CASE
                WHEN c.blocks_hit + c.blocks_read >= t.min_blocks THEN c.hit_ratio::double precision
            END                                                           AS ratio
    ) AS judged
    CROSS JOIN LATERAL palmdb.health_row(
        check_name     => 'cache_hit_' || c.kind,
        value          => c.hit_ratio::double precision,
        warning_level  => t.warning,
        critical_level => t.critical,
        threshold      => format('warning < %s, critical < %s (judged from %s block reads)', t.warning, t.critical, t.min_blocks),
        detail         => CASE
            WHEN judged.ratio IS NULL THEN format(
                'not enough data: %s block reads since statistics were reset, %s needed to judge',
                c.blocks_hit + c.blocks_read,
                t.min_blocks
            )
            ELSE format('%s%% of %s block reads served from shared buffers', round(100 * c.hit_ratio, 2), c.blocks_hit + c.blocks_read)
        END,
        remedy         => 'SHOW shared_buffers;  -- raise shared_buffers (about 25% of RAM) or find the scans: SELECT * FROM palmdb.table_stats ORDER BY seq_scans DESC;',
        lower_is_worse => true,
        judged         => judged.ratio IS NOT NULL
    ) AS r
    WHERE c.kind = cache_hit_verdict.kind
$$;

COMMENT ON FUNCTION palmdb.cache_hit_verdict(text, jsonb) IS
    'The cache_hit_tables or cache_hit_indexes check (kind: tables or indexes)';

CREATE OR REPLACE FUNCTION palmdb.check_cache_hit_tables(thresholds jsonb DEFAULT '{}')
RETURNS SETOF palmdb.health_check
LANGUAGE sql
STABLE
AS $$
    SELECT * FROM palmdb.cache_hit_verdict('tables', thresholds)
$$;

COMMENT ON FUNCTION palmdb.check_cache_hit_tables(jsonb) IS
    'share of table block reads served from shared buffers';

CREATE OR REPLACE FUNCTION palmdb.check_cache_hit_indexes(thresholds jsonb DEFAULT '{}')
RETURNS SETOF palmdb.health_check
LANGUAGE sql
STABLE
AS $$
    SELECT * FROM palmdb.cache_hit_verdict('indexes', thresholds)
$$;

COMMENT ON FUNCTION palmdb.check_cache_hit_indexes(jsonb) IS
    'share of index block reads served from shared buffers';

GRANT EXECUTE ON FUNCTION palmdb.cache_hit_verdict(text, jsonb) TO pg_monitor;
GRANT EXECUTE ON FUNCTION palmdb.check_cache_hit_tables(jsonb) TO pg_monitor;
GRANT EXECUTE ON FUNCTION palmdb.check_cache_hit_indexes(jsonb) TO pg_monitor;
