-- 03_triggers.sql: dbcore's row guard, TRUNCATE guard and updated_at()
-- on a distributed table: which setting they need, on which node they
-- fire, and what the application sees.
\set VERBOSITY verbose
\set A 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
\set B 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb'
SET citus.shard_count = 4;
SELECT dbcore.mint_client_token(:'A', '30 minutes') AS tok_a \gset

-- A trigger that says where it fires (CREATE FUNCTION is propagated to the workers).
CREATE FUNCTION public.where_am_i() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE '% % trigger on %, node port %', TG_WHEN, TG_OP, TG_TABLE_NAME, current_setting('port');
    RETURN CASE WHEN TG_LEVEL = 'ROW' THEN NEW ELSE NULL END;
END $$;

SET ROLE app;
CREATE TABLE e3 (id bigint, client_id uuid NOT NULL, v text, updated_at timestamptz, PRIMARY KEY (client_id, id));
ALTER TABLE e3 ENABLE ROW LEVEL SECURITY;
ALTER TABLE e3 FORCE ROW LEVEL SECURITY;
CREATE POLICY dbcore_tenant_isolation ON e3 AS PERMISSIVE FOR ALL TO PUBLIC
  USING (client_id = dbcore.current_client_id()) WITH CHECK (client_id = dbcore.current_client_id());
RESET ROLE;
SELECT create_distributed_table('e3', 'client_id');

-- 3a. triggers on a distributed table need citus.enable_unsafe_triggers
SET ROLE app;
CREATE TRIGGER dbcore_tenant_guard BEFORE INSERT OR UPDATE ON e3
  FOR EACH ROW EXECUTE FUNCTION dbcore.tenant_row_guard('client_id');
SHOW citus.enable_unsafe_triggers;
SET citus.enable_unsafe_triggers = on;     -- in this coordinator session only
CREATE TRIGGER dbcore_tenant_guard BEFORE INSERT OR UPDATE ON e3
  FOR EACH ROW EXECUTE FUNCTION dbcore.tenant_row_guard('client_id');
CREATE TRIGGER dbcore_tenant_truncate_guard BEFORE TRUNCATE ON e3
  FOR EACH STATEMENT EXECUTE FUNCTION dbcore.tenant_truncate_guard();
SELECT dbcore.attach_updated_at('e3');
CREATE TRIGGER where_row BEFORE INSERT OR UPDATE ON e3 FOR EACH ROW EXECUTE FUNCTION public.where_am_i();
CREATE TRIGGER where_truncate BEFORE TRUNCATE ON e3 FOR EACH STATEMENT EXECUTE FUNCTION public.where_am_i();
RESET citus.enable_unsafe_triggers;
RESET ROLE;
-- the workers never had the setting on
SELECT nodeport, result FROM run_command_on_workers('SHOW citus.enable_unsafe_triggers') ORDER BY 1;

-- 3b. where they fire: as app, in client A's scope (SET LOCAL propagated)
\c postgres app :coord_host :coord_port
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL dbcore.client_id = :'tok_a';
INSERT INTO e3 (id, client_id, v) VALUES (1, :'A', 'mine');           -- fires on the shard
COMMIT;
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL dbcore.client_id = :'tok_a';
INSERT INTO e3 (id, client_id, v) VALUES (2, :'B', 'not mine');       -- row guard on the shard
ROLLBACK;
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL dbcore.client_id = :'tok_a';
INSERT INTO e3 (id, v) VALUES (3, 'no client');                       -- Citus needs the client on the coordinator
ROLLBACK;
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL dbcore.client_id = :'tok_a';
UPDATE e3 SET v = 'changed' WHERE client_id = :'A' AND id = 1;        -- updated_at on the shard
SELECT id, v, updated_at IS NOT NULL AS stamped FROM e3;
UPDATE e3 SET client_id = :'B' WHERE client_id = :'A' AND id = 1;     -- Citus refuses before the guard
ROLLBACK;
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL dbcore.client_id = :'tok_a';
TRUNCATE e3;                                                          -- TRUNCATE guard: coordinator first
ROLLBACK;
-- INSERT ... SELECT that Citus cannot push down: the rows are collected on
-- the coordinator and COPYed into the shards (row level security refuses COPY)
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL dbcore.client_id = :'tok_a';
INSERT INTO e3 (id, client_id, v) SELECT g, :'A', 'bulk' FROM generate_series(10, 11) g;
ROLLBACK;
\c postgres postgres :coord_host :coord_port
-- superuser TRUNCATE: the guards let it through (system authorization)
TRUNCATE e3;
