-- pgTAP: DDL forms of PostgreSQL 17 and 18 that evaluate every client's rows,
-- judged by the guard rails like their older cousins (generated columns,
-- constraint validation).  Each block runs on the servers that have the form
-- and is skipped, and counted as such, on older ones.  Runs in one transaction
-- and rolls back.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS dbcore;

SELECT plan(12);

SELECT current_setting('server_version_num')::int >= 170000 AS pg17,
       current_setting('server_version_num')::int >= 180000 AS pg18 \gset

CREATE ROLE regress_newddl_app;
CREATE ROLE regress_newddl_sys BYPASSRLS IN ROLE regress_newddl_app;
GRANT USAGE ON SCHEMA dbcore TO regress_newddl_app, regress_newddl_sys;
CREATE SCHEMA newddl AUTHORIZATION regress_newddl_app;
SET search_path = newddl, public;

\if :pg17
SET ROLE regress_newddl_app;
CREATE TABLE gen (client_id int NOT NULL, id int, n int,
                  g int GENERATED ALWAYS AS (n * 2) STORED, PRIMARY KEY (client_id, id));
CREATE TABLE gen_empty (client_id int NOT NULL, id int, n int,
                        g int GENERATED ALWAYS AS (n * 2) STORED, PRIMARY KEY (client_id, id));
SELECT dbcore.enable_tenant_scoping('gen'), dbcore.enable_tenant_scoping('gen_empty') \gset
RESET ROLE;
INSERT INTO newddl.gen (client_id, id, n) VALUES (1, 1, 1), (2, 2, 2);
SET ROLE regress_newddl_app;

-- ALTER COLUMN ... SET EXPRESSION (17): recomputes the column on every row
SELECT throws_ok($$ALTER TABLE gen ALTER COLUMN g SET EXPRESSION AS (n * 3)$$, '42501',
    'permission denied to change a generated column''s expression in tenant-scoped table "gen"',
    'SET EXPRESSION on a scoped table that holds rows is refused to a role without system authorization');
SELECT lives_ok($$ALTER TABLE gen_empty ALTER COLUMN g SET EXPRESSION AS (n * 3)$$,
    '... allowed on an empty one');
SET ROLE regress_newddl_sys;
SELECT lives_ok($$ALTER TABLE gen ALTER COLUMN g SET EXPRESSION AS (n * 3)$$,
    '... and to a role with BYPASSRLS');
SELECT results_eq($$SELECT g FROM newddl.gen ORDER BY id$$, ARRAY[3, 6], '... which recomputed it');
SET ROLE regress_newddl_app;
\else
SELECT skip('ALTER COLUMN ... SET EXPRESSION is new in PostgreSQL 17', 4);
\endif

\if :pg18
RESET ROLE;
-- Virtual generated columns (18, the default kind): judged like stored ones.
SET ROLE regress_newddl_app;
SELECT throws_ok($$ALTER TABLE gen ADD COLUMN v int GENERATED ALWAYS AS (n + 1)$$, '42501',
    'permission denied to add a generated column to tenant-scoped table "gen"',
    'a virtual generated column (the default kind in 18) is refused like a stored one');
SELECT throws_ok($$ALTER TABLE gen ADD COLUMN v int GENERATED ALWAYS AS (n + 1) VIRTUAL$$, '42501',
    'permission denied to add a generated column to tenant-scoped table "gen"',
    '... also when written VIRTUAL');
SELECT lives_ok($$ALTER TABLE gen_empty ADD COLUMN v int GENERATED ALWAYS AS (n + 1) VIRTUAL$$,
    '... allowed on an empty table');

-- NOT ENFORCED constraints (18): adding one evaluates nothing; enforcing it
-- later checks every row.
CREATE TABLE child (client_id int NOT NULL, id int, gid int, PRIMARY KEY (client_id, id));
SELECT dbcore.enable_tenant_scoping('child') \gset
RESET ROLE;
INSERT INTO newddl.child VALUES (1, 1, 1), (2, 2, 2);
SET ROLE regress_newddl_app;
SELECT lives_ok($$ALTER TABLE child ADD CONSTRAINT child_gen FOREIGN KEY (client_id, gid)
                  REFERENCES gen (client_id, id) NOT ENFORCED$$,
    'a NOT ENFORCED foreign key between scoped tables holding rows is allowed');
SELECT lives_ok($$ALTER TABLE gen ADD CONSTRAINT gen_n CHECK (n > 0) NOT ENFORCED$$,
    '... and a NOT ENFORCED CHECK');
SELECT throws_ok($$ALTER TABLE child ALTER CONSTRAINT child_gen ENFORCED$$, '42501',
    'permission denied to enforce a constraint of tenant-scoped table "child"',
    'ALTER CONSTRAINT ... ENFORCED on a scoped table holding rows is refused');
SELECT lives_ok($$ALTER TABLE child ALTER CONSTRAINT child_gen DEFERRABLE$$,
    '... other ALTER CONSTRAINT forms are not');
SET ROLE regress_newddl_sys;
SELECT lives_ok($$ALTER TABLE child ALTER CONSTRAINT child_gen ENFORCED$$,
    '... and a BYPASSRLS role may enforce it');
\else
SELECT skip('virtual generated columns and NOT ENFORCED constraints are new in PostgreSQL 18', 8);
\endif

RESET ROLE;
SELECT * FROM finish();
ROLLBACK;
