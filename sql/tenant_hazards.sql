--
-- Ways around a scoped table that its owner could build with ordinary DDL:
-- the guard rails refuse them to roles without system authorization, and
-- tenant_audit lists them.
--
CREATE EXTENSION dbcore;
\set SHOW_CONTEXT never
CREATE ROLE regress_hz_app;
GRANT USAGE ON SCHEMA dbcore TO regress_hz_app;
CREATE SCHEMA hz AUTHORIZATION regress_hz_app;
SET ROLE regress_hz_app;
SET search_path = hz;
CREATE TABLE orders (id int NOT NULL, client_id uuid NOT NULL, secret text,
                     PRIMARY KEY (client_id, id));
SELECT dbcore.enable_tenant_scoping('orders');
CREATE TABLE countries (code text PRIMARY KEY);

-- 1. An unscoped inheritance parent would read every client's rows.
CREATE TABLE spy (secret text);
ALTER TABLE orders INHERIT spy;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- 2. ... and so would an unscoped partitioned table.
CREATE TABLE wrapper (id int NOT NULL, client_id uuid NOT NULL, secret text) PARTITION BY LIST (client_id);
ALTER TABLE wrapper ATTACH PARTITION orders DEFAULT;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- 3. A restrictive policy evaluated before dbcore's sees every row.
CREATE POLICY "0_first" ON orders AS RESTRICTIVE FOR SELECT USING (secret IS NOT NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- One that sorts after dbcore's may narrow within the client.
CREATE POLICY zz_narrow ON orders AS RESTRICTIVE FOR SELECT USING (secret IS NOT NULL);
DROP POLICY zz_narrow ON orders;

-- 4. A cascading foreign key to an unscoped table: deleting there would
--    delete every client's rows (foreign-key actions bypass row level
--    security).
CREATE TABLE doom (c uuid PRIMARY KEY);
ALTER TABLE orders ADD FOREIGN KEY (client_id) REFERENCES doom (c) ON DELETE CASCADE NOT VALID;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A plain reference to a shared lookup table is fine.
ALTER TABLE orders ADD COLUMN country text REFERENCES countries (code);

-- 5. A child table that references a scoped table must be scoped before
--    the reference exists: an unscoped table's inserts would probe for other
--    clients' keys (foreign-key checks ignore row level security).  Refused
--    for the application role; the supported order is create, scope, then
--    add the key.
CREATE TABLE order_lines (client_id uuid NOT NULL, order_id int NOT NULL, line int NOT NULL,
                          PRIMARY KEY (client_id, order_id, line),
                          FOREIGN KEY (client_id, order_id) REFERENCES orders (client_id, id) ON DELETE CASCADE);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE TABLE order_lines (client_id uuid NOT NULL, order_id int NOT NULL, line int NOT NULL,
                          PRIMARY KEY (client_id, order_id, line));
