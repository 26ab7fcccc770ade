--
-- Soft delete: dbcore.enable_soft_delete(), the trigger dbcore.soft_delete(),
-- the policies that hide marked rows, dbcore.show_deleted(),
-- dbcore.restore_deleted(), dbcore.purge_deleted(), and the edges: unique
-- keys, foreign keys, partitions, tenant scoping, the audit trail.
--
-- Roles: regress_sd_app owns its tables and has only USAGE on schema
-- dbcore; regress_sd_support may see marked rows (EXECUTE on
-- dbcore.show_deleted() and the two maintenance functions);
-- regress_sd_sys has BYPASSRLS.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dbcore;
DROP ROLE IF EXISTS regress_sd_app;
DROP ROLE IF EXISTS regress_sd_support;
DROP ROLE IF EXISTS regress_sd_sys;
RESET client_min_messages;
CREATE ROLE regress_sd_app;
CREATE ROLE regress_sd_support IN ROLE regress_sd_app;
CREATE ROLE regress_sd_sys BYPASSRLS;
GRANT USAGE ON SCHEMA dbcore TO regress_sd_app, regress_sd_support, regress_sd_sys;
GRANT EXECUTE ON FUNCTION dbcore.show_deleted(boolean),
                          dbcore.restore_deleted(regclass, timestamptz),
                          dbcore.purge_deleted(regclass, interval)
   TO regress_sd_support;
CREATE SCHEMA sd_test AUTHORIZATION regress_sd_app;
GRANT USAGE ON SCHEMA sd_test TO regress_sd_support, regress_sd_sys;
SET search_path = sd_test, public;
LOAD 'dbcore';

------------------------------------------------------------------------------
-- Enabling
------------------------------------------------------------------------------
SET ROLE regress_sd_app;
CREATE TABLE users (
    id         int PRIMARY KEY,
    email      text NOT NULL,
    name       text,
    deleted_at timestamptz,
    updated_at timestamptz
);
CREATE UNIQUE INDEX users_email_key ON users (email);
SELECT dbcore.attach_updated_at('users');
SELECT dbcore.enable_soft_delete('users');
SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'users'::regclass AND tgname = 'dbcore_soft_delete';
SELECT polname, polpermissive, pg_get_expr(polqual, polrelid) AS using, pg_get_expr(polwithcheck, polrelid) AS check
  FROM pg_policy WHERE polrelid = 'users'::regclass ORDER BY polname;
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'users'::regclass;
-- A deleted row keeps its key: unique keys should ignore marked rows.
DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_email_key ON users (email) WHERE deleted_at IS NULL;
SELECT dbcore.enable_soft_delete('users');
INSERT INTO users (id, email, name) VALUES (1, 'ann@example.com', 'Ann'), (2, 'bob@example.com', 'Bob'),
                                           (3, 'cy@example.com', 'Cy');

