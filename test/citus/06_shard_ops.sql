-- 06_shard_ops.sql: shard moves (logical replication and block_writes),
-- splits and the rebalancer keep every placement scoped: restrictive
-- policy, forced row level security, row guard; the rows stay each
-- client's.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SELECT plan(16);

SET ROLE tenant_owner;
CREATE TABLE s6_events (id bigint NOT NULL, client_id uuid NOT NULL, what text,
                        PRIMARY KEY (client_id, id));
SELECT dbcore.enable_tenant_scoping('s6_events');
GRANT SELECT ON s6_events TO app;
RESET ROLE;
SET citus.enable_unsafe_triggers = on;
SELECT create_distributed_table('s6_events', 'client_id', shard_count => 4);
RESET citus.enable_unsafe_triggers;
INSERT INTO s6_events SELECT g, md5('client ' || (g % 10))::uuid, 'event ' || g FROM generate_series(1, 200) g;
SELECT md5('client 3')::uuid AS a \gset
SELECT dbcore.mint_client_token(:'a', '1 hour') AS ta \gset

CREATE FUNCTION citus_test.s6_count(token text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM dbcore.set_client_token(token);
    n := citus_test.q('SELECT count(*) FROM s6_events');
    RETURN n;
END;
$$;
GRANT EXECUTE ON FUNCTION citus_test.s6_count(text) TO app;

-- (shards of the table, with their node, in order)
SELECT s.shardid AS move_shard, p.nodeport AS move_from
  FROM pg_dist_shard s JOIN pg_dist_shard_placement p USING (shardid)
 WHERE s.logicalrelid = 's6_events'::regclass ORDER BY s.shardid LIMIT 1 \gset
SELECT nodeport AS move_to FROM pg_dist_node
 WHERE noderole = 'primary' AND shouldhaveshards AND groupid > 0 AND nodeport <> :move_from
 ORDER BY nodeport LIMIT 1 \gset

SELECT lives_ok(format($$SELECT citus_move_shard_placement(%s, '127.0.0.1', %s, '127.0.0.1', %s)$$,
                       :move_shard, :move_from, :move_to),
                'a shard moves (logical replication)');
SELECT is(citus_test.permissive_isolation('s6_events'), 0::bigint, 'restrictive policies everywhere after the move');
SELECT is_empty($$SELECT * FROM dbcore.tenant_check_shards() WHERE tbl = 's6_events'::regclass$$,
                'and complete scoping');
SELECT lives_ok(format($$SELECT citus_move_shard_placement(%s, '127.0.0.1', %s, '127.0.0.1', %s, 'block_writes')$$,
                       :move_shard, :move_to, :move_from),
                'and moves back (block_writes)');
SELECT is_empty($$SELECT * FROM dbcore.tenant_check_shards() WHERE tbl = 's6_events'::regclass$$,
                'all placements still complete');

-- Splits.
SELECT s.shardid AS split_shard, p.nodeport AS split_port,
       ((s.shardminvalue::bigint + s.shardmaxvalue::bigint) / 2)::int AS split_point
  FROM pg_dist_shard s JOIN pg_dist_shard_placement p USING (shardid)
 WHERE s.logicalrelid = 's6_events'::regclass ORDER BY s.shardid LIMIT 1 \gset
SELECT nodeid AS split_node FROM pg_dist_node WHERE nodeport = :split_port \gset
SELECT nodeid AS other_node FROM pg_dist_node WHERE nodeport = :move_to \gset
SELECT lives_ok(format($$SELECT citus_split_shard_by_split_points(%s, ARRAY[%L], ARRAY[%s, %s], 'block_writes')$$,
                       :split_shard, :split_point, :split_node, :other_node),
                'a shard is split (block_writes)');
SELECT is((SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 's6_events'::regclass), 5::bigint,
          'into two');
SELECT s.shardid AS split2_shard, p.nodeport AS split2_port,
       ((s.shardminvalue::bigint + s.shardmaxvalue::bigint) / 2)::int AS split2_point
  FROM pg_dist_shard s JOIN pg_dist_shard_placement p USING (shardid)
 WHERE s.logicalrelid = 's6_events'::regclass ORDER BY s.shardid DESC LIMIT 1 \gset
SELECT nodeid AS split2_node FROM pg_dist_node WHERE nodeport = :split2_port \gset
SELECT lives_ok(format($$SELECT citus_split_shard_by_split_points(%s, ARRAY[%L], ARRAY[%s, %s], 'force_logical')$$,
                       :split2_shard, :split2_point, :split2_node, :split2_node),
                'another one (logical replication)');
SELECT is(citus_test.permissive_isolation('s6_events'), 0::bigint, 'restrictive policies on the new shards');
SELECT is_empty($$SELECT * FROM dbcore.tenant_check_shards() WHERE tbl = 's6_events'::regclass$$,
                'and complete scoping');

-- The rebalancer, as a background job.
SELECT lives_ok($$SELECT citus_rebalance_start(rebalance_strategy := 'by_shard_count', shard_transfer_mode := 'block_writes')$$,
                'the rebalancer starts');
SELECT lives_ok($$SELECT citus_rebalance_wait()$$, 'and finishes');
SELECT is(citus_test.permissive_isolation('s6_events'), 0::bigint, 'restrictive policies after rebalancing');
SELECT is_empty($$SELECT * FROM dbcore.tenant_check_shards() WHERE tbl = 's6_events'::regclass$$,
                'and complete scoping');

-- The rows are each client's still.
SET ROLE app;
BEGIN;
SELECT is(citus_test.s6_count(:'ta'), 20::bigint, 'a client sees its 20 rows');
COMMIT;
RESET ROLE;
SELECT is((SELECT count(*) FROM s6_events), 200::bigint, 'no row lost (as a superuser)');

SELECT * FROM finish();
