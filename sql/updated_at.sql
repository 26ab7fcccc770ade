--
-- dbcore.updated_at(): the C modification timestamp trigger and its helpers
--
CREATE EXTENSION dbcore;
SET client_min_messages = notice;
\set SHOW_CONTEXT never

-- The objects 0.1 installs.
SELECT p.oid::regprocedure AS function, p.provolatile, p.prosecdef,
       p.proconfig
  FROM pg_proc p WHERE p.pronamespace = 'dbcore'::regnamespace
   AND p.proname LIKE '%updated_at%' ORDER BY 1;
SELECT evtname, evtevent, evttags, evtenabled FROM pg_event_trigger
 WHERE evtname = 'dbcore_auto_updated_at';

------------------------------------------------------------------------------
-- Basic behaviour: the transaction timestamp, equal to now() and DEFAULT now()
------------------------------------------------------------------------------
CREATE TABLE users (
    id          integer PRIMARY KEY,
    email       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER users_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at();
INSERT INTO users VALUES (1, 'a@example.com', '2000-01-01', '2000-01-01'),
                         (2, 'b@example.com', '2000-01-01', '2000-01-01');

BEGIN;
UPDATE users SET email = 'a2@example.com' WHERE id = 1;
SELECT id, updated_at = now() AS stamped, created_at = '2000-01-01' AS created_kept
  FROM users ORDER BY id;
COMMIT;

-- Insert and update in one transaction: created_at equals updated_at.
BEGIN;
INSERT INTO users (id, email) VALUES (3, 'c@example.com');
UPDATE users SET email = 'c2@example.com' WHERE id = 3;
SELECT created_at = updated_at AS same_instant, updated_at = now() AS is_now
  FROM users WHERE id = 3;
COMMIT;

-- A later transaction moves updated_at forward; created_at stays.
SELECT updated_at AS before_update FROM users WHERE id = 3 \gset
SELECT pg_sleep(0.01);
UPDATE users SET email = 'c3@example.com' WHERE id = 3;
SELECT updated_at > :'before_update'::timestamptz AS moved,
       created_at = :'before_update'::timestamptz AS created_kept
  FROM users WHERE id = 3;

-- Without options, a value the UPDATE sets explicitly is overwritten.
BEGIN;
UPDATE users SET updated_at = '1999-01-01' WHERE id = 2;
SELECT updated_at = now() AS overwritten FROM users WHERE id = 2;
COMMIT;

------------------------------------------------------------------------------
-- timestamp without time zone: local time in the session's TimeZone
------------------------------------------------------------------------------
CREATE TABLE local_ts (id int PRIMARY KEY, v int, updated_at timestamp);
CREATE TRIGGER local_ts_updated_at BEFORE UPDATE ON local_ts
    FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at();
INSERT INTO local_ts VALUES (1, 0, NULL);
BEGIN;
SET LOCAL TimeZone = 'America/New_York';
UPDATE local_ts SET v = 1;
SELECT updated_at = now()::timestamp AS new_york_local FROM local_ts;
SET LOCAL TimeZone = 'Asia/Tokyo';
UPDATE local_ts SET v = 2;
SELECT updated_at = now()::timestamp AS tokyo_local FROM local_ts;
COMMIT;

------------------------------------------------------------------------------
-- A column named in the trigger arguments; names that need quoting
------------------------------------------------------------------------------
CREATE TABLE "Odd ""Table""" (id int PRIMARY KEY, "Val" text, "Modified At" timestamptz);
CREATE TRIGGER odd_stamp BEFORE UPDATE ON "Odd ""Table"""
    FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at('Modified At');
INSERT INTO "Odd ""Table""" VALUES (1, 'x', NULL);
BEGIN;
UPDATE "Odd ""Table""" SET "Val" = 'y';
SELECT "Modified At" = now() AS stamped FROM "Odd ""Table""";
COMMIT;

------------------------------------------------------------------------------
-- Options
------------------------------------------------------------------------------
CREATE TABLE opts (id int PRIMARY KEY, v int, note text, updated_at timestamptz);
INSERT INTO opts VALUES (1, 1, 'one', '2000-01-01'), (2, 2, NULL, '2000-01-01');

-- skip_noop: an UPDATE that changes nothing else leaves the timestamp alone.
CREATE TRIGGER opts_stamp BEFORE UPDATE ON opts
    FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at('updated_at', 'skip_noop');
UPDATE opts SET v = v, note = note;
SELECT id, updated_at = '2000-01-01' AS untouched FROM opts ORDER BY id;
UPDATE opts SET note = NULL WHERE id = 2;   -- NULL to NULL: still nothing changed
SELECT updated_at = '2000-01-01' AS untouched FROM opts WHERE id = 2;
BEGIN;
UPDATE opts SET note = 'changed' WHERE id = 2;
SELECT id, updated_at = now() AS stamped FROM opts ORDER BY id;
ROLLBACK;
-- Setting only the timestamp itself is not a change of the row.
UPDATE opts SET updated_at = '2001-01-01' WHERE id = 1;
SELECT updated_at = '2001-01-01' AS kept_own_value FROM opts WHERE id = 1;
UPDATE opts SET updated_at = '2000-01-01' WHERE id = 1;

-- keep_explicit: a value the UPDATE writes is kept; other updates stamp.
CREATE OR REPLACE TRIGGER opts_stamp BEFORE UPDATE ON opts
    FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at('updated_at', 'keep_explicit');
BEGIN;
UPDATE opts SET v = 10, updated_at = '2010-10-10' WHERE id = 1;
UPDATE opts SET v = 20 WHERE id = 2;
SELECT id, updated_at = '2010-10-10' AS explicit_kept, updated_at = now() AS stamped
  FROM opts ORDER BY id;
ROLLBACK;

-- Both options together: a no-op stays, an explicit value stays.
CREATE OR REPLACE TRIGGER opts_stamp BEFORE UPDATE ON opts
    FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at('updated_at', 'skip_noop', 'keep_explicit');
BEGIN;
UPDATE opts SET v = v;
SELECT count(*) FILTER (WHERE updated_at = '2000-01-01') AS untouched FROM opts;
UPDATE opts SET v = 3, updated_at = '2003-03-03' WHERE id = 1;
SELECT updated_at = '2003-03-03' AS explicit_kept FROM opts WHERE id = 1;
ROLLBACK;

-- clock_timestamp: the wall clock, later than the transaction start.
CREATE OR REPLACE TRIGGER opts_stamp BEFORE UPDATE ON opts
    FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at('updated_at', 'clock_timestamp');
BEGIN;
SELECT pg_sleep(0.01);
UPDATE opts SET v = v + 1;
SELECT id, updated_at > now() AS after_xact_start, updated_at <= clock_timestamp() AS not_future
  FROM opts ORDER BY id;
ROLLBACK;

-- statement_timestamp: the start of the UPDATE statement.
CREATE OR REPLACE TRIGGER opts_stamp BEFORE UPDATE ON opts
    FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at('updated_at', 'statement_timestamp');
BEGIN;
SELECT pg_sleep(0.01);
UPDATE opts SET v = v + 1;
SELECT count(DISTINCT updated_at) AS one_value, bool_and(updated_at > now()) AS after_xact_start
  FROM opts;
ROLLBACK;

-- Option names are case-insensitive; the explicit default is accepted.
CREATE OR REPLACE TRIGGER opts_stamp BEFORE UPDATE ON opts
    FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at('updated_at', 'SKIP_NOOP', 'Transaction_Timestamp');
UPDATE opts SET v = v;
SELECT count(*) AS untouched FROM opts WHERE updated_at = '2000-01-01';

------------------------------------------------------------------------------
-- BEFORE INSERT: fill a NULL column, keep a given value
------------------------------------------------------------------------------
CREATE TABLE ins (id int PRIMARY KEY, updated_at timestamptz);
CREATE TRIGGER ins_stamp BEFORE INSERT OR UPDATE ON ins
    FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at();
BEGIN;
INSERT INTO ins VALUES (1, NULL), (2, '2002-02-02');
SELECT id, updated_at = now() AS filled, updated_at = '2002-02-02' AS kept FROM ins ORDER BY id;
COMMIT;

------------------------------------------------------------------------------
-- Row layouts: the timestamp is patched into a copy of the row; every other
-- column must come through unchanged (NULLs, varlena and TOASTed values,
-- dropped columns, odd alignments, a column missing from old rows)
------------------------------------------------------------------------------
CREATE TABLE layout (id int PRIMARY KEY, flag bool, small int2, note text, big text,
                     junk int, ch char(3), num numeric, arr int[], updated_at timestamptz,
                     tail int2);
ALTER TABLE layout DROP COLUMN junk;
INSERT INTO layout
SELECT g, g % 2 = 0, g::int2,
       CASE WHEN g % 3 = 0 THEN NULL ELSE 'note ' || g END,
       CASE WHEN g % 4 = 0 THEN repeat(md5(g::text), 400) END,   -- out of line
       CASE WHEN g % 5 = 0 THEN NULL ELSE 'x' END,
       CASE WHEN g % 2 = 0 THEN g * 1.5 END,
       CASE WHEN g % 7 = 0 THEN NULL ELSE ARRAY[g, g + 1] END,
       CASE WHEN g % 6 = 0 THEN NULL ELSE '2000-01-01'::timestamptz END,
       CASE WHEN g % 8 = 0 THEN NULL ELSE 7 END
  FROM generate_series(1, 48) g;
ALTER TABLE layout ADD COLUMN added_later int DEFAULT 42;   -- missing from old rows
CREATE TABLE layout_before AS SELECT * FROM layout;
SELECT dbcore.attach_updated_at('layout');
BEGIN;
UPDATE layout SET small = small;          -- nothing else changes
SELECT count(*) AS rows, count(*) FILTER (WHERE updated_at = now()) AS stamped FROM layout;
SELECT count(*) AS rows_with_other_columns_changed
  FROM layout l JOIN layout_before b USING (id)
 WHERE (l.flag, l.small, l.note, l.big, l.ch, l.num, l.arr, l.tail, l.added_later)
       IS DISTINCT FROM (b.flag, b.small, b.note, b.big, b.ch, b.num, b.arr, b.tail, b.added_later);
COMMIT;
-- timestamp without time zone through the same path
ALTER TABLE layout ALTER COLUMN updated_at TYPE timestamp;
BEGIN;
UPDATE layout SET note = note;
SELECT count(*) FILTER (WHERE updated_at = now()::timestamp) AS stamped_local FROM layout;
SELECT count(*) AS rows_with_other_columns_changed
  FROM layout l JOIN layout_before b USING (id)
 WHERE (l.flag, l.small, l.note, l.big, l.ch, l.num, l.arr, l.tail, l.added_later)
       IS DISTINCT FROM (b.flag, b.small, b.note, b.big, b.ch, b.num, b.arr, b.tail, b.added_later);
COMMIT;
DROP TABLE layout, layout_before;

------------------------------------------------------------------------------
-- Misuse: each is an error with a SQLSTATE and a hint
------------------------------------------------------------------------------
\set VERBOSITY default
-- Called directly.
SELECT dbcore.updated_at();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE TABLE misuse (id int PRIMARY KEY, updated_at timestamptz, label text,
                     n bigint, gen timestamptz GENERATED ALWAYS AS (updated_at) STORED);
INSERT INTO misuse (id, updated_at, label, n) VALUES (1, NULL, 'a', 1);
-- AFTER
CREATE TRIGGER m BEFORE UPDATE ON misuse FOR EACH STATEMENT EXECUTE FUNCTION dbcore.updated_at();
UPDATE misuse SET label = 'b';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TRIGGER m ON misuse;
CREATE TRIGGER m AFTER UPDATE ON misuse FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at();
UPDATE misuse SET label = 'b';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TRIGGER m ON misuse;
-- DELETE and TRUNCATE
CREATE TRIGGER m BEFORE DELETE ON misuse FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at();
DELETE FROM misuse;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TRIGGER m ON misuse;
CREATE TRIGGER m BEFORE TRUNCATE ON misuse FOR EACH STATEMENT EXECUTE FUNCTION dbcore.updated_at();
TRUNCATE misuse;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TRIGGER m ON misuse;
-- INSTEAD OF on a view
CREATE VIEW misuse_v AS SELECT id, label, updated_at FROM misuse;
CREATE TRIGGER m INSTEAD OF UPDATE ON misuse_v FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at();
UPDATE misuse_v SET label = 'b';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP VIEW misuse_v;
-- Missing, wrong-typed, generated, system and empty columns
CREATE TRIGGER m BEFORE UPDATE ON misuse FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at('no_such_column');
UPDATE misuse SET label = 'b';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE OR REPLACE TRIGGER m BEFORE UPDATE ON misuse FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at('label');
UPDATE misuse SET label = 'b';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE OR REPLACE TRIGGER m BEFORE UPDATE ON misuse FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at('n');
UPDATE misuse SET label = 'b';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE OR REPLACE TRIGGER m BEFORE UPDATE ON misuse FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at('gen');
UPDATE misuse SET label = 'b';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE OR REPLACE TRIGGER m BEFORE UPDATE ON misuse FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at('xmin');
UPDATE misuse SET label = 'b';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE OR REPLACE TRIGGER m BEFORE UPDATE ON misuse FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at('');
UPDATE misuse SET label = 'b';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Unknown and conflicting options
CREATE OR REPLACE TRIGGER m BEFORE UPDATE ON misuse FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at('updated_at', 'skip-noop');
UPDATE misuse SET label = 'b';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- (a long option is quoted clipped, at a character boundary)
DO $$BEGIN EXECUTE format('CREATE OR REPLACE TRIGGER m BEFORE UPDATE ON misuse FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at(%L, %L)', 'updated_at', 'x' || repeat('ä', 5000)); END$$;
UPDATE misuse SET label = 'b';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE OR REPLACE TRIGGER m BEFORE UPDATE ON misuse FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at('updated_at', 'clock_timestamp', 'statement_timestamp');
UPDATE misuse SET label = 'b';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A repeated clock option is fine.
CREATE OR REPLACE TRIGGER m BEFORE UPDATE ON misuse FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at('updated_at', 'clock_timestamp', 'clock_timestamp');
UPDATE misuse SET label = 'b';
SELECT updated_at IS NOT NULL AS stamped FROM misuse;
-- Nothing was half-done by the failed statements.
SELECT label FROM misuse;
DROP TABLE misuse;

------------------------------------------------------------------------------
-- The cached per-trigger state follows changes to the table
------------------------------------------------------------------------------
CREATE TABLE evolving (id int PRIMARY KEY, v int, updated_at timestamptz);
CREATE TRIGGER evolving_stamp BEFORE UPDATE ON evolving
    FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at();
INSERT INTO evolving VALUES (1, 0, NULL);
UPDATE evolving SET v = v + 1;              -- fills the cache
SELECT updated_at IS NOT NULL AS stamped FROM evolving;
-- Column renamed away: the trigger no longer finds it.
ALTER TABLE evolving RENAME COLUMN updated_at TO changed_at;
UPDATE evolving SET v = v + 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A new column under the old name, at a new position.
ALTER TABLE evolving ADD COLUMN updated_at timestamptz;
UPDATE evolving SET v = v + 1;
SELECT changed_at IS NOT NULL AS old_column_kept, updated_at IS NOT NULL AS new_column_stamped FROM evolving;
-- Dropped, then re-added (new attnum again).
ALTER TABLE evolving DROP COLUMN updated_at;
UPDATE evolving SET v = v + 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ALTER TABLE evolving ADD COLUMN note text, ADD COLUMN updated_at timestamptz;
BEGIN;
UPDATE evolving SET v = v + 1;
SELECT updated_at = now() AS stamped FROM evolving;
COMMIT;
-- Type changed to timestamp, then to something unusable.
ALTER TABLE evolving ALTER COLUMN updated_at TYPE timestamp;
BEGIN;
UPDATE evolving SET v = v + 1;
SELECT updated_at = now()::timestamp AS stamped_local FROM evolving;
COMMIT;
ALTER TABLE evolving ALTER COLUMN updated_at TYPE text;
UPDATE evolving SET v = v + 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ALTER TABLE evolving ALTER COLUMN updated_at TYPE timestamptz USING updated_at::timestamptz;
-- The trigger replaced with other arguments (same trigger OID).
CREATE OR REPLACE TRIGGER evolving_stamp BEFORE UPDATE ON evolving
    FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at('changed_at');
BEGIN;
UPDATE evolving SET v = v + 1;
SELECT changed_at = now() AS now_stamps_changed_at, updated_at = now() AS updated_at_left FROM evolving;
COMMIT;
-- Inside one transaction too.
BEGIN;
ALTER TABLE evolving RENAME COLUMN changed_at TO changed_at2;
SAVEPOINT s;
UPDATE evolving SET v = v + 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
ALTER TABLE evolving RENAME COLUMN changed_at2 TO changed_at;
UPDATE evolving SET v = v + 1;
SELECT changed_at = now() AS stamped FROM evolving;
COMMIT;

------------------------------------------------------------------------------
-- Partitioned tables, with partitions whose column order differs
------------------------------------------------------------------------------
CREATE TABLE events (tenant int NOT NULL, id int NOT NULL, body text,
                     updated_at timestamptz) PARTITION BY LIST (tenant);
CREATE TABLE events_1 PARTITION OF events FOR VALUES IN (1);
SELECT dbcore.attach_updated_at('events');
-- A partition created on its own with another column order, attached later.
CREATE TABLE events_2 (updated_at timestamptz, body text, id int NOT NULL, tenant int NOT NULL);
ALTER TABLE events ATTACH PARTITION events_2 FOR VALUES IN (2);
-- A partition that had columns dropped before (attnums differ again).
CREATE TABLE events_3 (junk int, tenant int NOT NULL, id int NOT NULL, body text, updated_at timestamptz);
ALTER TABLE events_3 DROP COLUMN junk;
ALTER TABLE events ATTACH PARTITION events_3 FOR VALUES IN (3);
INSERT INTO events VALUES (1, 1, 'a', '2000-01-01'), (2, 1, 'b', '2000-01-01'), (3, 1, 'c', '2000-01-01');
BEGIN;
UPDATE events SET body = body || '!';
SELECT tableoid::regclass AS partition, updated_at = now() AS stamped FROM events ORDER BY 1;
COMMIT;
-- Updating a partition directly, and moving a row to another partition.
BEGIN;
UPDATE events_2 SET body = 'direct';
UPDATE events SET tenant = 3 WHERE tenant = 1;
SELECT tableoid::regclass AS partition, body, updated_at = now() AS stamped FROM events ORDER BY 1, 2;
COMMIT;
SELECT tgrelid::regclass AS on_table, tgname, tgparentid <> 0 AS cloned
  FROM pg_trigger WHERE tgfoid = 'dbcore.updated_at()'::regprocedure
   AND tgrelid::regclass::text LIKE 'events%' ORDER BY 1::text;
-- A partition's cloned trigger is managed on the parent.
SELECT dbcore.attach_updated_at('events_2');
SELECT dbcore.attach_updated_at('events_2', skip_noop => true);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.detach_updated_at('events_2');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

------------------------------------------------------------------------------
-- Inheritance children: attach reaches them, UPDATE through the parent stamps
------------------------------------------------------------------------------
CREATE TABLE docs (id int, body text, updated_at timestamptz);
CREATE TABLE docs_archived (archived_by text) INHERITS (docs);
CREATE TABLE docs_multi (extra int, updated_at timestamptz, id int, body text) INHERITS (docs_archived);
INSERT INTO docs VALUES (1, 'p', '2000-01-01');
INSERT INTO docs_archived VALUES (2, 'c', '2000-01-01', 'x');
INSERT INTO docs_multi (id, body, updated_at, archived_by, extra) VALUES (3, 'g', '2000-01-01', 'y', 0);
SELECT dbcore.attach_updated_at('docs');
BEGIN;
UPDATE docs SET body = body || '!';
SELECT tableoid::regclass AS tbl, updated_at = now() AS stamped FROM docs ORDER BY 1;
COMMIT;
SELECT dbcore.detach_updated_at('docs');
SELECT count(*) AS triggers_left FROM pg_trigger
 WHERE tgfoid = 'dbcore.updated_at()'::regprocedure AND tgrelid::regclass::text LIKE 'docs%';

------------------------------------------------------------------------------
-- ON CONFLICT DO UPDATE, MERGE and ON UPDATE CASCADE
------------------------------------------------------------------------------
CREATE TABLE accounts (code text PRIMARY KEY, name text, updated_at timestamptz NOT NULL DEFAULT '2000-01-01');
CREATE TABLE orders (id int PRIMARY KEY, account text REFERENCES accounts ON UPDATE CASCADE,
                     updated_at timestamptz NOT NULL DEFAULT '2000-01-01');
SELECT dbcore.attach_updated_at('accounts');
SELECT dbcore.attach_updated_at('orders');
INSERT INTO accounts (code, name) VALUES ('a', 'A'), ('b', 'B');
INSERT INTO orders (id, account) VALUES (1, 'a'), (2, 'b');
BEGIN;
INSERT INTO accounts (code, name) VALUES ('a', 'A2'), ('c', 'C')
    ON CONFLICT (code) DO UPDATE SET name = excluded.name;
SELECT code, name, updated_at = now() AS stamped FROM accounts ORDER BY code;
ROLLBACK;
BEGIN;
MERGE INTO accounts t USING (VALUES ('b', 'B2'), ('d', 'D')) s(code, name) ON t.code = s.code
    WHEN MATCHED THEN UPDATE SET name = s.name
    WHEN NOT MATCHED THEN INSERT (code, name) VALUES (s.code, s.name);
SELECT code, name, updated_at = now() AS stamped FROM accounts ORDER BY code;
ROLLBACK;
BEGIN;
UPDATE accounts SET code = 'a-renamed' WHERE code = 'a';
SELECT id, account, updated_at = now() AS stamped_by_cascade FROM orders ORDER BY id;
ROLLBACK;

------------------------------------------------------------------------------
-- attach_updated_at / detach_updated_at
------------------------------------------------------------------------------
CREATE TABLE "Mixed Case ""Quoted""" ("Updated At" timestamptz, v int);
SELECT dbcore.attach_updated_at('"Mixed Case ""Quoted"""', 'Updated At');
SELECT dbcore.attach_updated_at('"Mixed Case ""Quoted"""', 'Updated At');   -- idempotent
SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger
 WHERE tgrelid = '"Mixed Case ""Quoted"""'::regclass AND NOT tgisinternal;
INSERT INTO "Mixed Case ""Quoted""" VALUES (NULL, 1);
BEGIN;
UPDATE "Mixed Case ""Quoted""" SET v = 2;
SELECT "Updated At" = now() AS stamped FROM "Mixed Case ""Quoted""";
COMMIT;
-- Other options replace the trigger; there is still exactly one.
SELECT dbcore.attach_updated_at('"Mixed Case ""Quoted"""', 'Updated At',
                                skip_noop => true, keep_explicit => true,
                                clock => 'statement', on_insert => true);
SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger
 WHERE tgrelid = '"Mixed Case ""Quoted"""'::regclass AND NOT tgisinternal;
-- A hand-made trigger calling dbcore.updated_at() is replaced, not doubled.
CREATE TABLE handmade (v int, updated_at timestamptz);
CREATE TRIGGER my_own BEFORE UPDATE ON handmade FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at();
SELECT dbcore.attach_updated_at('handmade', clock => 'clock');
SELECT tgname FROM pg_trigger WHERE tgrelid = 'handmade'::regclass AND NOT tgisinternal;
SELECT dbcore.detach_updated_at('handmade');
SELECT dbcore.detach_updated_at('handmade');                              -- idempotent
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'handmade'::regclass AND NOT tgisinternal;
-- Columns whose names need quoting in trigger arguments.
CREATE TABLE quoted_col (v int, "it's ""odd""" timestamptz);
SELECT dbcore.attach_updated_at('quoted_col', 'it''s "odd"');
INSERT INTO quoted_col VALUES (1, NULL);
BEGIN;
UPDATE quoted_col SET v = 2;
SELECT "it's ""odd""" = now() AS stamped FROM quoted_col;
COMMIT;
SELECT dbcore.attach_updated_at('quoted_col', 'it''s "odd"');              -- idempotent
-- Errors
SELECT dbcore.attach_updated_at(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.attach_updated_at('handmade', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.attach_updated_at('handmade', '');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.attach_updated_at('handmade', skip_noop => NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.attach_updated_at('handmade', clock => 'wall');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.attach_updated_at('handmade', clock => NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.attach_updated_at('no_such_table');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.attach_updated_at('handmade', 'missing');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.attach_updated_at('handmade', 'xmin');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.attach_updated_at('handmade', 'v');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE TABLE gen (t timestamptz, g timestamptz GENERATED ALWAYS AS (t) STORED);
SELECT dbcore.attach_updated_at('gen', 'g');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE VIEW handmade_v AS SELECT * FROM handmade;
SELECT dbcore.attach_updated_at('handmade_v');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE SEQUENCE some_seq;
SELECT dbcore.attach_updated_at('some_seq');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.detach_updated_at(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS no_trigger_left_behind FROM pg_trigger WHERE tgrelid = 'handmade'::regclass AND NOT tgisinternal;

------------------------------------------------------------------------------
-- A table owner without superuser rights can attach and use the trigger
------------------------------------------------------------------------------
CREATE ROLE dbcore_test_app LOGIN;
GRANT USAGE ON SCHEMA dbcore TO dbcore_test_app;
GRANT CREATE ON SCHEMA public TO dbcore_test_app;
SET ROLE dbcore_test_app;
CREATE TABLE app_owned (id int PRIMARY KEY, v int, updated_at timestamptz);
SELECT dbcore.attach_updated_at('app_owned');
INSERT INTO app_owned VALUES (1, 0, NULL);
BEGIN;
UPDATE app_owned SET v = 1;
SELECT updated_at = now() AS stamped FROM app_owned;
COMMIT;
-- Not the owner of someone else's table.
SELECT dbcore.attach_updated_at('users');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TABLE app_owned;
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM dbcore_test_app;
REVOKE USAGE ON SCHEMA dbcore FROM dbcore_test_app;
DROP ROLE dbcore_test_app;

------------------------------------------------------------------------------
-- Opt-in: attach to new tables while dbcore.auto_updated_at is on
------------------------------------------------------------------------------
SHOW dbcore.auto_updated_at;
CREATE TABLE auto_off (id int, updated_at timestamptz);
SET dbcore.auto_updated_at = on;
CREATE TABLE auto_on (id int, updated_at timestamptz);
CREATE TABLE auto_local (id int, updated_at timestamp);
CREATE TABLE auto_no_column (id int, modified timestamptz);
CREATE TABLE auto_wrong_type (id int, updated_at date);
CREATE TABLE auto_as AS SELECT 1 AS id, now() AS updated_at;
CREATE TABLE auto_parted (id int, updated_at timestamptz) PARTITION BY RANGE (id);
CREATE TABLE auto_parted_1 PARTITION OF auto_parted FOR VALUES FROM (0) TO (10);
SELECT c.relname, count(t.oid) AS updated_at_triggers
  FROM pg_class c LEFT JOIN pg_trigger t
    ON t.tgrelid = c.oid AND t.tgfoid = 'dbcore.updated_at()'::regprocedure
 WHERE c.relname LIKE 'auto\_%' AND c.relkind IN ('r', 'p')
 GROUP BY c.relname ORDER BY c.relname;
-- A role without any privilege on schema dbcore gets the trigger too.
CREATE ROLE dbcore_test_plain;
GRANT CREATE ON SCHEMA public TO dbcore_test_plain;
SET ROLE dbcore_test_plain;
SET dbcore.auto_updated_at = on;
CREATE TABLE auto_plain (id int, v int, updated_at timestamptz);
INSERT INTO auto_plain VALUES (1, 0, NULL);
BEGIN;
UPDATE auto_plain SET v = 1;
SELECT updated_at = now() AS stamped FROM auto_plain;
COMMIT;
SELECT dbcore.detach_updated_at('auto_plain');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TABLE auto_plain;
-- A table that got the trigger on its own, attached later as a partition of
-- a table that has it too: its own trigger gives way to the parent's clone
-- (one trigger, which stamps).  A same-named trigger that does something
-- else stays, and PostgreSQL refuses the attach.
CREATE TABLE auto_p (id int, v int, updated_at timestamptz) PARTITION BY RANGE (id);
CREATE TABLE auto_p_1 (id int, v int, updated_at timestamptz);
ALTER TABLE auto_p ATTACH PARTITION auto_p_1 FOR VALUES FROM (0) TO (10);
SELECT t.tgrelid::regclass AS tbl, t.tgname, t.tgparentid <> 0 AS cloned
  FROM pg_trigger t WHERE t.tgrelid IN ('auto_p'::regclass, 'auto_p_1'::regclass)
 ORDER BY 1, 2;
INSERT INTO auto_p VALUES (1, 0, NULL);
BEGIN;
UPDATE auto_p SET v = 1;
SELECT updated_at = now() AS stamped FROM auto_p;
COMMIT;
DROP TABLE auto_p;
RESET ROLE;
CREATE TABLE auto_q (id int, v int, updated_at timestamptz) PARTITION BY RANGE (id);
RESET dbcore.auto_updated_at;
CREATE TABLE auto_q_1 (id int, v int, updated_at timestamptz);
CREATE TRIGGER dbcore_updated_at BEFORE UPDATE OF v ON auto_q_1
    FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at();
ALTER TABLE auto_q ATTACH PARTITION auto_q_1 FOR VALUES FROM (0) TO (10);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS auto_q_partitions FROM pg_inherits WHERE inhparent = 'auto_q'::regclass;
DROP TABLE auto_q, auto_q_1;
REVOKE CREATE ON SCHEMA public FROM dbcore_test_plain;
DROP ROLE dbcore_test_plain;
RESET dbcore.auto_updated_at;
-- Settings under the reserved prefix are checked.
SET dbcore.auto_updated_at = 'maybe';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET dbcore.no_such_setting = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

DROP EXTENSION dbcore CASCADE;
-- Leave nothing behind for the tests that follow.
SET client_min_messages = warning;
DROP TABLE users, local_ts, "Odd ""Table""", opts, ins, evolving, events, docs CASCADE;
DROP TABLE accounts, orders, "Mixed Case ""Quoted""", handmade, quoted_col, gen CASCADE;
DROP TABLE auto_off, auto_on, auto_local, auto_no_column, auto_wrong_type, auto_as, auto_parted;
DROP SEQUENCE some_seq;
RESET client_min_messages;