ALTER TABLE order_lines ADD FOREIGN KEY (client_id, order_id) REFERENCES orders (client_id, id) ON DELETE CASCADE;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.enable_tenant_scoping('order_lines');
-- (PostgreSQL checks a new key with the owner's row level security: in a scope)
BEGIN;
SET LOCAL dbcore.client_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
ALTER TABLE order_lines ADD FOREIGN KEY (client_id, order_id) REFERENCES orders (client_id, id) ON DELETE CASCADE;
COMMIT;
-- A system role may still build it in the other order (a migration role);
-- tenant_audit reports the reference until the table is scoped.
RESET ROLE;
CREATE TABLE order_notes (client_id uuid NOT NULL, order_id int NOT NULL,
                          FOREIGN KEY (client_id, order_id) REFERENCES orders (client_id, id));
ALTER TABLE order_notes OWNER TO regress_hz_app;
SET ROLE regress_hz_app;
SELECT problem, object FROM dbcore.tenant_audit() WHERE problem = 'reference from unscoped table';
SELECT dbcore.enable_tenant_scoping('order_notes');
SELECT problem, object FROM dbcore.tenant_audit() WHERE problem = 'reference from unscoped table';

-- 6. DDL that evaluates expressions over every client's rows: row level
--    security does not limit it, and its errors show the values it tripped
--    on.  Refused to the application role while the table holds rows; an
--    empty table (its size is no secret) may still be reshaped.
CREATE TABLE fresh (id int NOT NULL, client_id uuid NOT NULL, note text);
SELECT dbcore.enable_tenant_scoping('fresh');
ALTER TABLE fresh ALTER COLUMN note TYPE varchar(200);
CREATE INDEX fresh_lower ON fresh (lower(note));
ALTER TABLE fresh ADD CONSTRAINT fresh_note CHECK (note <> '');
RESET ROLE;
INSERT INTO hz.orders VALUES (1, 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'A-SECRET'),
                             (2, 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'B-SECRET');
SET ROLE regress_hz_app;
BEGIN;
SET LOCAL dbcore.client_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
SAVEPOINT s;
ALTER TABLE orders ALTER COLUMN secret TYPE int USING secret::int;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
ALTER TABLE orders ALTER COLUMN secret TYPE varchar(100);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
ALTER TABLE orders ADD CONSTRAINT guess CHECK (secret <> 'B-SECRET');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
ALTER TABLE orders ADD COLUMN echo text GENERATED ALWAYS AS (secret || '!') STORED;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
ALTER TABLE orders ADD COLUMN flag int CHECK (secret <> 'B-SECRET');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
CREATE INDEX orders_guess ON orders ((secret::int));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
CREATE INDEX orders_partial ON orders (id) WHERE secret = 'B-SECRET';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
CREATE UNIQUE INDEX orders_secret ON orders (secret);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
ALTER TABLE orders ADD CONSTRAINT orders_secret_key UNIQUE (secret);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
CREATE STATISTICS orders_stats ON (secret || 'x'), id FROM orders;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- Exclusion constraints: without the client column (an existence oracle
-- like a unique key), on an expression, or with a WHERE clause (both
-- evaluate every client's rows).
ALTER TABLE orders ADD CONSTRAINT ex_secret EXCLUDE USING btree (secret WITH =);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
ALTER TABLE orders ADD CONSTRAINT ex_expr EXCLUDE USING btree (client_id WITH =, (secret::int) WITH =);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
ALTER TABLE orders ADD CONSTRAINT ex_where EXCLUDE USING btree (client_id WITH =, id WITH =) WHERE (secret = 'B-SECRET');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- What stays allowed: a CHECK that only new rows must pass (NOT VALID; but
-- not its validation), plain and client-led unique indexes, new columns.
ALTER TABLE orders ADD CONSTRAINT later CHECK (secret <> '') NOT VALID;
SAVEPOINT t;
ALTER TABLE orders VALIDATE CONSTRAINT later;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO t;
CREATE INDEX orders_secret_plain ON orders (secret);
CREATE UNIQUE INDEX orders_client_secret ON orders (client_id, secret);
ALTER TABLE orders ADD CONSTRAINT ex_client_secret EXCLUDE USING btree (client_id WITH =, secret WITH =);
ALTER TABLE orders ADD COLUMN added int DEFAULT 0;
SELECT id, secret FROM orders ORDER BY id;
ROLLBACK;
-- A system role (here the superuser) may run all of it.
RESET ROLE;
BEGIN;
ALTER TABLE hz.orders ADD CONSTRAINT guess CHECK (secret <> 'C-SECRET');
CREATE INDEX orders_lower ON hz.orders (lower(secret));
ROLLBACK;
DELETE FROM hz.orders;
SET ROLE regress_hz_app;

-- Nothing of the refused DDL was left behind.
SELECT count(*) AS inherits FROM pg_inherits WHERE inhrelid = 'orders'::regclass;
SELECT polname FROM pg_policy WHERE polrelid = 'orders'::regclass ORDER BY 1;
SELECT conname FROM pg_constraint WHERE conrelid = 'orders'::regclass AND contype = 'f' ORDER BY 1;
RESET ROLE;

-- A system role may build them; tenant_audit then lists them.
ALTER TABLE hz.orders INHERIT hz.spy;
CREATE POLICY "0_first" ON hz.orders AS RESTRICTIVE FOR SELECT USING (secret IS NOT NULL);
SELECT problem, object, detail FROM dbcore.tenant_audit()
 WHERE problem = 'scoping altered' ORDER BY 2, 3;

-- 7. A new partition next to a DEFAULT partition that holds rows: PostgreSQL
--    checks those rows against the new bound and fails if one belongs
--    there, which tells whether another client has rows (here, a partition
--    for client B's key).  Refused while the default partition holds rows,
--    whatever the bound, so the refusal itself tells nothing.
SET ROLE regress_hz_app;
CREATE TABLE by_client (client_id uuid NOT NULL, v int) PARTITION BY LIST (client_id);
CREATE TABLE by_client_rest PARTITION OF by_client DEFAULT;
SELECT dbcore.enable_tenant_scoping('by_client');
-- While the default partition is empty, new partitions are fine.
CREATE TABLE by_client_a PARTITION OF by_client FOR VALUES IN ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
BEGIN;
SET LOCAL dbcore.client_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
INSERT INTO by_client VALUES ('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 1);
COMMIT;
BEGIN;
SET LOCAL dbcore.client_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
SAVEPOINT s;
CREATE TABLE by_client_b PARTITION OF by_client FOR VALUES IN ('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
CREATE TABLE by_client_c PARTITION OF by_client FOR VALUES IN ('cccccccc-cccc-4ccc-8ccc-cccccccccccc');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
CREATE TABLE loose (client_id uuid NOT NULL, v int);
ALTER TABLE by_client ATTACH PARTITION loose FOR VALUES IN ('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
RESET ROLE;
-- A system role may (and meets PostgreSQL's own check).
CREATE TABLE hz.by_client_c PARTITION OF hz.by_client FOR VALUES IN ('cccccccc-cccc-4ccc-8ccc-cccccccccccc');
CREATE TABLE hz.by_client_b PARTITION OF hz.by_client FOR VALUES IN ('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- 8. ALTER TABLE ... INHERIT a scoped table, by a table filled beforehand,
--    would plant rows for other clients in queries on the parent (1.3).
SET ROLE regress_hz_app;
CREATE TABLE base (id int NOT NULL, client_id uuid NOT NULL, note text);
SELECT dbcore.enable_tenant_scoping('base');
CREATE TABLE heir (id int NOT NULL, client_id uuid NOT NULL, note text);
RESET ROLE;
INSERT INTO hz.heir VALUES (1, 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'B-SECRET');
SET ROLE regress_hz_app;
ALTER TABLE heir INHERIT base;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
BEGIN;
SET LOCAL dbcore.client_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
ALTER TABLE heir INHERIT base;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
-- In the scope of the one client whose rows it holds, or empty, it may.
BEGIN;
SET LOCAL dbcore.client_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
ALTER TABLE heir INHERIT base;
SELECT note FROM base;
ROLLBACK;
CREATE TABLE heir2 (id int NOT NULL, client_id uuid NOT NULL, note text);
ALTER TABLE heir2 INHERIT base;
-- A role that owns neither table is refused by PostgreSQL, and dbcore does
-- not tell it whether the table holds rows.
RESET ROLE;
CREATE ROLE regress_hz_other;
GRANT USAGE ON SCHEMA hz TO regress_hz_other;
SET ROLE regress_hz_other;
ALTER TABLE hz.heir INHERIT hz.base;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ALTER TABLE hz.base ALTER COLUMN note TYPE varchar(10);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

-- 9. A partition is scoped as its owner, who needs USAGE on schema dbcore
--    (1.3; before, the extension's owner did it).
ALTER TABLE hz.by_client_c OWNER TO regress_hz_other;
ALTER TABLE hz.by_client DETACH PARTITION hz.by_client_c;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
GRANT USAGE ON SCHEMA dbcore TO regress_hz_other;
ALTER TABLE hz.by_client DETACH PARTITION hz.by_client_c;
SELECT tbl, root FROM dbcore.tenant_tables WHERE tbl = 'hz.by_client_c'::regclass;
REVOKE USAGE ON SCHEMA dbcore FROM regress_hz_other;

SET client_min_messages = warning;
DROP SCHEMA hz CASCADE;
DROP EXTENSION dbcore CASCADE;
DROP OWNED BY regress_hz_app;
DROP ROLE regress_hz_app;
DROP OWNED BY regress_hz_other;
DROP ROLE regress_hz_other;
