--
-- Tenant scoping: dbcore.client_id, the current client, the row hook.
--
-- Roles: regress_dbcore_app owns its tables and has only USAGE on schema
-- dbcore; regress_dbcore_sys has BYPASSRLS and is a member of the app role
-- (a typical role for admin jobs and migrations); regress_dbcore_other is
-- another ordinary role.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dbcore;
DROP ROLE IF EXISTS regress_dbcore_app;
DROP ROLE IF EXISTS regress_dbcore_sys;
DROP ROLE IF EXISTS regress_dbcore_other;
RESET client_min_messages;
CREATE ROLE regress_dbcore_app;
CREATE ROLE regress_dbcore_other;
CREATE ROLE regress_dbcore_sys BYPASSRLS IN ROLE regress_dbcore_app;
GRANT USAGE ON SCHEMA dbcore TO regress_dbcore_app, regress_dbcore_other, regress_dbcore_sys;
CREATE SCHEMA tenant_test AUTHORIZATION regress_dbcore_app;
GRANT USAGE ON SCHEMA tenant_test TO regress_dbcore_other, regress_dbcore_sys;
SET search_path = tenant_test, public;
LOAD 'dbcore';

------------------------------------------------------------------------------
-- Where a scope may come from
------------------------------------------------------------------------------

-- Never from a role or database default, a function default, or the
-- server configuration: a scope must not outlive its transaction.
ALTER ROLE regress_dbcore_app SET dbcore.client_id = '11111111-1111-1111-1111-111111111111';
\echo :LAST_ERROR_SQLSTATE
DO $$ BEGIN EXECUTE pg_catalog.format('ALTER DATABASE %I SET dbcore.client_id = %L',
                                      pg_catalog.current_database(), '42'); END $$;
ALTER ROLE regress_dbcore_app IN DATABASE postgres SET dbcore.client_id = '42';
CREATE FUNCTION tenant_test.fixed_client() RETURNS text LANGUAGE sql
  SET dbcore.client_id = '42' AS $$ SELECT '' $$;
ALTER SYSTEM SET dbcore.client_id = '42';
-- ... while the empty value (no scope) may be stored anywhere.
ALTER ROLE regress_dbcore_app SET dbcore.client_id = '';
ALTER ROLE regress_dbcore_app RESET dbcore.client_id;

-- No scope yet.
SHOW dbcore.client_id;
SELECT dbcore.current_client_id();
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.current_client_id_text();
SELECT dbcore.current_client_id_bigint();
SELECT dbcore.current_client_id_int();

-- A plain SET lasts only until the end of its transaction: in autocommit
-- mode that is the SET itself.
SET dbcore.client_id = '11111111-1111-1111-1111-111111111111';
SHOW dbcore.client_id;
SELECT dbcore.current_client_id();

BEGIN;
SET dbcore.client_id = '11111111-1111-1111-1111-111111111111';
SELECT dbcore.current_client_id();
SELECT dbcore.current_client_id();
COMMIT;
SELECT dbcore.current_client_id_text();

-- SET LOCAL, set_config() and dbcore.set_client() all set the same setting.
BEGIN;
SET LOCAL dbcore.client_id = '{AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE}';
SELECT dbcore.current_client_id();
SELECT pg_catalog.set_config('dbcore.client_id', 'aaaaaaaabbbbccccddddeeeeeeeeeeee', true);
SELECT dbcore.current_client_id();
SELECT dbcore.set_client('22222222-2222-2222-2222-222222222222'::uuid);
SELECT dbcore.current_client_id(), pg_catalog.current_setting('dbcore.client_id');
COMMIT;
SELECT dbcore.current_client_id();

-- set_config(..., false) is a plain SET: gone after the transaction too.
BEGIN;
SELECT pg_catalog.set_config('dbcore.client_id', '7', false);
SELECT dbcore.current_client_id_int();
COMMIT;
SELECT dbcore.current_client_id_int();

-- ROLLBACK and savepoints roll the scope back.
BEGIN;
SELECT dbcore.set_client(1);
SAVEPOINT s1;
SELECT dbcore.set_client(2);
SELECT dbcore.current_client_id_bigint();
ROLLBACK TO SAVEPOINT s1;
SELECT dbcore.current_client_id_bigint();
SAVEPOINT s2;
SELECT dbcore.set_client(3);
RELEASE SAVEPOINT s2;
SELECT dbcore.current_client_id_bigint();
ROLLBACK;
SELECT dbcore.current_client_id_bigint();

