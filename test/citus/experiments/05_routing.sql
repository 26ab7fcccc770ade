-- 05_routing.sql: how many shards a scoped query touches, and which forms
-- of a client qual (what dbcore's planner hook could add: a Const, a
-- Param, a call of the STABLE dbcore.current_client_id(), the policy's
-- sub-select) let Citus prune to one shard; prepared statements with
-- generic plans across two scopes; INSERT with DEFAULT current_client_id().
\set VERBOSITY verbose
\set A 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
\set B 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb'
SET citus.shard_count = 4;
SET citus.enable_unsafe_triggers = on;
SELECT dbcore.mint_client_token(:'A', '30 minutes') AS tok_a \gset
SELECT dbcore.mint_client_token(:'B', '30 minutes') AS tok_b \gset
SET ROLE app;
CREATE TABLE e5 (id bigint, client_id uuid NOT NULL DEFAULT dbcore.current_client_id(), v text,
                 PRIMARY KEY (client_id, id));
ALTER TABLE e5 ENABLE ROW LEVEL SECURITY;
ALTER TABLE e5 FORCE ROW LEVEL SECURITY;
CREATE POLICY dbcore_tenant_isolation ON e5 AS PERMISSIVE FOR ALL TO PUBLIC
  USING (client_id = dbcore.current_client_id()) WITH CHECK (client_id = dbcore.current_client_id());
CREATE TRIGGER dbcore_tenant_guard BEFORE INSERT OR UPDATE ON e5
  FOR EACH ROW EXECUTE FUNCTION dbcore.tenant_row_guard('client_id');
RESET ROLE;
SELECT create_distributed_table('e5', 'client_id');
INSERT INTO e5 SELECT g, CASE WHEN g % 2 = 0 THEN :'A'::uuid ELSE :'B'::uuid END, 'row ' || g FROM generate_series(1, 20) g;
-- the two clients live on different shards
SELECT get_shard_id_for_distribution_column('e5', :'A') AS shard_a, get_shard_id_for_distribution_column('e5', :'B') AS shard_b;

\c postgres app :coord_host :coord_port
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL dbcore.client_id = :'tok_a';
-- 5a. no client qual: every shard
EXPLAIN (COSTS OFF) SELECT * FROM e5;
SAVEPOINT s;
SET LOCAL citus.multi_task_query_log_level = 'error';
SELECT count(*) FROM e5;
ROLLBACK TO SAVEPOINT s;
-- 5b. SELECT with each form of qual
EXPLAIN (COSTS OFF) SELECT * FROM e5 WHERE client_id = :'A';                                   -- Const
EXPLAIN (COSTS OFF) SELECT * FROM e5 WHERE client_id = dbcore.current_client_id();              -- STABLE function
EXPLAIN (COSTS OFF) SELECT * FROM e5 WHERE client_id = (SELECT dbcore.current_client_id());     -- sub-select
PREPARE sel_param(uuid) AS SELECT count(*) FROM e5 WHERE client_id = $1;                        -- Param
EXPLAIN (COSTS OFF) EXECUTE sel_param(:'A');
-- 5c. UPDATE / DELETE
EXPLAIN (COSTS OFF) UPDATE e5 SET v = 'u' WHERE client_id = :'A' AND id = 2;
EXPLAIN (COSTS OFF) UPDATE e5 SET v = 'u' WHERE client_id = dbcore.current_client_id() AND id = 2;
EXPLAIN (COSTS OFF) UPDATE e5 SET v = 'u' WHERE client_id = (SELECT dbcore.current_client_id()) AND id = 2;
EXPLAIN (COSTS OFF) DELETE FROM e5 WHERE client_id = dbcore.current_client_id() AND id = 2;
EXPLAIN (COSTS OFF) DELETE FROM e5 WHERE id = 2;
-- 5d. INSERT without client_id: the DEFAULT dbcore.current_client_id()
EXPLAIN (COSTS OFF) INSERT INTO e5 (id, v) VALUES (100, 'default');
INSERT INTO e5 (id, v) VALUES (100, 'default A'), (102, 'default A');
COMMIT;
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL dbcore.client_id = :'tok_b';
INSERT INTO e5 (id, v) VALUES (101, 'default B');
COMMIT;

-- 5e. prepared statements, generic plans, two scopes one after the other
SET plan_cache_mode = force_generic_plan;
PREPARE sel_fn AS SELECT client_id, count(*) FROM e5 WHERE client_id = dbcore.current_client_id() GROUP BY 1;
PREPARE sel_p(uuid) AS SELECT client_id, count(*) FROM e5 WHERE client_id = $1 GROUP BY 1;
PREPARE ins_def(bigint) AS INSERT INTO e5 (id, v) VALUES ($1, 'prepared default');
PREPARE upd_fn(bigint) AS UPDATE e5 SET v = 'prepared update' WHERE client_id = dbcore.current_client_id() AND id = $1;
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL dbcore.client_id = :'tok_a';
EXECUTE sel_fn;
EXECUTE sel_p(:'A');
EXECUTE ins_def(200);
EXECUTE upd_fn(2);
COMMIT;
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL dbcore.client_id = :'tok_b';
EXECUTE sel_fn;
EXECUTE sel_p(:'B');
EXECUTE sel_p(:'A');                                  -- another client's key: the shard's policy returns nothing
EXECUTE ins_def(201);
EXECUTE upd_fn(1);
EXPLAIN (COSTS OFF) EXECUTE ins_def(202);
EXPLAIN (COSTS OFF) EXECUTE sel_p(:'B');
COMMIT;
RESET plan_cache_mode;

-- where the rows went (as superuser, per shard)
\c postgres postgres :coord_host :coord_port
SELECT shardid, result FROM run_command_on_shards('e5',
  $$SELECT string_agg(client_id || ':' || id || ':' || v, ', ' ORDER BY id) FROM %s WHERE id >= 100 OR v LIKE 'prepared%%'$$)
 ORDER BY 1;
