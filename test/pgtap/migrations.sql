-- pgTAP: the migration ledger.  Runs in one transaction and rolls back, so
-- it leaves the database as it found it.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS dbcore;
LOAD 'dbcore';

SELECT plan(56);

-- Objects and labels
SELECT has_table('dbcore', 'migrations', 'the ledger exists');
SELECT has_table('dbcore', 'migration_log', 'the history exists');
SELECT col_is_pk('dbcore', 'migrations', 'version_key', 'versions are unique by their natural key');
SELECT has_index('dbcore', 'migrations', 'migrations_in_progress_idx', 'in-progress lookups use an index');
SELECT has_index('dbcore', 'migration_log', 'migration_log_version_idx', 'history lookups use an index');
SELECT ok((SELECT extconfig::regclass[] @> ARRAY['dbcore.migrations'::regclass, 'dbcore.migration_log'::regclass,
                                     'dbcore.migration_log_id_seq'::regclass]
             FROM pg_extension WHERE extname = 'dbcore'),
          'pg_dump keeps the ledger, the history and its sequence');
SELECT function_returns('dbcore', 'apply_migration', ARRAY['text', 'text', 'text', 'text'], 'boolean');
SELECT function_returns('dbcore', 'revert_migration', ARRAY['text'], 'boolean');
SELECT function_returns('dbcore', 'begin_migration', ARRAY['text', 'text', 'text', 'text'], 'boolean');
SELECT function_returns('dbcore', 'finish_migration', ARRAY['text'], 'boolean');
SELECT function_returns('dbcore', 'repair_migration', ARRAY['text'], 'boolean');
SELECT function_returns('dbcore', 'baseline', ARRAY['text'], 'boolean');
SELECT function_returns('dbcore', 'health', '{}'::name[], 'jsonb');
SELECT function_lang_is('dbcore', 'apply_migration', ARRAY['text', 'text', 'text', 'text'], 'c');
SELECT isnt_definer('dbcore', 'apply_migration', ARRAY['text', 'text', 'text', 'text'],
                    'apply_migration is not SECURITY DEFINER: scripts run as the caller');
SELECT isnt_definer('dbcore', 'revert_migration', ARRAY['text'],
                    'revert_migration is not SECURITY DEFINER');
SELECT isnt_definer('dbcore', 'health', '{}'::name[],
                    'health() runs as its caller (tenant_audit() counts what the caller may see)');
SELECT is_definer('dbcore', '_migration_health', '{}'::name[],
                  '_migration_health() reads the ledger for any role, and nothing else');
SELECT ok((SELECT bool_and(proconfig @> ARRAY['search_path=pg_catalog, pg_temp'])
             FROM pg_proc WHERE pronamespace = 'dbcore'::regnamespace AND prosecdef),
          'every SECURITY DEFINER function pins its search_path');
SELECT volatility_is('dbcore', 'migration_version_key', ARRAY['text'], 'immutable');
SELECT volatility_is('dbcore', 'apply_migration', ARRAY['text', 'text', 'text', 'text'], 'volatile');
SELECT ok(NOT has_function_privilege('public', 'dbcore.apply_migration(text,text,text,text)', 'EXECUTE'),
          'PUBLIC may not apply migrations');
SELECT ok(NOT has_table_privilege('public', 'dbcore.migrations', 'INSERT'),
          'PUBLIC may not write the ledger');
SELECT ok(has_function_privilege('public', 'dbcore.health()', 'EXECUTE'), 'PUBLIC may call health()');
SELECT is(current_setting('dbcore.allow_out_of_order'), 'off', 'out of order is off by default');

-- Versions
SELECT is(dbcore.migration_version_key('001'), dbcore.migration_version_key('1'), '001 and 1 are one version');
SELECT ok(dbcore.migration_version_key('2') < dbcore.migration_version_key('10') COLLATE "C", '2 sorts before 10');
SELECT ok(dbcore.migration_version_key('20250802120130') > dbcore.migration_version_key('999') COLLATE "C",
          'timestamps sort as numbers');
SELECT throws_ok($$SELECT dbcore.migration_version_key('V1')$$, '22P02', NULL, 'letters are rejected');
SELECT is(dbcore.migration_checksum('SELECT 1'), encode(sha256('SELECT 1'::bytea), 'hex'),
          'checksums are SHA-256');

-- Behaviour (all inside this transaction)
SELECT is(dbcore.apply_migration('1', 'tap one', 'CREATE TABLE tap_one (id int)', 'DROP TABLE tap_one'),
          true, 'apply_migration runs a new migration');
