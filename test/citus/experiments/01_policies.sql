-- 01_policies.sql: dbcore's policies and create_distributed_table, in both
-- orders; a hand-made policy form without the sub-select; what arrives on
-- the workers' shell tables and on the shards.
\set VERBOSITY verbose
\set A 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
\set B 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb'
SET citus.shard_count = 4;

-- 1a. enable_tenant_scoping, then create_distributed_table
SET ROLE app;
CREATE TABLE e1_scoped_first (id bigint, client_id uuid NOT NULL, v text, PRIMARY KEY (client_id, id));
SELECT dbcore.enable_tenant_scoping('e1_scoped_first');
RESET ROLE;
SELECT create_distributed_table('e1_scoped_first', 'client_id');          -- the triggers
SET citus.enable_unsafe_triggers = on;
SELECT create_distributed_table('e1_scoped_first', 'client_id');          -- the policy's sub-select
RESET citus.enable_unsafe_triggers;

-- 1b. create_distributed_table, then enable_tenant_scoping
SET ROLE app;
CREATE TABLE e1_dist_first (id bigint, client_id uuid NOT NULL, v text, PRIMARY KEY (client_id, id));
RESET ROLE;
SELECT create_distributed_table('e1_dist_first', 'client_id');
SET ROLE app;
SELECT dbcore.enable_tenant_scoping('e1_dist_first');
SET citus.enable_unsafe_triggers = on;
SELECT dbcore.enable_tenant_scoping('e1_dist_first');
RESET citus.enable_unsafe_triggers;
-- the same CREATE POLICY typed at top level: the same internal error, not
-- Citus's "Subqueries are not supported in policies" (0A000)
CREATE POLICY p_sub ON e1_dist_first AS RESTRICTIVE USING (client_id = (SELECT dbcore.current_client_id()));
-- a sub-select in ALTER POLICY reaches Citus's own check
CREATE POLICY p_plain ON e1_dist_first USING (true);
ALTER POLICY p_plain ON e1_dist_first USING (client_id = (SELECT dbcore.current_client_id()));
DROP POLICY p_plain ON e1_dist_first;
RESET ROLE;

-- 1c. the hand-made form without sub-select: policies first, then distribute
SET ROLE app;
CREATE TABLE e1_hand_a (id bigint, client_id uuid NOT NULL, v text, PRIMARY KEY (client_id, id));
ALTER TABLE e1_hand_a ENABLE ROW LEVEL SECURITY;
ALTER TABLE e1_hand_a FORCE ROW LEVEL SECURITY;
CREATE POLICY dbcore_tenant_isolation ON e1_hand_a AS RESTRICTIVE FOR ALL TO PUBLIC
  USING (client_id = dbcore.current_client_id()) WITH CHECK (client_id = dbcore.current_client_id());
CREATE POLICY dbcore_tenant_access ON e1_hand_a AS PERMISSIVE FOR ALL TO PUBLIC USING (true) WITH CHECK (true);
RESET ROLE;
SELECT create_distributed_table('e1_hand_a', 'client_id');

-- 1d. the hand-made form: distribute, then policies
SET ROLE app;
CREATE TABLE e1_hand_b (id bigint, client_id uuid NOT NULL, v text, PRIMARY KEY (client_id, id));
RESET ROLE;
SELECT create_distributed_table('e1_hand_b', 'client_id');
SET ROLE app;
ALTER TABLE e1_hand_b ENABLE ROW LEVEL SECURITY;
ALTER TABLE e1_hand_b FORCE ROW LEVEL SECURITY;
CREATE POLICY dbcore_tenant_isolation ON e1_hand_b AS RESTRICTIVE FOR ALL TO PUBLIC
  USING (client_id = dbcore.current_client_id()) WITH CHECK (client_id = dbcore.current_client_id());
CREATE POLICY dbcore_tenant_access ON e1_hand_b AS PERMISSIVE FOR ALL TO PUBLIC USING (true) WITH CHECK (true);
RESET ROLE;

-- 1e. the policies: coordinator ...
SELECT p.polrelid::regclass AS tbl, c.relrowsecurity AS rls, c.relforcerowsecurity AS force,
       p.polname, p.polpermissive, pg_get_expr(p.polqual, p.polrelid) AS using_expr,
       pg_get_expr(p.polwithcheck, p.polrelid) AS check_expr
  FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
 WHERE p.polrelid::regclass::text LIKE 'e1\_%' ORDER BY 1::text, 4;
