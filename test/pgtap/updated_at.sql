-- pgTAP: dbcore.updated_at() and its helpers.  Runs in one transaction and
-- rolls back, so it leaves the database as it found it.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS dbcore;
LOAD 'dbcore';   -- defines the dbcore.* settings even when the extension already existed

SELECT plan(45);

-- The objects and how they are labelled
SELECT has_schema('dbcore');
SELECT has_function('dbcore', 'updated_at', '{}'::name[]);
SELECT function_returns('dbcore', 'updated_at', '{}'::name[], 'trigger');
SELECT function_lang_is('dbcore', 'updated_at', '{}'::name[], 'c');
SELECT volatility_is('dbcore', 'updated_at', '{}'::name[], 'volatile');
SELECT has_function('dbcore', 'attach_updated_at',
    ARRAY['regclass', 'name', 'boolean', 'boolean', 'text', 'boolean']);
SELECT has_function('dbcore', 'detach_updated_at', ARRAY['regclass']);
SELECT isnt_definer('dbcore', 'attach_updated_at',
    ARRAY['regclass', 'name', 'boolean', 'boolean', 'text', 'boolean'],
    'attach_updated_at runs with the caller''s rights');
SELECT ok((SELECT proconfig @> ARRAY['search_path=pg_catalog, pg_temp']
             FROM pg_proc WHERE oid = 'dbcore.attach_updated_at'::regproc),
          'attach_updated_at pins its search_path');
SELECT ok((SELECT bool_and(obj_description(oid, 'pg_proc') IS NOT NULL)
             FROM pg_proc WHERE pronamespace = 'dbcore'::regnamespace),
          'every dbcore function has a comment');
SELECT ok(EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'dbcore_auto_updated_at'
                  AND evtevent = 'ddl_command_end' AND evtenabled = 'O'),
          'the opt-in event trigger is installed and enabled');
SELECT is(current_setting('dbcore.auto_updated_at'), 'off', 'auto mode is off by default');

-- Behaviour
CREATE TABLE tap_t (id int PRIMARY KEY, v int, created_at timestamptz DEFAULT now(),
                    updated_at timestamptz, local_at timestamp);
INSERT INTO tap_t VALUES (1, 0, '2000-01-01', '2000-01-01', '2000-01-01');
SELECT lives_ok($$SELECT dbcore.attach_updated_at('tap_t')$$, 'attach_updated_at works');
SELECT trigger_is('public', 'tap_t', 'dbcore_updated_at', 'dbcore', 'updated_at',
                  'the trigger calls dbcore.updated_at()');
SELECT lives_ok($$SELECT dbcore.attach_updated_at('tap_t')$$, 'attaching twice is fine');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'tap_t'::regclass AND NOT tgisinternal),
          1, 'and leaves one trigger');
UPDATE tap_t SET v = 1;
SELECT is((SELECT updated_at FROM tap_t), now(), 'UPDATE sets updated_at to now()');
SELECT is((SELECT created_at FROM tap_t), '2000-01-01'::timestamptz, 'created_at is left alone');
INSERT INTO tap_t (id, v, updated_at) VALUES (2, 0, now());
UPDATE tap_t SET v = 2 WHERE id = 2;
SELECT is((SELECT updated_at FROM tap_t WHERE id = 2), (SELECT created_at FROM tap_t WHERE id = 2),
          'inserted and updated in one transaction: created_at = updated_at');

SELECT lives_ok($$SELECT dbcore.attach_updated_at('tap_t', 'local_at')$$, 'a timestamp column');
SET LOCAL TimeZone = 'Pacific/Auckland';
UPDATE tap_t SET v = 3 WHERE id = 1;
SELECT is((SELECT local_at FROM tap_t WHERE id = 1), now()::timestamp,
          'timestamp without time zone gets local time in the session TimeZone');
RESET TimeZone;

SELECT lives_ok($$SELECT dbcore.attach_updated_at('tap_t', skip_noop => true)$$, 'skip_noop');
UPDATE tap_t SET updated_at = '2000-01-01';
UPDATE tap_t SET v = v;
SELECT is((SELECT count(*)::int FROM tap_t WHERE updated_at = '2000-01-01'), 2,
          'a no-op UPDATE leaves updated_at alone');