BEGIN;
SET dbcore.client_id = '5';
SELECT dbcore.current_client_id_bigint();
ROLLBACK;
SHOW dbcore.client_id;

-- Session mode (superuser only): a plain SET lasts for the session.
SET ROLE regress_dbcore_app;
SET dbcore.session_scope = on;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET dbcore.session_scope = on;
SET dbcore.client_id = 'tenant-a';
SELECT dbcore.current_client_id_text();
SELECT dbcore.current_client_id_text();
RESET dbcore.client_id;
SELECT dbcore.current_client_id_text();
RESET dbcore.session_scope;
SET dbcore.client_id = 'tenant-a';
SELECT dbcore.current_client_id_text();

-- The typed forms and their errors.
BEGIN;
SELECT dbcore.set_client('tenant-a');
SELECT dbcore.current_client_id_text();
SELECT dbcore.current_client_id();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT dbcore.set_client(-9223372036854775808);
SELECT dbcore.current_client_id_bigint();
SELECT dbcore.current_client_id_int();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SET LOCAL dbcore.client_id = '9223372036854775808';
SELECT dbcore.current_client_id_bigint();
ROLLBACK;
BEGIN;
SET LOCAL dbcore.client_id = '-2147483648';
SELECT dbcore.current_client_id_int(), dbcore.current_client_id_bigint(),
       dbcore.current_client_id_text();
ROLLBACK;
BEGIN;
SET LOCAL dbcore.client_id = '1111111-1111-1111-1111-1111111111111';
SELECT dbcore.current_client_id();
ROLLBACK;

-- NULL and empty client ids are errors, not a silent "no scope".
SELECT dbcore.set_client(NULL::uuid);
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.set_client(NULL::bigint);
SELECT dbcore.set_client(NULL::text);
SELECT dbcore.set_client('');
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.set_client(pg_catalog.repeat('x', 1025));
\echo :LAST_ERROR_SQLSTATE

-- The functions are labelled for the planner and for row level security.
SELECT p.proname, p.provolatile, p.proparallel, p.proleakproof, p.proisstrict
  FROM pg_catalog.pg_proc p
 WHERE p.pronamespace = 'dbcore'::regnamespace
   AND p.proname IN ('current_client_id', 'current_client_id_text',
                     'current_client_id_bigint', 'current_client_id_int', 'set_client')
 ORDER BY p.proname, p.oid::regprocedure::text;

------------------------------------------------------------------------------
-- enable_tenant_scoping, as the owner with only USAGE on schema dbcore
------------------------------------------------------------------------------
SET ROLE regress_dbcore_app;

CREATE TABLE orders (
    id        int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    client_id uuid,
    item      text
);
SELECT dbcore.enable_tenant_scoping('orders');
-- idempotent
SELECT dbcore.enable_tenant_scoping('orders');
SELECT dbcore.enable_tenant_scoping('orders', 'client_id');

SELECT a.attname, a.attnotnull FROM pg_catalog.pg_attribute a
 WHERE a.attrelid = 'orders'::regclass AND a.attname = 'client_id';
SELECT c.relrowsecurity, c.relforcerowsecurity FROM pg_catalog.pg_class c
 WHERE c.oid = 'orders'::regclass;
SELECT policyname, permissive, roles, cmd, qual, with_check
  FROM pg_catalog.pg_policies WHERE tablename = 'orders' ORDER BY policyname;
SELECT t.tgname, pg_catalog.pg_get_triggerdef(t.oid), t.tgenabled
  FROM pg_catalog.pg_trigger t WHERE t.tgrelid = 'orders'::regclass ORDER BY t.tgname;
SELECT * FROM dbcore.tenant_tables ORDER BY tbl::text;
SELECT * FROM dbcore.tenant_scoping_problems();

-- The registry is not writable by ordinary roles.
INSERT INTO dbcore.tenant_tables VALUES ('orders', 'item', NULL);
\echo :LAST_ERROR_SQLSTATE
DELETE FROM dbcore.tenant_tables;
SELECT dbcore._tenant_unregister('orders');
\echo :LAST_ERROR_SQLSTATE