-- Misuse.
SELECT dbcore.enable_soft_delete(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.enable_soft_delete('users', NULL);
SELECT dbcore.enable_soft_delete('users', '');
SELECT dbcore.enable_soft_delete(12345::oid::regclass);
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.enable_soft_delete('users', 'removed_at');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE odd (id int PRIMARY KEY, gone int, gone_nn timestamptz NOT NULL DEFAULT now(),
                  gone_gen timestamptz GENERATED ALWAYS AS ('2000-01-01'::timestamptz) STORED,
                  deleted_at timestamptz);
SELECT dbcore.enable_soft_delete('odd', 'no_such_column');
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.enable_soft_delete('odd', 'gone');
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.enable_soft_delete('odd', 'gone_nn');
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.enable_soft_delete('odd', 'gone_gen');
CREATE VIEW user_view AS SELECT * FROM users;
SELECT dbcore.enable_soft_delete('user_view');
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.enable_soft_delete('odd');
SELECT dbcore.enable_soft_delete('odd', 'gone_nn');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE regress_sd_sys;
SELECT dbcore.enable_soft_delete('sd_test.users');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE regress_sd_app;

------------------------------------------------------------------------------
-- DELETE marks; marked rows are invisible to reads and writes
------------------------------------------------------------------------------
DELETE FROM users WHERE id = 1;
-- The row stays, so DELETE reports no row removed, and RETURNING none.
DELETE FROM users WHERE id = 2 RETURNING *;
SELECT id, email FROM users ORDER BY id;
UPDATE users SET name = 'Ann again' WHERE id = 1;
DELETE FROM users WHERE id = 1;
SELECT count(*) FROM users WHERE email = 'ann@example.com';
-- The read path is the hand-written one: "deleted_at IS NULL", which a
-- partial index serves.
CREATE INDEX users_name_live ON users (name) WHERE deleted_at IS NULL;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM users;
RESET enable_indexscan;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM users WHERE name = 'Cy';
RESET enable_seqscan;
RESET enable_bitmapscan;
-- Marking a row by hand, or writing a marked row, is refused: ordinary
-- roles mark rows with DELETE.
UPDATE users SET deleted_at = now() WHERE id = 3;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO users (id, email, deleted_at) VALUES (9, 'x@example.com', now());
-- The email of a deleted user is free again.
INSERT INTO users (id, email, name) VALUES (4, 'ann@example.com', 'Ann II');
INSERT INTO users (id, email, name) VALUES (5, 'ann@example.com', 'Ann III')
  ON CONFLICT (email) WHERE deleted_at IS NULL DO UPDATE SET name = EXCLUDED.name;
SELECT id, email, name FROM users ORDER BY id;
-- MERGE deletes mark too; a row deleted twice in one statement once.
MERGE INTO users u USING (VALUES (3)) s(id) ON u.id = s.id WHEN MATCHED THEN DELETE;
DELETE FROM users u USING (VALUES (4), (4)) s(id) WHERE u.id = s.id;
SELECT id FROM users ORDER BY id;

------------------------------------------------------------------------------
-- Seeing marked rows: dbcore.show_deleted(), for roles granted it
------------------------------------------------------------------------------
SELECT dbcore.show_deleted();
\echo :LAST_ERROR_SQLSTATE
SET LOCAL dbcore.show_deleted = on;
BEGIN;
SET LOCAL dbcore.show_deleted = on;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT set_config('dbcore.show_deleted', 'on', true);
RESET ROLE;
SET ROLE regress_sd_support;
PREPARE live_users AS SELECT id FROM users ORDER BY id;
EXECUTE live_users;
BEGIN;
SELECT dbcore.show_deleted();
SHOW dbcore.show_deleted;
SELECT id, deleted_at IS NOT NULL AS deleted, updated_at IS NOT NULL AS updated FROM users ORDER BY id;
-- Cached plans follow the setting.
EXECUTE live_users;
SELECT dbcore.show_deleted(false);
EXECUTE live_users;
SELECT dbcore.show_deleted(true);
-- Deleting a marked row again changes nothing.
DELETE FROM users WHERE id = 1;
SELECT count(*) FROM users WHERE id = 1;
COMMIT;
-- It ends with the transaction.
SHOW dbcore.show_deleted;
EXECUTE live_users;
SELECT dbcore.show_deleted(NULL);
RESET ROLE;
-- Where the setting may come from: never a stored default.
ALTER ROLE regress_sd_support SET dbcore.show_deleted = on;
\echo :LAST_ERROR_SQLSTATE
ALTER ROLE regress_sd_support SET dbcore.show_deleted = off;
ALTER ROLE regress_sd_support RESET dbcore.show_deleted;
-- A plain SET does not outlive its transaction either.
BEGIN;
SET dbcore.show_deleted = on;
COMMIT;
SHOW dbcore.show_deleted;
-- Roles with system-level authorization bypass row level security: they
-- see marked rows always, as they see every client's.
GRANT SELECT ON sd_test.users TO regress_sd_sys;
SET ROLE regress_sd_sys;
SELECT count(*) FROM sd_test.users;
RESET ROLE;

------------------------------------------------------------------------------
-- Foreign keys
------------------------------------------------------------------------------
SET ROLE regress_sd_app;
CREATE TABLE teams (id int PRIMARY KEY, name text, deleted_at timestamptz);
CREATE TABLE members (id int PRIMARY KEY, team_id int REFERENCES teams ON DELETE CASCADE,
                      name text, deleted_at timestamptz);
CREATE TABLE badges (id int PRIMARY KEY, member_id int REFERENCES members ON DELETE CASCADE,
                     deleted_at timestamptz);
CREATE TABLE plain_notes (id int PRIMARY KEY, team_id int REFERENCES teams ON DELETE CASCADE);
CREATE TABLE invoices (id int PRIMARY KEY, team_id int REFERENCES teams, deleted_at timestamptz);
CREATE TABLE contracts (id int PRIMARY KEY, team_id int REFERENCES teams ON DELETE RESTRICT);
CREATE TABLE tasks (id int PRIMARY KEY, team_id int REFERENCES teams ON DELETE SET NULL);
SELECT dbcore.enable_soft_delete('teams'), dbcore.enable_soft_delete('members'),
       dbcore.enable_soft_delete('badges'), dbcore.enable_soft_delete('invoices');
INSERT INTO teams VALUES (1, 'red'), (2, 'blue'), (3, 'green'), (4, 'grey'), (5, 'gold');
INSERT INTO members VALUES (10, 1, 'r1'), (11, 1, 'r2'), (20, 2, 'b1');
INSERT INTO badges VALUES (100, 10), (101, 11), (200, 20);
INSERT INTO plain_notes VALUES (1, 3);
INSERT INTO invoices VALUES (1, 4);
INSERT INTO contracts VALUES (1, 5);
INSERT INTO tasks VALUES (1, 2);
-- ON DELETE CASCADE to soft-delete tables: the mark cascades, all the way.
DELETE FROM teams WHERE id = 1;
SELECT (SELECT count(*) FROM teams WHERE id = 1) AS team, (SELECT count(*) FROM members WHERE team_id = 1) AS members,
       (SELECT count(*) FROM badges WHERE member_id IN (10, 11)) AS badges;
-- ON DELETE CASCADE to a table without soft delete: refused while it has
-- referencing rows (they would be deleted for good, or stay visible).
DELETE FROM teams WHERE id = 3;
\echo :LAST_ERROR_SQLSTATE
-- NO ACTION and RESTRICT: refused while visible rows reference the row.
DELETE FROM teams WHERE id = 4;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM teams WHERE id = 5;
DELETE FROM invoices WHERE id = 1;
DELETE FROM teams WHERE id = 4;
-- SET NULL: the referencing rows keep their reference to the invisible
-- row (a join finds no team, as after the delete; a restore links them).
DELETE FROM teams WHERE id = 2;
SELECT t.id, t.team_id, teams.name FROM tasks t LEFT JOIN teams ON teams.id = t.team_id;
SELECT count(*) FROM members WHERE team_id = 2;
-- A tree: a table that references itself.
CREATE TABLE comments (id int PRIMARY KEY, parent_id int REFERENCES comments ON DELETE CASCADE,
                       deleted_at timestamptz);
SELECT dbcore.enable_soft_delete('comments');
INSERT INTO comments VALUES (1, NULL), (2, 1), (3, 2), (4, NULL);
DELETE FROM comments WHERE id = 1;
SELECT id FROM comments ORDER BY id;
RESET ROLE;

------------------------------------------------------------------------------
-- Restoring and purging
------------------------------------------------------------------------------
SET ROLE regress_sd_app;
SELECT dbcore.restore_deleted('teams', now());
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.purge_deleted('teams', '0 seconds');
RESET ROLE;
SET ROLE regress_sd_support;
BEGIN;
SELECT dbcore.show_deleted();
SELECT deleted_at AS team_1_deleted_at FROM teams WHERE id = 1 \gset
SELECT deleted_at AS team_2_deleted_at FROM teams WHERE id = 2 \gset
COMMIT;
-- A restored row must not reference a row that is still marked.
SELECT dbcore.restore_deleted('members', :'team_1_deleted_at');
\echo :LAST_ERROR_SQLSTATE
-- Restoring the team restores what its delete marked below it.
SELECT dbcore.restore_deleted('teams', :'team_1_deleted_at');
SELECT (SELECT count(*) FROM teams WHERE id = 1) AS team, (SELECT count(*) FROM members WHERE team_id = 1) AS members,
       (SELECT count(*) FROM badges WHERE member_id IN (10, 11)) AS badges;
SELECT dbcore.restore_deleted('teams', '2000-01-01');
SELECT dbcore.restore_deleted(NULL, now());
SELECT dbcore.restore_deleted('plain_notes', now());
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.restore_deleted(12345::oid::regclass, now());
-- Purging removes marked rows for good; foreign keys act as on any DELETE.
SELECT dbcore.purge_deleted('teams', '1 day');
-- (invoices, ON DELETE NO ACTION, still holds its marked row for team 4)
SELECT dbcore.purge_deleted('teams', '0 seconds');
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.purge_deleted('invoices', '0 seconds');
SELECT dbcore.purge_deleted('teams', '0 seconds');
BEGIN;
SELECT dbcore.show_deleted();
SELECT id FROM teams ORDER BY id;
SELECT id, team_id FROM members ORDER BY id;
SELECT id, team_id FROM tasks;
COMMIT;
SELECT dbcore.purge_deleted('teams', '-1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.purge_deleted('teams', NULL);
RESET ROLE;

------------------------------------------------------------------------------
-- Partitions
------------------------------------------------------------------------------
SET ROLE regress_sd_app;
CREATE TABLE events (id int, region text, deleted_at timestamptz, PRIMARY KEY (region, id))
  PARTITION BY LIST (region);
CREATE TABLE events_eu PARTITION OF events FOR VALUES IN ('eu');
SELECT dbcore.enable_soft_delete('events');
-- Partitions created or attached later get the policies; the trigger is
-- PostgreSQL's clone.
CREATE TABLE events_us PARTITION OF events FOR VALUES IN ('us');
CREATE TABLE events_asia (id int NOT NULL, region text NOT NULL, deleted_at timestamptz);
ALTER TABLE events ATTACH PARTITION events_asia FOR VALUES IN ('asia');
SELECT c.relname, c.relforcerowsecurity,
       (SELECT string_agg(p.polname, ', ' ORDER BY p.polname) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies,
       (SELECT count(*) FROM pg_trigger g WHERE g.tgrelid = c.oid AND g.tgname = 'dbcore_soft_delete') AS triggers
  FROM pg_class c WHERE c.relname LIKE 'events%' AND c.relnamespace = 'sd_test'::regnamespace ORDER BY 1;
INSERT INTO events VALUES (1, 'eu'), (2, 'us'), (3, 'asia');
-- An UPDATE that moves a row to another partition moves it (the DELETE
-- half is not a soft delete).
UPDATE events SET region = 'us' WHERE id = 1;
DELETE FROM events WHERE id = 3;
SELECT id, region FROM events ORDER BY id;
SELECT count(*) FROM events_asia;
SELECT dbcore.enable_soft_delete('events_eu');
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.disable_soft_delete('events_eu');
-- A detached partition keeps soft delete, with a trigger of its own.
ALTER TABLE events DETACH PARTITION events_asia;
SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'events_asia'::regclass AND tgname = 'dbcore_soft_delete';
SELECT count(*) FROM events_asia;
RESET ROLE;

------------------------------------------------------------------------------
-- Tenant scoping on the same table
------------------------------------------------------------------------------
SET ROLE regress_sd_app;
CREATE TABLE docs (id int, client_id uuid NOT NULL, title text, deleted_at timestamptz,
                   PRIMARY KEY (client_id, id));
SELECT dbcore.enable_tenant_scoping('docs');
SELECT dbcore.enable_soft_delete('docs');
SELECT dbcore.enable_audit('docs');
SELECT polname, polpermissive FROM pg_policy WHERE polrelid = 'docs'::regclass ORDER BY polname;
BEGIN;
SELECT dbcore.set_client('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'::uuid);
INSERT INTO docs (id, title) VALUES (1, 'a-one'), (2, 'a-two');
COMMIT;
BEGIN;
SELECT dbcore.set_client('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'::uuid);
INSERT INTO docs (id, title) VALUES (1, 'b-one');
DELETE FROM docs WHERE id = 1;
COMMIT;
-- A partial unique index by a role without system-level authorization, on a
-- scoped table holding rows: its predicate evaluates nothing.
CREATE UNIQUE INDEX docs_title_key ON docs (client_id, title) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX docs_title_key2 ON docs (client_id, title) WHERE deleted_at IS NULL AND title IS NOT NULL;
CREATE UNIQUE INDEX docs_title_bad ON docs (client_id, title) WHERE title <> '';
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT dbcore.set_client('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'::uuid);
SELECT id, title FROM docs ORDER BY id;
DELETE FROM docs WHERE id = 2;
SELECT op, row_key, old_values, new_values ? 'deleted_at' AS marked
  FROM dbcore.audit_log WHERE tbl = 'docs'::regclass AND op = 'SOFT DELETE' ORDER BY id;
COMMIT;
RESET ROLE;
SET ROLE regress_sd_support;
-- Client A's support session sees client A's marked rows only, and
-- restores nothing of client B's.
BEGIN;
SELECT dbcore.set_client('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'::uuid);
SELECT dbcore.show_deleted();
SELECT id, title, deleted_at IS NOT NULL AS deleted FROM docs ORDER BY id;
SELECT dbcore.purge_deleted('docs', '0 seconds');
COMMIT;
RESET ROLE;
SELECT client_id, id, deleted_at IS NOT NULL AS deleted FROM sd_test.docs ORDER BY 1, 2;
SELECT * FROM dbcore.tenant_audit() WHERE object LIKE 'sd_test.docs%';
SELECT * FROM dbcore.tenant_scoping_problems();

------------------------------------------------------------------------------
-- Disabling
------------------------------------------------------------------------------
SET ROLE regress_sd_app;
SELECT dbcore.disable_soft_delete('docs');
SELECT dbcore.disable_soft_delete('users');
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'users'::regclass;
-- Marked rows show again (they keep their mark); DELETE removes rows.
SELECT id, deleted_at IS NOT NULL AS deleted FROM users ORDER BY id;
DELETE FROM users WHERE id = 4;
SELECT count(*) FROM users;
SELECT dbcore.disable_soft_delete('users');
SELECT dbcore.disable_soft_delete(NULL);
RESET ROLE;
SET ROLE regress_sd_sys;
SELECT dbcore.disable_soft_delete('sd_test.teams');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

------------------------------------------------------------------------------
-- Trigger misuse
------------------------------------------------------------------------------
SELECT dbcore.soft_delete();
SET ROLE regress_sd_app;
CREATE TABLE misuse (id int, deleted_at timestamptz, n int);
INSERT INTO misuse VALUES (1);
CREATE TRIGGER t AFTER DELETE ON misuse FOR EACH ROW EXECUTE FUNCTION dbcore.soft_delete('deleted_at');
DELETE FROM misuse;
DROP TRIGGER t ON misuse;
CREATE TRIGGER t BEFORE DELETE ON misuse FOR EACH ROW EXECUTE FUNCTION dbcore.soft_delete();
DELETE FROM misuse;
DROP TRIGGER t ON misuse;
CREATE TRIGGER t BEFORE DELETE ON misuse FOR EACH ROW EXECUTE FUNCTION dbcore.soft_delete('nope');
DELETE FROM misuse;
DROP TRIGGER t ON misuse;
CREATE TRIGGER t BEFORE DELETE ON misuse FOR EACH ROW EXECUTE FUNCTION dbcore.soft_delete('n');
DELETE FROM misuse;
DROP TRIGGER t ON misuse;
-- TRUNCATE removes rows for good, as it always does.
TRUNCATE odd;
RESET ROLE;

------------------------------------------------------------------------------
-- Clean up
------------------------------------------------------------------------------
RESET ROLE;
RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA sd_test CASCADE;
RESET client_min_messages;
DROP OWNED BY regress_sd_app, regress_sd_support, regress_sd_sys;
DROP ROLE regress_sd_support;
DROP ROLE regress_sd_app;
DROP ROLE regress_sd_sys;
SELECT dbcore.purge_audit('0 seconds') >= 0 AS purged;
