-- 07_new_worker.sql: a worker added to the cluster (test/citus/run.sh starts
-- it before this file and citus_add_node()s it) gets dbcore and the scoped
-- tables' copies; shards the rebalancer moves there are scoped like any.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SELECT plan(8);

SELECT is(citus_test.on_node(:w3_port, 'postgres',
            $$SELECT extversion FROM pg_extension WHERE extname = 'dbcore'$$),
          (SELECT extversion FROM pg_extension WHERE extname = 'dbcore'),
          'the new worker has dbcore, at the coordinator''s version');
SELECT is(citus_test.on_node(:w3_port, 'postgres',
            $$SELECT count(*) FROM pg_policy WHERE polname = 'dbcore_tenant_isolation' AND polpermissive$$),
          '0', 'its copies of the scoped tables have restrictive policies');
SELECT cmp_ok(citus_test.on_node(:w3_port, 'postgres',
                $$SELECT count(*) FROM pg_policy WHERE polname = 'dbcore_tenant_isolation'$$)::int,
              '>', 0, '(and it has such copies)');

SELECT lives_ok($$SELECT citus_rebalance_start(shard_transfer_mode := 'block_writes')$$,
                'the rebalancer moves shards to it');
SELECT lives_ok($$SELECT citus_rebalance_wait()$$, 'and finishes');
SELECT cmp_ok((SELECT count(*) FROM citus_shards s JOIN dbcore.tenant_tables t ON t.tbl = s.table_name
                WHERE s.nodeport = :w3_port), '>', 0::bigint,
              'shards of scoped tables are on the new worker');
SELECT is((SELECT sum(citus_test.permissive_isolation(t.tbl)) FROM dbcore.tenant_tables t
            WHERE EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = t.tbl)),
          0::numeric, 'every placement of every scoped table has the restrictive policy');
SELECT is_empty($$SELECT * FROM dbcore.tenant_check_shards()$$,
                'and dbcore.tenant_check_shards() finds nothing wrong anywhere');

SELECT * FROM finish();
