-- 06_misc.sql: dbcore's registry and tenant_audit() on the coordinator and
-- the workers; the guard rails' row probes on a distributed table; direct
-- access to shards on a worker as the application role;
-- run_command_on_shards / run_command_on_workers as that role; INSERT ...
-- SELECT into a table with row level security.
\set VERBOSITY verbose
\set A 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
\set B 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb'
SET citus.shard_count = 4;
SET citus.enable_unsafe_triggers = on;
SELECT dbcore.mint_client_token(:'A', '30 minutes') AS tok_a \gset
SET ROLE app;
-- e6: the form that survives distribution; e6_leaky: dbcore's two policies
-- (restrictive + permissive companion) without the sub-select
CREATE TABLE e6 (id bigint, client_id uuid NOT NULL, v text, PRIMARY KEY (client_id, id));
ALTER TABLE e6 ENABLE ROW LEVEL SECURITY;
ALTER TABLE e6 FORCE ROW LEVEL SECURITY;
CREATE POLICY dbcore_tenant_isolation ON e6 AS PERMISSIVE FOR ALL TO PUBLIC
  USING (client_id = dbcore.current_client_id()) WITH CHECK (client_id = dbcore.current_client_id());
CREATE TRIGGER dbcore_tenant_guard BEFORE INSERT OR UPDATE ON e6
  FOR EACH ROW EXECUTE FUNCTION dbcore.tenant_row_guard('client_id');
CREATE TRIGGER dbcore_tenant_truncate_guard BEFORE TRUNCATE ON e6
  FOR EACH STATEMENT EXECUTE FUNCTION dbcore.tenant_truncate_guard();
CREATE TABLE e6_leaky (id bigint, client_id uuid NOT NULL, v text, PRIMARY KEY (client_id, id));
ALTER TABLE e6_leaky ENABLE ROW LEVEL SECURITY;
ALTER TABLE e6_leaky FORCE ROW LEVEL SECURITY;
CREATE POLICY dbcore_tenant_isolation ON e6_leaky AS RESTRICTIVE FOR ALL TO PUBLIC
  USING (client_id = dbcore.current_client_id()) WITH CHECK (client_id = dbcore.current_client_id());
CREATE POLICY dbcore_tenant_access ON e6_leaky AS PERMISSIVE FOR ALL TO PUBLIC USING (true) WITH CHECK (true);
-- a table scoped by dbcore and left local (a coordinator-only table)
CREATE TABLE e6_local (id bigint, client_id uuid NOT NULL, v text, PRIMARY KEY (client_id, id));
SELECT dbcore.enable_tenant_scoping('e6_local');
RESET ROLE;
SELECT create_distributed_table('e6', 'client_id');
SELECT create_distributed_table('e6_leaky', 'client_id');
INSERT INTO e6 SELECT g, CASE WHEN g % 2 = 0 THEN :'A'::uuid ELSE :'B'::uuid END, 'secret ' || g FROM generate_series(1, 20) g;
INSERT INTO e6_leaky SELECT g, CASE WHEN g % 2 = 0 THEN :'A'::uuid ELSE :'B'::uuid END, 'secret ' || g FROM generate_series(1, 20) g;
SELECT get_shard_id_for_distribution_column('e6', :'B') AS e6_shard_b,
       get_shard_id_for_distribution_column('e6_leaky', :'B') AS leaky_shard_b \gset
SELECT nodeport AS b_port FROM citus_shards WHERE shardid = :e6_shard_b \gset
SELECT nodeport AS leaky_b_port FROM citus_shards WHERE shardid = :leaky_shard_b \gset

-- 6a. the registry: only what enable_tenant_scoping() registered, on the
-- coordinator; the hand-made distributed tables cannot be registered
SELECT tbl, column_name FROM dbcore.tenant_tables ORDER BY 1::text;
SELECT nodeport, result FROM run_command_on_workers('SELECT count(*) FROM dbcore.tenant_tables') ORDER BY 1;
SET ROLE app;
SELECT dbcore._tenant_register('e6', 'client_id', NULL);
RESET ROLE;
-- 6b. tenant_audit(): coordinator, then a worker (shell tables and shards)
SELECT problem, object, detail FROM dbcore.tenant_audit() WHERE object LIKE '%e6%' ORDER BY 1, 2;
\c postgres postgres :w1_host :w1_port
SELECT problem, object FROM dbcore.tenant_audit() WHERE object LIKE '%e6%' ORDER BY 1, 2;
SET citus.override_table_visibility = off;
SELECT problem, count(*) FROM dbcore.tenant_audit() WHERE object LIKE '%e6%' GROUP BY 1 ORDER BY 1;
\c postgres postgres :coord_host :coord_port