-- ... and each worker: the shell tables (e1_hand_a) and the shards (e1_hand_a_1020xx)
\c postgres postgres :w1_host :w1_port
SELECT p.polrelid::regclass AS tbl, c.relrowsecurity AS rls, c.relforcerowsecurity AS force,
       p.polname, p.polpermissive, pg_get_expr(p.polqual, p.polrelid) AS using_expr,
       pg_get_expr(p.polwithcheck, p.polrelid) AS check_expr
  FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
 WHERE p.polrelid::regclass::text LIKE 'e1\_%' ORDER BY 1::text, 4;
-- the commands that created them (from 00_node_log.sql's event trigger)
SELECT tag, usr, objs, top_query FROM public.evlog
 WHERE event = 'ddl_command_end' AND tag = 'CREATE POLICY' AND objs LIKE '%e1\_hand%' ORDER BY id;
\c postgres postgres :w2_host :w2_port
SELECT p.polrelid::regclass AS tbl, p.polname, p.polpermissive, pg_get_expr(p.polqual, p.polrelid) AS using_expr
  FROM pg_policy p WHERE p.polrelid::regclass::text LIKE 'e1\_%' ORDER BY 1::text, 2;
\c postgres postgres :coord_host :coord_port

-- 1f. what that does: two clients' rows, client A's scope, SET LOCAL
-- propagated to the workers.
INSERT INTO e1_hand_a SELECT g, CASE WHEN g % 2 = 0 THEN :'A'::uuid ELSE :'B'::uuid END, 'row ' || g
  FROM generate_series(1, 10) g;
SELECT dbcore.mint_client_token(:'A', '30 minutes') AS tok_a \gset
\c postgres app :coord_host :coord_port
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL dbcore.client_id = :'tok_a';
SELECT client_id, count(*) FROM e1_hand_a GROUP BY 1 ORDER BY 1;     -- client B's rows too
SELECT count(*) FROM e1_hand_a WHERE client_id = :'B';                -- router query to B's shard
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM e1_hand_a;
INSERT INTO e1_hand_a VALUES (100, :'B', 'planted by A');             -- WITH CHECK on the shard
COMMIT;
-- a coordinator-only check of the same query: the coordinator's (restrictive)
-- policy is not part of the shard query
\c postgres postgres :coord_host :coord_port

-- 1g. the alternative: ONE permissive policy, no companion
SET ROLE app;
CREATE TABLE e1_permissive (id bigint, client_id uuid NOT NULL, v text, PRIMARY KEY (client_id, id));
ALTER TABLE e1_permissive ENABLE ROW LEVEL SECURITY;
ALTER TABLE e1_permissive FORCE ROW LEVEL SECURITY;
CREATE POLICY dbcore_tenant_isolation ON e1_permissive AS PERMISSIVE FOR ALL TO PUBLIC
  USING (client_id = dbcore.current_client_id()) WITH CHECK (client_id = dbcore.current_client_id());
RESET ROLE;
SELECT create_distributed_table('e1_permissive', 'client_id');
INSERT INTO e1_permissive SELECT g, CASE WHEN g % 2 = 0 THEN :'A'::uuid ELSE :'B'::uuid END, 'row ' || g
  FROM generate_series(1, 10) g;
\c postgres app :coord_host :coord_port
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL dbcore.client_id = :'tok_a';
SELECT client_id, count(*) FROM e1_permissive GROUP BY 1 ORDER BY 1;  -- A only
SELECT count(*) FROM e1_permissive WHERE client_id = :'B';            -- 0
INSERT INTO e1_permissive VALUES (100, :'B', 'planted by A');         -- refused on the shard
ROLLBACK;
\c postgres postgres :coord_host :coord_port

-- 1h. dbcore's own view of the hand-made tables: not "its" policies
SELECT * FROM dbcore.tenant_check_tables(ARRAY['e1_hand_a'::regclass], ARRAY['client_id'::name]);
SET ROLE app;
SET citus.enable_unsafe_triggers = on;
SELECT dbcore.enable_tenant_scoping('e1_hand_a');   -- ALTER POLICY to the sub-select form
RESET citus.enable_unsafe_triggers;
RESET ROLE;
