--
-- The audit trail: dbcore.enable_audit(), the trigger dbcore.audit(), the
-- log dbcore.audit_log and its readers, dbcore.actor, retention.
--
-- Roles: regress_audit_app owns its tables and has only USAGE on schema
-- dbcore; regress_audit_sys has BYPASSRLS and is a member of the app role;
-- regress_audit_other is another ordinary role.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dbcore;
DROP ROLE IF EXISTS regress_audit_app;
DROP ROLE IF EXISTS regress_audit_sys;
DROP ROLE IF EXISTS regress_audit_other;
RESET client_min_messages;
CREATE ROLE regress_audit_app;
CREATE ROLE regress_audit_other;
CREATE ROLE regress_audit_sys BYPASSRLS IN ROLE regress_audit_app;
GRANT USAGE ON SCHEMA dbcore TO regress_audit_app, regress_audit_other, regress_audit_sys;
CREATE SCHEMA audit_test AUTHORIZATION regress_audit_app;
GRANT USAGE ON SCHEMA audit_test TO regress_audit_other, regress_audit_sys;
SET search_path = audit_test, public;
LOAD 'dbcore';
-- What earlier tests left in the log does not matter here.
SELECT dbcore.purge_audit('0 seconds') >= 0 AS purged;

-- The log as this test looks at it: no times, transaction ids or OIDs.
-- (updated_at holds the time too: left out)
CREATE FUNCTION pg_temp.log(since bigint DEFAULT 0)
RETURNS TABLE(op text, table_name text, row_key text, old_values jsonb, new_values jsonb,
              client_id text, db_role text, actor text)
LANGUAGE sql AS $$
  SELECT l.op, l.table_name, l.row_key, l.old_values - 'updated_at', l.new_values - 'updated_at',
         l.client_id, l.db_role, l.actor
    FROM dbcore.audit_log l WHERE l.id > since ORDER BY l.id $$;