-- 6c. the guard rails' row probes see the coordinator's (empty) table: DDL
-- that evaluates every client's rows on the shards passes dbcore's check
INSERT INTO e6_local VALUES (1, :'B', 'secret 3');                        -- as postgres
SET ROLE app;
ALTER TABLE e6_local ADD CONSTRAINT no_secret CHECK (v <> 'secret 3');     -- local table with rows: refused by dbcore
ALTER TABLE e6 ALTER COLUMN v TYPE integer USING v::integer;               -- shards: the error prints a row
ALTER TABLE e6 ADD CONSTRAINT no_secret CHECK (v <> 'secret 3');           -- an oracle on other clients' rows
RESET ROLE;

-- 6d. a worker, directly, as app: shards by name
\c postgres app :w1_host :w1_port
SELECT current_setting('port') AS worker_port;
\c postgres app 127.0.0.1 :b_port
SELECT count(*) FROM e6_:e6_shard_b;                                        -- no scope: refused
BEGIN;
SET LOCAL dbcore.client_id = :'tok_a';
SELECT count(*) FROM e6_:e6_shard_b;                                        -- A's scope on B's shard: 0
ROLLBACK;
\c postgres app 127.0.0.1 :leaky_b_port
SELECT count(*) FROM e6_leaky_:leaky_shard_b;                               -- restrictive lost: every row, no scope
SELECT v FROM e6_leaky_:leaky_shard_b ORDER BY id LIMIT 3;
\c postgres app 127.0.0.1 :b_port
-- DDL on a shard by its owner: no guard rail on the worker
BEGIN;
ALTER TABLE e6_:e6_shard_b NO FORCE ROW LEVEL SECURITY;
ALTER TABLE e6_:e6_shard_b DISABLE ROW LEVEL SECURITY;
SELECT count(*) FROM e6_:e6_shard_b;                                        -- every row of the shard
ROLLBACK;
BEGIN;
DROP POLICY dbcore_tenant_isolation ON e6_:e6_shard_b;
ROLLBACK;
TRUNCATE e6_:e6_shard_b;                                                    -- Citus and the shard's TRUNCATE guard
-- the shell table on a worker: a distributed query like on the coordinator
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL dbcore.client_id = :'tok_a';
SELECT client_id, count(*) FROM e6 GROUP BY 1;
ROLLBACK;

-- 6e. run_command_on_shards / run_command_on_workers as app
\c postgres app :coord_host :coord_port
SELECT shardid, success, result FROM run_command_on_shards('e6', 'SELECT count(*) FROM %s') ORDER BY 1;
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL dbcore.client_id = :'tok_a';
SELECT shardid, success, result FROM run_command_on_shards('e6', 'SELECT count(*) FROM %s') ORDER BY 1;
ROLLBACK;
SELECT shardid, success, result FROM run_command_on_shards('e6_leaky', 'SELECT count(*) FROM %s') ORDER BY 1;
SELECT nodeport, success, result FROM run_command_on_workers('SELECT count(*) FROM e6') ORDER BY 1;
-- 6f. INSERT ... SELECT into a table with row level security (Citus
-- copies the rows into the shards with COPY)
\c postgres app :coord_host :coord_port
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL dbcore.client_id = :'tok_a';
INSERT INTO e6 (id, client_id, v) SELECT g, :'A', 'bulk' FROM generate_series(100, 101) g;
ROLLBACK;
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL dbcore.client_id = :'tok_a';
INSERT INTO e6 (id, client_id, v) SELECT id + 1000, client_id, v FROM e6 WHERE client_id = :'A';   -- pushed down
ROLLBACK;
\c postgres postgres :coord_host :coord_port

-- 6g. (last: it weakens e6) weakening every shard from the coordinator, as the owner
\c postgres app :coord_host :coord_port
SELECT shardid, success, result FROM run_command_on_shards('e6', 'ALTER TABLE %s NO FORCE ROW LEVEL SECURITY') ORDER BY 1;
\c postgres postgres :coord_host :coord_port
SELECT nodeport, result FROM run_command_on_workers($$
  SELECT string_agg(c.oid::regclass || ' force=' || c.relforcerowsecurity, ', ' ORDER BY c.oid::regclass::text)
    FROM pg_class c WHERE c.relname LIKE 'e6\_1%'$$) ORDER BY 1;
SELECT * FROM dbcore.tenant_audit() WHERE object LIKE '%e6%' ORDER BY 1, 2;

