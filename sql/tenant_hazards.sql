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

-- 5. A child table may be created with its foreign key to a scoped table
--    and scoped right after (until then tenant_audit reports the key: an
--    unscoped table's inserts probe for other clients' values).
CREATE TABLE order_lines (client_id uuid NOT NULL, order_id int NOT NULL, line int NOT NULL,
                          PRIMARY KEY (client_id, order_id, line),
                          FOREIGN KEY (client_id, order_id) REFERENCES orders (client_id, id) ON DELETE CASCADE);
SELECT problem, object FROM dbcore.tenant_audit() WHERE problem = 'reference from unscoped table';
SELECT dbcore.enable_tenant_scoping('order_lines');
SELECT problem, object FROM dbcore.tenant_audit() WHERE problem = 'reference from unscoped table';

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

SET client_min_messages = warning;
DROP SCHEMA hz CASCADE;
DROP EXTENSION dbcore CASCADE;
DROP OWNED BY regress_hz_app;
DROP ROLE regress_hz_app;