CREATE FUNCTION pg_temp.explain(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
        RETURN NEXT regexp_replace(line, '''[0-9]+''::oid', '''<oid>''::oid', 'g');
    END LOOP;
END $$;
CREATE FUNCTION pg_temp.last_id() RETURNS bigint LANGUAGE sql AS
  $$ SELECT coalesce(max(id), 0) FROM dbcore.audit_log $$;

------------------------------------------------------------------------------
-- Enabling
------------------------------------------------------------------------------
SET ROLE regress_audit_app;
CREATE TABLE orders (
    id          int PRIMARY KEY,
    item        text NOT NULL,
    qty         int,
    price       numeric,
    ratio       float8,
    paid        boolean,
    due         date,
    at          timestamptz,
    meta        jsonb,
    tags        text[],
    card_number text,
    updated_at  timestamptz
);
SELECT dbcore.attach_updated_at('orders');
SELECT dbcore.enable_audit('orders', exclude_columns => ARRAY['card_number']);
SELECT * FROM dbcore.audited_tables;
SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger
 WHERE tgrelid = 'orders'::regclass AND tgname LIKE 'dbcore_audit%' ORDER BY 1;
-- Idempotent with the same options; other options mean disabling first.
SELECT dbcore.enable_audit('orders', ARRAY['card_number', 'card_number']);
SELECT dbcore.enable_audit('orders');
\echo :LAST_ERROR_SQLSTATE

-- Misuse.
SELECT dbcore.enable_audit(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.enable_audit('orders', NULL);
SELECT dbcore.enable_audit('orders', '{}', NULL);
SELECT dbcore.enable_audit(12345::oid::regclass);
\echo :LAST_ERROR_SQLSTATE
CREATE VIEW order_view AS SELECT * FROM orders;
SELECT dbcore.enable_audit('order_view');
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.enable_audit('orders', ARRAY['no_such_column']);
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE keyless (a int, b text);
SELECT dbcore.enable_audit('keyless');
RESET ROLE;
SET ROLE regress_audit_other;
SELECT dbcore.enable_audit('audit_test.orders');
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore._audit_register('audit_test.orders', '{}', true);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE regress_audit_app;
-- Registering by hand needs the triggers in place.
CREATE TABLE bare (id int PRIMARY KEY);
SELECT dbcore._audit_register('bare', '{}', true);
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore._audit_register(NULL, '{}', true);
SELECT dbcore._audit_register('bare', NULL, true);

------------------------------------------------------------------------------
-- What is recorded
------------------------------------------------------------------------------
SELECT pg_temp.last_id() AS start \gset
BEGIN;
SELECT dbcore.set_actor('user:42');
INSERT INTO orders (id, item, qty, price, ratio, paid, due, at, meta, tags, card_number)
VALUES (1, 'book', 2, 9.50, 0.25, true, '2026-01-31', '2026-01-31 12:00:00+00',
        '{"gift": true, "n": [1, 2]}', '{a,"b c"}', '4111 1111 1111 1111'),
       (2, 'pen', 1, 'NaN', 'Infinity', NULL, NULL, NULL, 'null', '{}', NULL);
-- Only the changed columns, old and new; the excluded column never.
UPDATE orders SET qty = 3, card_number = '5500 0000 0000 0004' WHERE id = 1;
-- A change of nothing but excluded columns writes nothing; nor does a no-op.
UPDATE orders SET card_number = NULL WHERE id = 1;
UPDATE orders SET qty = qty WHERE id = 1;
-- The whole old row for a DELETE.
DELETE FROM orders WHERE id = 2;
COMMIT;
SELECT * FROM pg_temp.log(:start);
-- Every row has its transaction and its time; numbers follow the changes.
SELECT count(DISTINCT xact_id) AS transactions, bool_and(logged_at = (SELECT min(logged_at) FROM dbcore.audit_log WHERE id > :start)) AS one_time
  FROM dbcore.audit_log WHERE id > :start;

-- Values convert as to_jsonb() converts them, type by type.
CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE TYPE pair AS (a int, b text);
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
CREATE TYPE shouting AS ENUM ('HEY');
CREATE FUNCTION shouting_json(shouting) RETURNS json LANGUAGE sql IMMUTABLE
  AS $$ SELECT json_build_object('shout', $1::text) $$;
RESET ROLE;
CREATE CAST (audit_test.shouting AS json) WITH FUNCTION audit_test.shouting_json(audit_test.shouting);
SET ROLE regress_audit_app;
CREATE TABLE conv (
    id int PRIMARY KEY, i2 int2, i8 int8, n numeric, n2 numeric(10,3), f4 float4, f8 float8,
    b bool, t text, vc varchar(5), c char(4), d date, ts timestamp, tstz timestamptz,
    tm time, iv interval, u uuid, j json, jb jsonb, by bytea, arr text[], arr2 int[],
    m mood, p pair, pos positive, ip inet, s shouting, nm name);
SELECT dbcore.enable_audit('conv');
INSERT INTO conv VALUES
  (1, -2, 9007199254740993, 12345678901234567890.123, 1.5, 0.1, 1.5e20, false, E'tab\tquote"', 'ab', 'x',
   '2026-02-28', '2026-02-28 23:59:59.5', '2026-02-28 23:59:59.5+02', '12:34', '1 day 2 hours',
   'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"k": [1, "two"]}', '"scalar"', '\xdeadbeef',
   '{a,NULL,"c,d"}', '{{1,2},{3,4}}', 'happy', ROW(1, 'x'), 7, '10.0.0.1/8', 'HEY', 'n'),
  (2, NULL, NULL, '-Infinity', NULL, '-Infinity', '-0', NULL, '', NULL, NULL,
   'infinity', '-infinity', 'infinity', NULL, NULL, NULL, 'null', 'null', '\x', '{}', NULL,
   NULL, ROW(NULL, NULL), NULL, NULL, NULL, NULL);
SELECT x.id, l.new_values = to_jsonb(x) AS like_to_jsonb
  FROM conv x JOIN dbcore.audit_log l ON l.tbl = 'conv'::regclass AND l.row_key = x.id::text
 ORDER BY x.id;
SELECT new_values FROM dbcore.audit_log WHERE tbl = 'conv'::regclass AND row_key = '1';

-- The actor lives for one transaction, like the client scope.
SELECT pg_temp.last_id() AS start \gset
SET dbcore.actor = 'planted';
SHOW dbcore.actor;
BEGIN;
SET LOCAL dbcore.actor = 'user:7';
UPDATE orders SET qty = 4 WHERE id = 1;
COMMIT;
BEGIN;
SET dbcore.actor = 'user:8';
UPDATE orders SET qty = 5 WHERE id = 1;
COMMIT;
UPDATE orders SET qty = 6 WHERE id = 1;
SELECT op, actor FROM pg_temp.log(:start);
SELECT dbcore.set_actor(NULL);
SELECT dbcore.set_actor(repeat('x', 1025));
RESET ROLE;
ALTER ROLE regress_audit_app SET dbcore.actor = 'forever';
\echo :LAST_ERROR_SQLSTATE
ALTER ROLE regress_audit_app SET dbcore.actor = '';
ALTER ROLE regress_audit_app RESET dbcore.actor;
SET ROLE regress_audit_app;

-- The database role: SET ROLE counts, a SECURITY DEFINER function not.
SELECT pg_temp.last_id() AS start \gset
CREATE FUNCTION bump(n int) RETURNS void LANGUAGE sql SECURITY DEFINER
  SET search_path = audit_test AS $$ UPDATE orders SET qty = n WHERE id = 1 $$;
GRANT EXECUTE ON FUNCTION bump(int) TO regress_audit_other;
RESET ROLE;
SET ROLE regress_audit_other;
SELECT audit_test.bump(7);
RESET ROLE;
SET ROLE regress_audit_app;
SELECT op, db_role FROM pg_temp.log(:start);

-- ON CONFLICT, MERGE, COPY.
SELECT pg_temp.last_id() AS start \gset
INSERT INTO orders (id, item) VALUES (1, 'book') ON CONFLICT (id) DO UPDATE SET item = 'novel';
INSERT INTO orders (id, item) VALUES (1, 'book') ON CONFLICT (id) DO NOTHING;
INSERT INTO orders (id, item) VALUES (3, 'cup') ON CONFLICT (id) DO NOTHING;
MERGE INTO orders o USING (VALUES (3, 'mug'), (4, 'lamp')) s(id, item) ON o.id = s.id
  WHEN MATCHED THEN UPDATE SET item = s.item
  WHEN NOT MATCHED THEN INSERT (id, item) VALUES (s.id, s.item);
MERGE INTO orders o USING (VALUES (4)) s(id) ON o.id = s.id WHEN MATCHED THEN DELETE;
COPY orders (id, item) FROM stdin;
5	copied
\.
SELECT op, row_key, old_values, new_values FROM pg_temp.log(:start);

-- Cascading foreign keys: the children's changes are recorded too.
CREATE TABLE lines (order_id int REFERENCES orders ON DELETE CASCADE ON UPDATE CASCADE,
                    n int, note text, PRIMARY KEY (order_id, n));
SELECT dbcore.enable_audit('lines', record_inserts => false);
INSERT INTO lines VALUES (3, 1, 'x'), (3, 2, 'y');
SELECT pg_temp.last_id() AS start \gset
UPDATE orders SET id = 30 WHERE id = 3;
DELETE FROM orders WHERE id = 30;
SELECT op, table_name, row_key, old_values, new_values, db_role FROM pg_temp.log(:start);

-- A statement that fails half way, after its first rows were recorded: its
-- log rows go with it, and the statements around it record theirs.
CREATE FUNCTION audit_test.fail_on_lamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.item = 'lamp' THEN
        RAISE EXCEPTION 'no lamps';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER zz_fail_on_lamp AFTER INSERT ON orders
  FOR EACH ROW EXECUTE FUNCTION audit_test.fail_on_lamp();
SELECT pg_temp.last_id() AS start \gset
DO $$
BEGIN
    INSERT INTO audit_test.orders (id, item) VALUES (40, 'before');
    BEGIN
        INSERT INTO audit_test.orders (id, item) VALUES (41, 'pen'), (42, 'lamp'), (43, 'ink');
    EXCEPTION WHEN raise_exception THEN
        RAISE NOTICE 'caught: %', SQLERRM;
    END;
    INSERT INTO audit_test.orders (id, item) VALUES (44, 'after');
END $$;
INSERT INTO orders (id, item) VALUES (45, 'lamp');
SELECT op, row_key FROM pg_temp.log(:start);
DROP TRIGGER zz_fail_on_lamp ON orders;
DELETE FROM orders WHERE id IN (40, 44);

------------------------------------------------------------------------------
-- Reading the history
------------------------------------------------------------------------------
SELECT op, old_values - 'updated_at' AS old_values, new_values - 'updated_at' AS new_values
  FROM dbcore.audit_history('orders', '1') WHERE op = 'UPDATE' LIMIT 3;
SELECT op FROM dbcore.audit_history('lines', '(30,1)');
SELECT count(*) = (SELECT count(*) FROM dbcore.audit_log WHERE xact_id = pg_current_xact_id())
  FROM dbcore.audit_transaction(pg_current_xact_id());
-- Composite keys: the row literal, as ROW(...)::text writes it.
SELECT ROW(3, 1)::text;
-- The history of a row comes from the hash index on row_key, however long
-- the log; a transaction's changes from the BRIN index on (logged_at,
-- xact_id).  (Plan shapes, with the log as small as it is here.)
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT pg_temp.explain($$SELECT * FROM dbcore.audit_log WHERE tbl = 'audit_test.orders'::regclass AND row_key = '1' ORDER BY id$$);
RESET enable_bitmapscan;
SELECT pg_temp.explain($$SELECT * FROM dbcore.audit_log WHERE xact_id = '1000'::xid8$$);
SELECT pg_temp.explain($$SELECT * FROM dbcore.audit_log WHERE logged_at < '2000-01-01'$$);
RESET enable_seqscan;

------------------------------------------------------------------------------
-- Partitions, and tables attached later
------------------------------------------------------------------------------
CREATE TABLE events (id int, region text, v text, PRIMARY KEY (region, id)) PARTITION BY LIST (region);
CREATE TABLE events_eu PARTITION OF events FOR VALUES IN ('eu');
SELECT dbcore.enable_audit('events');
CREATE TABLE events_us PARTITION OF events FOR VALUES IN ('us');
CREATE TABLE events_asia (id int NOT NULL, region text NOT NULL, v text, PRIMARY KEY (region, id));
ALTER TABLE events ATTACH PARTITION events_asia FOR VALUES IN ('asia');
-- A table audited by itself gives way to the partitioned table's trigger.
CREATE TABLE events_af (id int NOT NULL, region text NOT NULL, v text, PRIMARY KEY (region, id));
CREATE TRIGGER dbcore_audit AFTER INSERT OR UPDATE OR DELETE ON events_af FOR EACH ROW EXECUTE FUNCTION dbcore.audit();
ALTER TABLE events ATTACH PARTITION events_af FOR VALUES IN ('af');
SELECT pg_temp.last_id() AS start \gset
INSERT INTO events VALUES (1, 'eu', 'a'), (2, 'us', 'b'), (3, 'asia', 'c'), (4, 'af', 'd');
-- Moving a row to another partition is a DELETE and an INSERT.
UPDATE events SET region = 'us' WHERE id = 1;
SELECT op, table_name, row_key FROM pg_temp.log(:start);
SELECT dbcore.enable_audit('events_eu');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM dbcore.audit_problems();

------------------------------------------------------------------------------
-- Tenant-scoped tables: the client of each row, and each tenant's history
------------------------------------------------------------------------------
CREATE TABLE notes (id int, client_id uuid NOT NULL, body text, PRIMARY KEY (client_id, id));
SELECT dbcore.enable_tenant_scoping('notes');
SELECT dbcore.enable_audit('notes');
BEGIN;
SELECT dbcore.set_client('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'::uuid);
INSERT INTO notes (id, body) VALUES (1, 'a1');
COMMIT;
BEGIN;
SELECT dbcore.set_client('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'::uuid);
INSERT INTO notes (id, body) VALUES (1, 'b1');
UPDATE notes SET body = 'b1, edited';
COMMIT;
BEGIN;
SELECT dbcore.set_client('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'::uuid);
SELECT op, row_key, new_values->>'body' AS body, client_id FROM dbcore.audit_log WHERE tbl = 'notes'::regclass ORDER BY id;
SELECT count(*) FROM dbcore.audit_history('notes', '(bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb,1)');
COMMIT;
-- Without a scope, a tenant-scoped table's history is as closed as the table.
SELECT count(*) FROM dbcore.audit_history('notes', '(aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa,1)');
\echo :LAST_ERROR_SQLSTATE
-- ... while the history of tables that are not scoped stays readable.
SELECT count(*) > 0 AS readable FROM dbcore.audit_history('orders', '1');
-- System-level authorization reads every client's history.
RESET ROLE;
SET ROLE regress_audit_sys;
SELECT client_id, count(*) FROM dbcore.audit_log WHERE tbl = 'audit_test.notes'::regclass GROUP BY 1 ORDER BY 1;
RESET ROLE;
-- A role that may not read a table does not read its history.
SET ROLE regress_audit_other;
SELECT count(*) FROM dbcore.audit_history('audit_test.orders', '1');
RESET ROLE;
SET ROLE regress_audit_app;

------------------------------------------------------------------------------
-- Append-only; retention
------------------------------------------------------------------------------
INSERT INTO dbcore.audit_log (logged_at, xact_id, tbl, table_name, op, db_role)
  VALUES (now(), '1', 'orders', 'orders', 'INSERT', 'me');
\echo :LAST_ERROR_SQLSTATE
UPDATE dbcore.audit_log SET actor = 'me';
DELETE FROM dbcore.audit_log;
TRUNCATE dbcore.audit_log;
SELECT nextval('dbcore.audit_log_id_seq');
SELECT dbcore.purge_audit('1 day');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- Not even a superuser changes the log by hand.
UPDATE dbcore.audit_log SET actor = 'me';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM dbcore.audit_log;
TRUNCATE dbcore.audit_log;
SELECT dbcore._audit_log_guard();
SET ROLE regress_audit_sys;
SELECT dbcore.purge_audit(NULL);
SELECT dbcore.purge_audit('-1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.purge_audit('1 day');
RESET ROLE;

------------------------------------------------------------------------------
-- Guard rails: the audit trail is not its table owner's to lift
------------------------------------------------------------------------------
SET ROLE regress_audit_app;
SELECT dbcore.disable_audit('orders');
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER dbcore_audit ON orders;
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER dbcore_audit_truncate ON orders;
ALTER TABLE orders DISABLE TRIGGER dbcore_audit;
ALTER TABLE orders DISABLE TRIGGER USER;
ALTER TABLE orders ENABLE REPLICA TRIGGER dbcore_audit;
ALTER TABLE events_eu DISABLE TRIGGER dbcore_audit;
CREATE OR REPLACE TRIGGER dbcore_audit AFTER INSERT OR UPDATE OR DELETE ON orders
  FOR EACH ROW EXECUTE FUNCTION dbcore.audit('card_number', 'price');
ALTER TRIGGER dbcore_audit ON orders RENAME TO quiet;
ALTER TABLE events DETACH PARTITION events_asia;
\echo :LAST_ERROR_SQLSTATE
SET session_replication_role = replica;
-- Other DDL is fine.
ALTER TABLE orders ADD COLUMN note text;
CREATE INDEX ON orders (item);
-- An excluded column that goes away stops every write until the audit is
-- set up again: a renamed secret would otherwise be recorded.
ALTER TABLE orders RENAME COLUMN card_number TO card;
UPDATE orders SET qty = 1 WHERE id = 1;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE orders RENAME COLUMN card TO card_number;
UPDATE orders SET qty = 1 WHERE id = 1;
RESET ROLE;

-- A system role may; the log keeps the history.
SET ROLE regress_audit_sys;
ALTER TABLE audit_test.events DETACH PARTITION audit_test.events_asia;
SELECT dbcore.disable_audit('audit_test.events_eu');
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.disable_audit('audit_test.orders');
SELECT dbcore.disable_audit('audit_test.orders');
SELECT tbl FROM dbcore.audited_tables ORDER BY tbl::text;
SELECT count(*) > 0 AS history_kept FROM dbcore.audit_history('audit_test.orders', '1');
RESET ROLE;
SELECT dbcore._audit_unregister('audit_test.bare');
SET ROLE regress_audit_other;
SELECT dbcore._audit_unregister('audit_test.bare');
RESET ROLE;

------------------------------------------------------------------------------
-- Trigger misuse
------------------------------------------------------------------------------
SELECT dbcore.audit();
SET ROLE regress_audit_app;
CREATE TRIGGER wrong BEFORE UPDATE ON bare FOR EACH ROW EXECUTE FUNCTION dbcore.audit();
INSERT INTO bare VALUES (1);
UPDATE bare SET id = 2;
DROP TRIGGER wrong ON bare;
CREATE TRIGGER wrong AFTER UPDATE ON bare FOR EACH STATEMENT EXECUTE FUNCTION dbcore.audit();
UPDATE bare SET id = 2;
DROP TRIGGER wrong ON bare;
-- A table without columns has a history too.
RESET ROLE;
SELECT pg_temp.last_id() AS start \gset
SET ROLE regress_audit_app;
CREATE TABLE empty_cols ();
SELECT dbcore.enable_audit('empty_cols');
INSERT INTO empty_cols DEFAULT VALUES;
TRUNCATE empty_cols;
RESET ROLE;
SELECT op, row_key, new_values FROM pg_temp.log(:start);
-- dbcore maintains plain indexes of the log only, and needs all its columns.
INSERT INTO audit_test.keyless VALUES (1, 'x');
BEGIN;
CREATE INDEX audit_log_lower_actor ON dbcore.audit_log (lower(actor));
UPDATE audit_test.keyless SET b = 'y';
ROLLBACK;
BEGIN;
ALTER TABLE dbcore.audit_log RENAME COLUMN actor TO who;
UPDATE audit_test.keyless SET b = 'y';
ROLLBACK;

------------------------------------------------------------------------------
-- Clean up
------------------------------------------------------------------------------
RESET ROLE;
RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA audit_test CASCADE;
RESET client_min_messages;
SELECT count(*) FROM dbcore.audited_tables;
DROP OWNED BY regress_audit_app, regress_audit_other, regress_audit_sys;
DROP ROLE regress_audit_sys;
DROP ROLE regress_audit_app;
DROP ROLE regress_audit_other;