-- Errors
SELECT dbcore.enable_tenant_scoping(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.enable_tenant_scoping('orders', NULL);
SELECT dbcore.enable_tenant_scoping('orders', '');
SELECT dbcore.enable_tenant_scoping('orders', 'item');
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.enable_tenant_scoping(1::oid::regclass);
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE no_client (id int);
SELECT dbcore.enable_tenant_scoping('no_client');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE numeric_client (client_id numeric);
SELECT dbcore.enable_tenant_scoping('numeric_client');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE generated_client (x bigint, client_id bigint GENERATED ALWAYS AS (x) STORED);
SELECT dbcore.enable_tenant_scoping('generated_client');
\echo :LAST_ERROR_SQLSTATE
CREATE VIEW orders_view AS SELECT * FROM orders;
SELECT dbcore.enable_tenant_scoping('orders_view');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE nulls_present (client_id uuid);
INSERT INTO nulls_present VALUES (NULL);
SELECT dbcore.enable_tenant_scoping('nulls_present');
\echo :LAST_ERROR_SQLSTATE
-- a failed call leaves the table as it was
SELECT c.relrowsecurity, (SELECT count(*) FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid) AS policies
  FROM pg_catalog.pg_class c WHERE c.oid = 'nulls_present'::regclass;
SELECT dbcore._tenant_register('no_client', 'id', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore._tenant_register(NULL, 'id', NULL);

-- Another role cannot scope (or register) a table it does not own.
SET ROLE regress_dbcore_other;
SELECT dbcore.enable_tenant_scoping('tenant_test.no_client');
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore._tenant_register('tenant_test.no_client', 'id', NULL);
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_dbcore_app;

------------------------------------------------------------------------------
-- The rows
------------------------------------------------------------------------------

-- No scope.  The policies compare through an init-plan, (SELECT
-- dbcore.current_client_id()), evaluated when the scan first needs it: an
-- empty table simply has nothing to show ...
SELECT * FROM orders;
-- ... but writing, or reading any row, fails loudly (see below).
INSERT INTO orders (item) VALUES ('nothing');

BEGIN;
SELECT dbcore.set_client('11111111-1111-1111-1111-111111111111'::uuid);
-- the current client is stamped on rows that leave the column NULL
INSERT INTO orders (item) VALUES ('a1'), ('a2') RETURNING id, client_id, item;
INSERT INTO orders (client_id, item) VALUES (NULL, 'a3'), ('11111111-1111-1111-1111-111111111111', 'a4');
-- rows naming another client are refused
SAVEPOINT s;
INSERT INTO orders (client_id, item) VALUES ('22222222-2222-2222-2222-222222222222', 'b?');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
COMMIT;

-- Rows exist now: an unscoped read fails instead of looking empty, with a
-- sequential scan and with an index on the client column alike.
SELECT * FROM orders;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM orders;
\echo :LAST_ERROR_SQLSTATE
CREATE INDEX orders_client_idx ON orders (client_id);
SET enable_seqscan = off;
SELECT * FROM orders WHERE client_id = '11111111-1111-1111-1111-111111111111';
\echo :LAST_ERROR_SQLSTATE
RESET enable_seqscan;
DROP INDEX orders_client_idx;

BEGIN;
SELECT dbcore.set_client('22222222-2222-2222-2222-222222222222'::uuid);
INSERT INTO orders (item) VALUES ('b1');
SELECT client_id, item FROM orders ORDER BY id;
UPDATE orders SET item = item || '!' RETURNING item;
DELETE FROM orders WHERE item = 'a1';
SELECT count(*) FROM orders;
COMMIT;

BEGIN;
SELECT dbcore.set_client('11111111-1111-1111-1111-111111111111'::uuid);
SELECT client_id, item FROM orders ORDER BY id;
-- the client column cannot change, not even to the current client
UPDATE orders SET client_id = '22222222-2222-2222-2222-222222222222' WHERE item = 'a1';
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- A plain SET of one transaction is no scope in the next.
BEGIN;
SET dbcore.client_id = '11111111-1111-1111-1111-111111111111';
SELECT count(*) FROM orders;
COMMIT;
SELECT count(*) FROM orders;

-- TRUNCATE ignores row level security: refused.
TRUNCATE orders;
\echo :LAST_ERROR_SQLSTATE

-- The guard functions are triggers only.
SELECT dbcore.tenant_row_guard();
SELECT dbcore.tenant_truncate_guard();
CREATE TABLE misuse (client_id uuid);
CREATE TRIGGER misuse_after AFTER INSERT ON misuse FOR EACH ROW
  EXECUTE FUNCTION dbcore.tenant_row_guard('client_id');
CREATE TRIGGER misuse_args BEFORE UPDATE ON misuse FOR EACH ROW
  EXECUTE FUNCTION dbcore.tenant_row_guard();
CREATE TRIGGER misuse_trunc AFTER TRUNCATE ON misuse
  EXECUTE FUNCTION dbcore.tenant_truncate_guard();
INSERT INTO misuse VALUES (NULL);
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER misuse_after ON misuse;
INSERT INTO misuse VALUES (NULL);
UPDATE misuse SET client_id = NULL;
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER misuse_args ON misuse;
CREATE TRIGGER misuse_column BEFORE INSERT ON misuse FOR EACH ROW
  EXECUTE FUNCTION dbcore.tenant_row_guard('nope');
INSERT INTO misuse VALUES (NULL);
\echo :LAST_ERROR_SQLSTATE
TRUNCATE misuse;
\echo :LAST_ERROR_SQLSTATE
DROP TABLE misuse;

------------------------------------------------------------------------------
-- System-level authorization: superusers and BYPASSRLS roles
------------------------------------------------------------------------------
SET ROLE regress_dbcore_sys;
-- across tenants, without a scope
SELECT client_id, item FROM orders ORDER BY id;
-- a row without a client and without a scope: the NOT NULL constraint says so
INSERT INTO orders (item) VALUES ('lost');
\echo :LAST_ERROR_SQLSTATE
BEGIN;
INSERT INTO orders (client_id, item) VALUES ('33333333-3333-3333-3333-333333333333', 'c1');
-- a system role may move rows between clients
UPDATE orders SET client_id = '33333333-3333-3333-3333-333333333333' WHERE item = 'b1!';
SELECT dbcore.set_client('33333333-3333-3333-3333-333333333333'::uuid);
INSERT INTO orders (item) VALUES ('c2') RETURNING client_id, item;
SELECT client_id, item FROM orders ORDER BY id;
TRUNCATE orders;
SELECT count(*) FROM orders;
ROLLBACK;
RESET ROLE;
BEGIN;
TRUNCATE tenant_test.orders;
ROLLBACK;
SET ROLE regress_dbcore_app;

------------------------------------------------------------------------------
-- bigint, integer and text client columns
------------------------------------------------------------------------------
CREATE TABLE big_items (client_id bigint, item text);
CREATE TABLE int_items (tenant int NOT NULL, item text);
CREATE TABLE text_items ("Client Id" text, item text);
SELECT dbcore.enable_tenant_scoping('big_items');
SELECT dbcore.enable_tenant_scoping('int_items', 'tenant');
SELECT dbcore.enable_tenant_scoping('text_items', 'Client Id');
SELECT tablename, policyname, qual FROM pg_catalog.pg_policies
 WHERE tablename IN ('big_items', 'int_items', 'text_items') ORDER BY 1, 2;
BEGIN;
SELECT dbcore.set_client(5000000000);
INSERT INTO big_items (item) VALUES ('big');
SELECT * FROM big_items;
SAVEPOINT s;
INSERT INTO big_items VALUES (5000000001, 'other');
ROLLBACK TO SAVEPOINT s;
INSERT INTO int_items (item) VALUES ('too big for integer');
ROLLBACK;
BEGIN;
SELECT dbcore.set_client(7);
INSERT INTO big_items (item) VALUES ('seven');
INSERT INTO int_items (item) VALUES ('seven');
INSERT INTO text_items (item) VALUES ('seven');
SAVEPOINT s;
UPDATE text_items SET "Client Id" = '8';
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT * FROM big_items;
SELECT * FROM int_items;
SELECT * FROM text_items;
SELECT dbcore.set_client('tenant-x');
INSERT INTO text_items VALUES ('tenant-x', 'x');
INSERT INTO text_items VALUES ('tenant-y', 'y');
SELECT * FROM text_items;
SELECT * FROM int_items;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

------------------------------------------------------------------------------
-- Partitioned tables: every partition is scoped too
------------------------------------------------------------------------------
CREATE TABLE events (client_id uuid, at date NOT NULL, what text) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')
  PARTITION BY LIST (what);
CREATE TABLE events_2025_rest PARTITION OF events_2025 DEFAULT;
SELECT dbcore.enable_tenant_scoping('events');
SELECT tbl, column_name, root FROM dbcore.tenant_tables ORDER BY tbl::text;
SELECT tablename, policyname, permissive FROM pg_catalog.pg_policies
 WHERE tablename LIKE 'events%' ORDER BY 1, 2;
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
       pg_catalog.array_agg(t.tgname ORDER BY t.tgname) AS triggers
  FROM pg_catalog.pg_class c
  LEFT JOIN pg_catalog.pg_trigger t ON t.tgrelid = c.oid
 WHERE c.relname LIKE 'events%' AND c.relkind IN ('r', 'p')
 GROUP BY 1, 2, 3 ORDER BY 1;
BEGIN;
SELECT dbcore.set_client('11111111-1111-1111-1111-111111111111'::uuid);
INSERT INTO events (at, what) VALUES ('2024-05-01', 'a'), ('2025-05-01', 'a');
SELECT dbcore.set_client('22222222-2222-2222-2222-222222222222'::uuid);
INSERT INTO events (at, what) VALUES ('2024-06-01', 'b'), ('2025-06-01', 'b');
-- through the parent and directly: only the current client's rows
SELECT what, at FROM events ORDER BY at;
SELECT what, at FROM events_2024;
SELECT what, at FROM events_2025_rest;
SAVEPOINT s;
INSERT INTO events_2024 VALUES ('11111111-1111-1111-1111-111111111111', '2024-07-01', 'x');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
COMMIT;
TRUNCATE events_2024;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE events;
\echo :LAST_ERROR_SQLSTATE
-- a partition goes with its partitioned table
SET ROLE regress_dbcore_sys;
SELECT dbcore.disable_tenant_scoping('tenant_test.events_2024');
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_dbcore_app;

------------------------------------------------------------------------------
-- Parallel query under a scope: the workers restore it.  (The plan itself,
-- whose notation differs between PostgreSQL majors, is in scope_plans.)
------------------------------------------------------------------------------
-- debug_parallel_query was force_parallel_mode before PostgreSQL 16
SELECT CASE WHEN pg_catalog.current_setting('server_version_num')::int >= 160000
            THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END AS force_parallel \gset
CREATE FUNCTION pg_temp.plan(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE 'EXPLAIN (COSTS OFF) ' || query;
END $$;
CREATE TABLE many (client_id int, n int);
RESET ROLE;
INSERT INTO tenant_test.many SELECT g % 3, g FROM pg_catalog.generate_series(1, 30000) g;
ANALYZE tenant_test.many;
SET ROLE regress_dbcore_app;
SELECT dbcore.enable_tenant_scoping('many');
BEGIN;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL :force_parallel = on;
SET LOCAL dbcore.client_id = '2';
SELECT count(*) FILTER (WHERE line ~ '->  Gather') AS gather,
       count(*) FILTER (WHERE line ~ 'Parallel Seq Scan on many') AS parallel_scan
  FROM pg_temp.plan('SELECT count(*) FROM many') AS line;
SELECT count(*), min(client_id), max(client_id), sum(n) FROM many;
SELECT count(*) FROM many WHERE n % 3 <> 2;
COMMIT;

------------------------------------------------------------------------------
-- disable_tenant_scoping needs system-level authorization
------------------------------------------------------------------------------
SELECT dbcore.disable_tenant_scoping('orders');
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_dbcore_sys;
SELECT dbcore.disable_tenant_scoping(NULL);
SELECT dbcore.disable_tenant_scoping('tenant_test.orders');
SELECT dbcore.disable_tenant_scoping('tenant_test.orders');
SELECT dbcore.disable_tenant_scoping('tenant_test.events');
SELECT tbl FROM dbcore.tenant_tables ORDER BY tbl::text;
SELECT tablename, policyname FROM pg_catalog.pg_policies
 WHERE schemaname = 'tenant_test' AND tablename IN ('orders', 'events', 'events_2024') ORDER BY 1, 2;
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
       (SELECT count(*) FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid) AS triggers
  FROM pg_catalog.pg_class c
 WHERE c.relnamespace = 'tenant_test'::regnamespace
   AND c.relname IN ('orders', 'events', 'events_2024', 'events_2025_rest') ORDER BY 1;
-- a table with policies of its own keeps row level security
SET ROLE regress_dbcore_app;
CREATE POLICY own_policy ON int_items USING (true);
SET ROLE regress_dbcore_sys;
SELECT dbcore.disable_tenant_scoping('tenant_test.int_items');
SELECT c.relrowsecurity FROM pg_catalog.pg_class c WHERE c.oid = 'tenant_test.int_items'::regclass;
-- the owner may scope it again
SET ROLE regress_dbcore_app;
SELECT dbcore.enable_tenant_scoping('orders');
SELECT dbcore.enable_tenant_scoping('int_items', 'tenant');
SELECT tbl, column_name FROM dbcore.tenant_tables ORDER BY tbl::text;
RESET ROLE;

------------------------------------------------------------------------------
-- Guard rails: the owner cannot weaken a scoped table
------------------------------------------------------------------------------
SET ROLE regress_dbcore_app;
ALTER TABLE orders DISABLE ROW LEVEL SECURITY;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE orders NO FORCE ROW LEVEL SECURITY;
DROP POLICY dbcore_tenant_isolation ON orders;
DROP POLICY dbcore_tenant_access ON orders;
ALTER POLICY dbcore_tenant_isolation ON orders USING (true);
ALTER POLICY dbcore_tenant_isolation ON orders WITH CHECK (true);
ALTER POLICY dbcore_tenant_isolation ON orders TO regress_dbcore_other;
ALTER POLICY dbcore_tenant_access ON orders RENAME TO renamed;
DROP TRIGGER dbcore_tenant_guard ON orders;
DROP TRIGGER dbcore_tenant_truncate_guard ON orders;
ALTER TABLE orders DISABLE TRIGGER dbcore_tenant_guard;
ALTER TABLE orders DISABLE TRIGGER ALL;
ALTER TABLE orders DISABLE TRIGGER USER;
ALTER TABLE orders ENABLE REPLICA TRIGGER dbcore_tenant_truncate_guard;
ALTER TRIGGER dbcore_tenant_guard ON orders RENAME TO renamed;
CREATE OR REPLACE TRIGGER dbcore_tenant_guard BEFORE INSERT ON orders
  FOR EACH ROW EXECUTE FUNCTION dbcore.tenant_row_guard('client_id');
ALTER TABLE orders DROP COLUMN client_id CASCADE;
ALTER TABLE orders ALTER COLUMN client_id DROP NOT NULL;
ALTER TABLE orders RENAME COLUMN client_id TO cid;
-- Retyping the client column (any column of a table with rows) is refused:
-- it evaluates every client's rows.
ALTER TABLE orders ALTER COLUMN client_id TYPE text;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\set VERBOSITY default
-- caught errors and savepoints do not switch the checks off
BEGIN;
SAVEPOINT s;
ALTER TABLE orders DISABLE ROW LEVEL SECURITY;
ROLLBACK TO SAVEPOINT s;
ALTER TABLE orders NO FORCE ROW LEVEL SECURITY;
ROLLBACK;
DO $$
BEGIN
    BEGIN
        ALTER TABLE tenant_test.orders DISABLE ROW LEVEL SECURITY;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'refused: %', SQLERRM;
    END;
    ALTER TABLE tenant_test.orders NO FORCE ROW LEVEL SECURITY;
END
$$;
-- nothing changed
SELECT * FROM dbcore.tenant_scoping_problems();
-- ... while DDL that keeps the scoping intact works, including an own
-- policy (which can only narrow) and a repeated ENABLE
ALTER TABLE orders ADD COLUMN note text;
CREATE INDEX orders_client_idx ON orders (client_id, id);
CREATE POLICY only_a ON orders AS RESTRICTIVE USING (item LIKE 'a%');
DROP POLICY only_a ON orders;
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE orders ENABLE TRIGGER ALL;
COMMENT ON TABLE orders IS 'scoped';
ALTER TABLE orders RENAME TO orders2;
ALTER TABLE orders2 RENAME TO orders;
SELECT * FROM dbcore.tenant_scoping_problems();

-- A role with BYPASSRLS may weaken it; the owner's other DDL keeps working
-- meanwhile, and the owner can repair the table.
SET ROLE regress_dbcore_sys;
ALTER TABLE tenant_test.orders NO FORCE ROW LEVEL SECURITY;
ALTER TABLE tenant_test.orders DISABLE TRIGGER dbcore_tenant_truncate_guard;
SELECT * FROM dbcore.tenant_scoping_problems();
SET ROLE regress_dbcore_app;
ALTER TABLE big_items ADD COLUMN note text;
CREATE TABLE unrelated (x int);
ALTER TABLE orders ADD COLUMN note2 text;
-- but not make it worse
ALTER TABLE orders DISABLE ROW LEVEL SECURITY;
SELECT dbcore.enable_tenant_scoping('orders');
SELECT * FROM dbcore.tenant_scoping_problems();

-- Roles without any right on schema dbcore run their DDL undisturbed.
RESET ROLE;
CREATE SCHEMA other_test AUTHORIZATION regress_dbcore_other;
REVOKE USAGE ON SCHEMA dbcore FROM regress_dbcore_other;
SET ROLE regress_dbcore_other;
CREATE TABLE other_test.things (client_id uuid, x int);
ALTER TABLE other_test.things ADD COLUMN y int;
DROP TABLE other_test.things;
SELECT dbcore.current_client_id();
RESET ROLE;
DROP SCHEMA other_test;
SET ROLE regress_dbcore_app;

-- Dropping a scoped table just forgets it.
CREATE TABLE doomed (client_id uuid);
SELECT dbcore.enable_tenant_scoping('doomed');
DROP TABLE doomed;
SELECT tbl FROM dbcore.tenant_tables ORDER BY tbl::text;

------------------------------------------------------------------------------
-- Partitions created, attached and detached later
------------------------------------------------------------------------------
CREATE TABLE ledger (client_id uuid NOT NULL, period int NOT NULL, amount int)
  PARTITION BY RANGE (period);
CREATE TABLE ledger_1 PARTITION OF ledger FOR VALUES FROM (1) TO (2);
SELECT dbcore.enable_tenant_scoping('ledger');
CREATE TABLE ledger_2 PARTITION OF ledger FOR VALUES FROM (2) TO (3);
CREATE TABLE ledger_3 (client_id uuid NOT NULL, period int NOT NULL, amount int);
ALTER TABLE ledger ATTACH PARTITION ledger_3 FOR VALUES FROM (3) TO (4);
CREATE TABLE ledger_4 PARTITION OF ledger FOR VALUES FROM (4) TO (6) PARTITION BY RANGE (period);
CREATE TABLE ledger_4a PARTITION OF ledger_4 FOR VALUES FROM (4) TO (5);
SELECT tbl, root FROM dbcore.tenant_tables WHERE tbl::text LIKE 'ledger%' ORDER BY tbl::text;
SELECT * FROM dbcore.tenant_scoping_problems();
BEGIN;
SELECT dbcore.set_client('11111111-1111-1111-1111-111111111111'::uuid);
INSERT INTO ledger (period, amount) VALUES (2, 20), (3, 30), (4, 40);
SELECT dbcore.set_client('22222222-2222-2222-2222-222222222222'::uuid);
INSERT INTO ledger (period, amount) VALUES (2, 21), (3, 31), (4, 41);
SELECT period, amount FROM ledger ORDER BY period;
SELECT amount FROM ledger_2;
SELECT amount FROM ledger_3;
SELECT amount FROM ledger_4a;
COMMIT;
-- a detached partition stays scoped, with a row guard of its own
ALTER TABLE ledger DETACH PARTITION ledger_3;
SELECT tbl, root FROM dbcore.tenant_tables WHERE tbl::text = 'ledger_3';
SELECT t.tgname, t.tgparentid <> 0 AS cloned FROM pg_catalog.pg_trigger t
 WHERE t.tgrelid = 'ledger_3'::regclass ORDER BY 1;
SELECT * FROM dbcore.tenant_scoping_problems();
BEGIN;
SELECT dbcore.set_client('22222222-2222-2222-2222-222222222222'::uuid);
INSERT INTO ledger_3 (period, amount) VALUES (3, 32);
SELECT amount FROM ledger_3 ORDER BY amount;
COMMIT;
-- and can be attached again: by the application role only in the scope of
-- the one client whose rows it holds (a table filled beforehand would plant
-- rows for other clients), otherwise by a system role
ALTER TABLE ledger ATTACH PARTITION ledger_3 FOR VALUES FROM (3) TO (4);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
BEGIN;
SELECT dbcore.set_client('11111111-1111-1111-1111-111111111111'::uuid);
ALTER TABLE ledger ATTACH PARTITION ledger_3 FOR VALUES FROM (3) TO (4);
ROLLBACK;
SET ROLE regress_dbcore_sys;
ALTER TABLE ledger ATTACH PARTITION ledger_3 FOR VALUES FROM (3) TO (4);
SET ROLE regress_dbcore_app;
SELECT t.tgname, t.tgparentid <> 0 AS cloned FROM pg_catalog.pg_trigger t
 WHERE t.tgrelid = 'ledger_3'::regclass ORDER BY 1;
SELECT * FROM dbcore.tenant_scoping_problems();
-- a partition's own pieces are guarded too
ALTER TABLE ledger_2 NO FORCE ROW LEVEL SECURITY;
DROP POLICY dbcore_tenant_access ON ledger_4a;
ALTER TABLE ledger_2 DISABLE TRIGGER dbcore_tenant_guard;
DROP TABLE ledger_2;
SELECT count(*) FROM dbcore.tenant_tables WHERE tbl::text LIKE 'ledger%';

------------------------------------------------------------------------------
-- tenant_audit
------------------------------------------------------------------------------
CREATE TABLE parent_keys (id int PRIMARY KEY, client_id uuid NOT NULL, code text UNIQUE);
CREATE TABLE child_rows (id int, client_id uuid, parent_id int REFERENCES parent_keys (id));
SELECT dbcore.enable_tenant_scoping('parent_keys');
SELECT dbcore.enable_tenant_scoping('child_rows');
CREATE INDEX ON parent_keys (client_id);
CREATE VIEW parent_keys_invoker WITH (security_invoker = on) AS SELECT * FROM parent_keys;
CREATE VIEW parent_keys_owner AS SELECT * FROM parent_keys;
CREATE MATERIALIZED VIEW parent_keys_mat AS SELECT id FROM parent_keys WITH NO DATA;
GRANT TRUNCATE ON parent_keys TO regress_dbcore_other, regress_dbcore_sys;
CREATE TABLE unscoped (client_id uuid);
RESET ROLE;
CREATE VIEW tenant_test.parent_keys_bypass AS SELECT * FROM tenant_test.parent_keys;
ALTER VIEW tenant_test.parent_keys_bypass OWNER TO regress_dbcore_sys;
ALTER ROLE regress_dbcore_app SET dbcore.session_scope = on;
ALTER ROLE regress_dbcore_app SET dbcore.client_id = '';
GRANT SET ON PARAMETER dbcore.session_scope TO regress_dbcore_app;
ALTER TABLE tenant_test.big_items NO FORCE ROW LEVEL SECURITY;
SET ROLE regress_dbcore_app;
SELECT * FROM dbcore.tenant_audit();
RESET ROLE;
ALTER ROLE regress_dbcore_app RESET ALL;
REVOKE SET ON PARAMETER dbcore.session_scope FROM regress_dbcore_app;
ALTER TABLE tenant_test.big_items FORCE ROW LEVEL SECURITY;

------------------------------------------------------------------------------
-- Clean up
------------------------------------------------------------------------------
RESET ROLE;
RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA tenant_test CASCADE;
RESET client_min_messages;
SELECT count(*) FROM dbcore.tenant_tables;
DROP OWNED BY regress_dbcore_app, regress_dbcore_other, regress_dbcore_sys;
DROP ROLE regress_dbcore_sys;
DROP ROLE regress_dbcore_app;
DROP ROLE regress_dbcore_other;