UPDATE tap_t SET v = v + 1 WHERE id = 1;
SELECT is((SELECT updated_at FROM tap_t WHERE id = 1), now(), 'a real change stamps');

SELECT lives_ok($$SELECT dbcore.attach_updated_at('tap_t', keep_explicit => true)$$, 'keep_explicit');
UPDATE tap_t SET v = 9, updated_at = '1999-09-09' WHERE id = 1;
SELECT is((SELECT updated_at FROM tap_t WHERE id = 1), '1999-09-09'::timestamptz,
          'an explicitly written value is kept');

SELECT lives_ok($$SELECT dbcore.attach_updated_at('tap_t', clock => 'clock')$$, 'clock_timestamp');
UPDATE tap_t SET v = 10 WHERE id = 1;
SELECT cmp_ok((SELECT updated_at FROM tap_t WHERE id = 1), '>', now(),
              'clock mode stamps the wall clock, after the transaction start');

SELECT lives_ok($$SELECT dbcore.attach_updated_at('tap_t', on_insert => true)$$, 'on_insert');
INSERT INTO tap_t (id, v) VALUES (3, 0);
SELECT is((SELECT updated_at FROM tap_t WHERE id = 3), now(), 'INSERT fills a NULL column');

SELECT lives_ok($$SELECT dbcore.detach_updated_at('tap_t')$$, 'detach_updated_at works');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'tap_t'::regclass AND NOT tgisinternal),
          0, 'and removes the trigger');
UPDATE tap_t SET v = 100, updated_at = '2001-01-01' WHERE id = 1;
SELECT is((SELECT updated_at FROM tap_t WHERE id = 1), '2001-01-01'::timestamptz,
          'no stamping once detached');

-- Errors, by SQLSTATE
SELECT throws_ok($$SELECT dbcore.updated_at()$$, '39P01', NULL, 'called outside a trigger');
CREATE TABLE tap_bad (id int, updated_at timestamptz, label text);
INSERT INTO tap_bad VALUES (1, NULL, 'x');
CREATE TRIGGER a AFTER UPDATE ON tap_bad FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at();
SELECT throws_ok($$UPDATE tap_bad SET label = 'y'$$, '39P01', NULL, 'as an AFTER trigger');
DROP TRIGGER a ON tap_bad;
CREATE TRIGGER a BEFORE UPDATE ON tap_bad FOR EACH STATEMENT EXECUTE FUNCTION dbcore.updated_at();
SELECT throws_ok($$UPDATE tap_bad SET label = 'y'$$, '39P01', NULL, 'as a statement trigger');
DROP TRIGGER a ON tap_bad;
CREATE TRIGGER a BEFORE DELETE ON tap_bad FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at();
SELECT throws_ok($$DELETE FROM tap_bad$$, '39P01', NULL, 'on DELETE');
DROP TRIGGER a ON tap_bad;
CREATE TRIGGER a BEFORE UPDATE ON tap_bad FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at('nope');
SELECT throws_ok($$UPDATE tap_bad SET label = 'y'$$, '42703', NULL, 'missing column');
CREATE OR REPLACE TRIGGER a BEFORE UPDATE ON tap_bad FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at('label');
SELECT throws_ok($$UPDATE tap_bad SET label = 'y'$$, '42804', NULL, 'wrong column type');
CREATE OR REPLACE TRIGGER a BEFORE UPDATE ON tap_bad FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at('updated_at', 'fast');
SELECT throws_ok($$UPDATE tap_bad SET label = 'y'$$, '22023', NULL, 'unknown option');
DROP TRIGGER a ON tap_bad;
SELECT throws_ok($$SELECT dbcore.attach_updated_at('tap_bad', 'nope')$$, '42703', NULL,
                 'attach: missing column');
SELECT throws_ok($$SELECT dbcore.attach_updated_at('tap_bad', 'label')$$, '42804', NULL,
                 'attach: wrong type');
SELECT throws_ok($$SELECT dbcore.attach_updated_at(NULL)$$, '22004', NULL, 'attach: NULL table');
SELECT throws_ok($$SELECT dbcore.attach_updated_at('tap_bad', clock => 'sundial')$$, '22023', NULL,
                 'attach: bad clock');
SELECT is((SELECT label FROM tap_bad), 'x', 'failed statements changed nothing');

SELECT * FROM finish();
ROLLBACK;
