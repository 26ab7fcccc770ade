-- 02_event_triggers.sql: which DDL Citus runs on the workers when it
-- creates, moves, splits and rebalances shards, how (the top-level
-- statement), as whom, and whether event triggers there (dbcore's among
-- them) fire and see the objects through pg_event_trigger_ddl_commands().
-- public.evlog_text() is the log of 00_node_log.sql's ddl_command_end
-- trigger on each node.
\set VERBOSITY verbose
\pset format unaligned
\pset fieldsep ' | '
\set A 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
\set B 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb'
SET citus.shard_count = 4;
SET citus.enable_unsafe_triggers = on;

-- A table scoped the way that survives distribution (one permissive policy
-- without sub-select, dbcore's two triggers, an updated_at trigger).
SET ROLE app;
CREATE TABLE e2_t (id bigint, client_id uuid NOT NULL, v text, updated_at timestamptz,
                   PRIMARY KEY (client_id, id));
ALTER TABLE e2_t ENABLE ROW LEVEL SECURITY;
ALTER TABLE e2_t FORCE ROW LEVEL SECURITY;
CREATE POLICY dbcore_tenant_isolation ON e2_t AS PERMISSIVE FOR ALL TO PUBLIC
  USING (client_id = dbcore.current_client_id()) WITH CHECK (client_id = dbcore.current_client_id());
CREATE TRIGGER dbcore_tenant_guard BEFORE INSERT OR UPDATE ON e2_t
  FOR EACH ROW EXECUTE FUNCTION dbcore.tenant_row_guard('client_id');
CREATE TRIGGER dbcore_tenant_truncate_guard BEFORE TRUNCATE ON e2_t
  FOR EACH STATEMENT EXECUTE FUNCTION dbcore.tenant_truncate_guard();
SELECT dbcore.attach_updated_at('e2_t');
RESET ROLE;
INSERT INTO e2_t SELECT g, CASE WHEN g % 2 = 0 THEN :'A'::uuid ELSE :'B'::uuid END, 'row ' || g
  FROM generate_series(1, 40) g;

-- 2a. create_distributed_table
SELECT evlog_reset(); SELECT run_command_on_workers('SELECT public.evlog_reset()');
SELECT create_distributed_table('e2_t', 'client_id');
SELECT 'coordinator' AS node, evlog_text();
SELECT nodeport, result FROM run_command_on_workers('SELECT public.evlog_text()') ORDER BY 1;

-- the shards and what they carry
SELECT shardid, nodeport, shard_size > 0 AS has_data FROM citus_shards WHERE table_name = 'e2_t'::regclass ORDER BY 1;
SELECT nodeport, result FROM run_command_on_workers($$
  SELECT string_agg(format('%s: %s', tgrelid::regclass, tgname), E'\n' ORDER BY tgrelid::regclass::text, tgname)
    FROM pg_trigger WHERE tgrelid::regclass::text LIKE 'e2_t%' AND NOT tgisinternal$$) ORDER BY 1;

-- 2b. citus_move_shard_placement (default mode: logical replication here)
SELECT evlog_reset(); SELECT run_command_on_workers('SELECT public.evlog_reset()');
SELECT shardid AS move_shard, nodeport AS move_from FROM citus_shards
 WHERE table_name = 'e2_t'::regclass ORDER BY shardid LIMIT 1 \gset
SELECT nodeport AS move_to FROM pg_dist_node WHERE noderole = 'primary' AND shouldhaveshards
   AND nodeport <> :move_from ORDER BY nodeport LIMIT 1 \gset
SELECT citus_move_shard_placement(:move_shard, '127.0.0.1', :move_from, '127.0.0.1', :move_to);
SELECT nodeport, result FROM run_command_on_workers('SELECT public.evlog_text()') ORDER BY 1;
-- block_writes mode (COPY instead of logical replication): move it back
SELECT evlog_reset(); SELECT run_command_on_workers('SELECT public.evlog_reset()');
SELECT citus_move_shard_placement(:move_shard, '127.0.0.1', :move_to, '127.0.0.1', :move_from,
                                  shard_transfer_mode := 'block_writes');
SELECT nodeport, result FROM run_command_on_workers('SELECT public.evlog_text()') ORDER BY 1;

-- 2c. citus_split_shard_by_split_points, block_writes and logical
SELECT evlog_reset(); SELECT run_command_on_workers('SELECT public.evlog_reset()');
SELECT shardid AS split_shard, shardminvalue::bigint AS lo, shardmaxvalue::bigint AS hi
  FROM pg_dist_shard WHERE logicalrelid = 'e2_t'::regclass ORDER BY shardid LIMIT 1 \gset
SELECT array_agg(nodeid ORDER BY nodeport) AS split_nodes FROM pg_dist_node
 WHERE noderole = 'primary' AND shouldhaveshards \gset
SELECT citus_split_shard_by_split_points(:split_shard, ARRAY[((:lo::bigint + :hi::bigint) / 2)::text],
                                         :'split_nodes'::int[], shard_transfer_mode := 'block_writes');
SELECT nodeport, result FROM run_command_on_workers('SELECT public.evlog_text()') ORDER BY 1;
SELECT evlog_reset(); SELECT run_command_on_workers('SELECT public.evlog_reset()');
SELECT shardid AS split_shard, shardminvalue::bigint AS lo, shardmaxvalue::bigint AS hi
  FROM pg_dist_shard WHERE logicalrelid = 'e2_t'::regclass ORDER BY shardid DESC LIMIT 1 \gset
SELECT citus_split_shard_by_split_points(:split_shard, ARRAY[((:lo::bigint + :hi::bigint) / 2)::text],
                                         :'split_nodes'::int[], shard_transfer_mode := 'force_logical');
SELECT nodeport, result FROM run_command_on_workers('SELECT public.evlog_text()') ORDER BY 1;

-- 2d. the rebalancer: a background job (citus_rebalance_start) ...
SELECT shardid, nodeport FROM citus_shards WHERE table_name = 'e2_t'::regclass ORDER BY 1;
SELECT evlog_reset(); SELECT run_command_on_workers('SELECT public.evlog_reset()');
SELECT citus_move_shard_placement(shardid, '127.0.0.1', nodeport, '127.0.0.1', :move_to, shard_transfer_mode := 'block_writes')
  FROM citus_shards WHERE table_name = 'e2_t'::regclass AND nodeport = :move_from;
SELECT 1 FROM citus_rebalance_start(shard_transfer_mode := 'block_writes');
SELECT citus_rebalance_wait();
SELECT status, count(*) FROM pg_dist_background_task GROUP BY 1;
SELECT nodeport, result FROM run_command_on_workers('SELECT public.evlog_text()') ORDER BY 1;
-- ... and the older synchronous rebalance_table_shards()
SELECT evlog_reset(); SELECT run_command_on_workers('SELECT public.evlog_reset()');
SELECT citus_move_shard_placement(shardid, '127.0.0.1', nodeport, '127.0.0.1', :move_to, shard_transfer_mode := 'block_writes')
  FROM citus_shards WHERE table_name = 'e2_t'::regclass AND nodeport = :move_from;
SELECT rebalance_table_shards('e2_t', shard_transfer_mode := 'block_writes');
SELECT nodeport, result FROM run_command_on_workers('SELECT public.evlog_text()') ORDER BY 1;

-- after all that: every shard still has the policy (permissive), the
-- triggers and forced row level security
SELECT nodeport, result FROM run_command_on_workers($$
  SELECT string_agg(format('%s: rls=%s force=%s policies=%s triggers=%s', c.oid::regclass, c.relrowsecurity, c.relforcerowsecurity,
           (SELECT string_agg(polname || CASE WHEN polpermissive THEN '(permissive)' ELSE '(restrictive)' END, ',') FROM pg_policy WHERE polrelid = c.oid),
           (SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger WHERE tgrelid = c.oid AND NOT tgisinternal)),
         E'\n' ORDER BY c.oid::regclass::text)
    FROM pg_class c WHERE c.relname LIKE 'e2\_t%' AND c.relkind = 'r'$$) ORDER BY 1;

-- 2e. dbcore's own event triggers fire there too: with dbcore.auto_updated_at
-- on in the workers' configuration (Citus refuses ALTER DATABASE on a
-- worker), the worker's dbcore_auto_updated_at trigger attaches an
-- updated_at trigger to every shard and shell table Citus creates.
\c postgres postgres :w1_host :w1_port
ALTER SYSTEM SET dbcore.auto_updated_at = on;
SELECT pg_reload_conf();
\c postgres postgres :w2_host :w2_port
ALTER SYSTEM SET dbcore.auto_updated_at = on;
SELECT pg_reload_conf();
\c postgres postgres :coord_host :coord_port
SET citus.shard_count = 4;
SET citus.enable_unsafe_triggers = on;
SELECT nodeport, result FROM run_command_on_workers('SHOW dbcore.auto_updated_at') ORDER BY 1;
SHOW dbcore.auto_updated_at;
SELECT evlog_reset(); SELECT run_command_on_workers('SELECT public.evlog_reset()');
CREATE TABLE e2_auto (id bigint, client_id uuid NOT NULL, updated_at timestamptz, PRIMARY KEY (client_id, id));
SELECT create_distributed_table('e2_auto', 'client_id');   -- no trigger on the coordinator's table
SELECT nodeport, result FROM run_command_on_workers($$
  SELECT string_agg(format('%s: %s', tgrelid::regclass, tgname), E'\n' ORDER BY tgrelid::regclass::text)
    FROM pg_trigger WHERE tgrelid::regclass::text LIKE 'e2_auto%' AND NOT tgisinternal$$) ORDER BY 1;
-- a table that has the trigger on the coordinator: Citus creates it on each
-- shard after dbcore already did
CREATE TABLE e2_auto2 (id bigint, client_id uuid NOT NULL, updated_at timestamptz, PRIMARY KEY (client_id, id));
SELECT dbcore.attach_updated_at('e2_auto2');
SELECT create_distributed_table('e2_auto2', 'client_id');
\c postgres postgres :w1_host :w1_port
ALTER SYSTEM RESET dbcore.auto_updated_at;
SELECT pg_reload_conf();
\c postgres postgres :w2_host :w2_port
ALTER SYSTEM RESET dbcore.auto_updated_at;
SELECT pg_reload_conf();
\c postgres postgres :coord_host :coord_port
