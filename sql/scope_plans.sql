--
-- The client scope's plan form (scope_plan.c): dbcore's policies compare the
-- client column with (SELECT dbcore.current_client_id*()), an init-plan that
-- dbcore runs with a DbcoreClientScope custom scan, one per plan node (an
-- UPDATE's USING and WITH CHECK share it).  PostgreSQL 17 and later print
-- init-plans and their parameters differently (expected/scope_plans_1.out).
--
CREATE EXTENSION dbcore;
-- debug_parallel_query was force_parallel_mode before PostgreSQL 16
SELECT CASE WHEN pg_catalog.current_setting('server_version_num')::int >= 160000
            THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END AS force_parallel \gset
CREATE ROLE regress_plans_app;
GRANT USAGE ON SCHEMA dbcore TO regress_plans_app;
CREATE SCHEMA plans AUTHORIZATION regress_plans_app;
SET search_path = plans;
SET ROLE regress_plans_app;
CREATE TABLE orders (id int, client_id uuid NOT NULL, amount int, PRIMARY KEY (client_id, id));
CREATE TABLE many (client_id int, n int);
SELECT dbcore.enable_tenant_scoping('orders');
SELECT dbcore.enable_tenant_scoping('many');
RESET ROLE;
INSERT INTO plans.many SELECT g % 3, g FROM pg_catalog.generate_series(1, 30000) g;
ANALYZE plans.many;
SET ROLE regress_plans_app;

BEGIN;
SET LOCAL dbcore.client_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
-- a lookup: the scope's init-plan, then the index condition
EXPLAIN (COSTS OFF) SELECT amount FROM orders WHERE id = 1;
-- an UPDATE: one init-plan for the USING and WITH CHECK clauses
EXPLAIN (COSTS OFF) UPDATE orders SET amount = 1 WHERE id = 1;
-- an INSERT: the WITH CHECK clause
EXPLAIN (COSTS OFF) INSERT INTO orders (id, amount) VALUES (1, 1);
-- with the plan form off, PostgreSQL's own Result nodes, one per clause
SET LOCAL dbcore.optimize_scope_plans = off;
EXPLAIN (COSTS OFF) UPDATE orders SET amount = 1 WHERE id = 1;
COMMIT;

-- A parallel plan: the scope is evaluated once, in the leader, and handed
-- to the workers as a parameter.
BEGIN;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL :force_parallel = on;
SET LOCAL dbcore.client_id = '2';
EXPLAIN (COSTS OFF) SELECT count(*) FROM many;
SELECT count(*), min(client_id), max(client_id) FROM many;
COMMIT;

RESET ROLE;
RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA plans CASCADE;
DROP EXTENSION dbcore CASCADE;
DROP OWNED BY regress_plans_app;
DROP ROLE regress_plans_app;
RESET client_min_messages;