SELECT has_table('tap_one', 'its script ran');
SELECT is(dbcore.apply_migration('01', 'tap one', 'CREATE TABLE tap_one (id int)'), false,
          'the same version again is a no-op');
SELECT throws_ok($$SELECT dbcore.apply_migration('1', 'tap one', 'CREATE TABLE tap_one (id bigint)')$$,
                 'MG001', NULL, 'an edited script is refused (SQLSTATE MG001)');
SELECT throws_like($$SELECT dbcore.apply_migration('2', 'tap two', 'SELECT 1/0')$$,
                   '%migration 2 "tap two" failed: division by zero', 'a failing script names the migration');
SELECT hasnt_table('tap_two', 'and leaves nothing behind');
SELECT is(dbcore.apply_migration('3', 'tap three', 'CREATE TABLE tap_three (id int)', 'DROP TABLE tap_three'),
          true, 'a later one runs');
SELECT throws_ok($$SELECT dbcore.apply_migration('2', 'tap two', 'SELECT 1')$$, '55000', NULL,
                 'an older one is refused');
SELECT throws_ok($$SELECT dbcore.revert_migration('1')$$, '55000', NULL, 'only the newest can be reverted');
SELECT is(dbcore.revert_migration('3'), true, 'revert_migration runs the down script');
SELECT hasnt_table('tap_three', 'the table is gone');
SELECT results_eq($$SELECT version, state FROM dbcore.migration_status()$$,
                  $$VALUES ('1'::text, 'applied'::text), ('3', 'reverted')$$,
                  'migration_status shows applied and reverted');
SELECT results_eq($$SELECT version, status FROM dbcore.verify_migrations('{1,3}', '{"CREATE TABLE tap_one (id int)",x}')$$,
                  $$VALUES ('1'::text, 'ok'::text), ('3', 'pending')$$,
                  'verify_migrations reports ok and pending');
SELECT is(dbcore.health() -> 'migrations' ->> 'newest_version', '1', 'health() reports the newest version');
SELECT is(dbcore.health() ->> 'tenant_holes', (SELECT count(*) FROM dbcore.tenant_audit())::text,
          'health() counts tenant_audit() problems');

-- Imported history (1.4)
SELECT function_returns('dbcore', 'import_migration',
    ARRAY['text', 'text', 'timestamp with time zone', 'text', 'text', 'text', 'text', 'double precision', 'text'], 'boolean');
SELECT isnt_definer('dbcore', 'import_migration',
    ARRAY['text', 'text', 'timestamp with time zone', 'text', 'text', 'text', 'text', 'double precision', 'text'],
    'import_migration is not SECURITY DEFINER: only its ledger statements run as the ledger''s owner');
SELECT ok(NOT has_function_privilege('public', 'dbcore.import_migration(text,text,timestamptz,text,text,text,text,float8,text)', 'EXECUTE'),
          'PUBLIC may not import migrations');
SELECT ok(NOT has_function_privilege('public', 'dbcore.migration_imports()', 'EXECUTE'),
          'PUBLIC may not list imported migrations');
SELECT is(dbcore.import_migration('4', 'tap four', '2024-01-04 00:00+00', 'node-pg-migrate'), true,
          'import_migration records a migration another tool applied');
SELECT hasnt_table('tap_four', 'without running anything');
SELECT is(dbcore.import_migration('04', 'tap four', '2024-01-04 00:00+00', 'node-pg-migrate'), false,
          'importing it again is a no-op');
SELECT throws_ok($$SELECT dbcore.import_migration('4', 'tap other', '2024-01-04 00:00+00', 'node-pg-migrate')$$,
                 'MG004', NULL, 'another name for the same version is a conflict (SQLSTATE MG004)');
SELECT throws_ok($$SELECT dbcore.import_migration('1', 'tap one', '2024-01-01 00:00+00', 'prisma', checksum => repeat('0', 64))$$,
                 'MG001', NULL, 'another checksum for an applied version is refused (SQLSTATE MG001)');
SELECT results_eq($$SELECT version, imported_from, applied_at FROM dbcore.migration_imports()$$,
                  $$VALUES ('4'::text, 'node-pg-migrate'::text, '2024-01-04 00:00+00'::timestamptz)$$,
                  'migration_imports() lists it with its source and original time');
SELECT results_eq($$SELECT version, status FROM dbcore.verify_migrations('{1,4}', '{"CREATE TABLE tap_one (id int)",x}')$$,
                  $$VALUES ('1'::text, 'ok'::text), ('4', 'imported')$$,
                  'verify_migrations says imported where there is no checksum to compare');

SELECT * FROM finish();
ROLLBACK;
