--
-- The migration ledger: dbcore.apply_migration() and its companions
--
CREATE EXTENSION dbcore;
SET client_min_messages = notice;
\set SHOW_CONTEXT never

-- What 0.3 adds, and how it is labelled.
SELECT p.oid::regprocedure AS function, (SELECT l.lanname FROM pg_language l WHERE l.oid = p.prolang) AS lang,
       p.provolatile, p.proisstrict, p.prosecdef, p.proparallel, p.proconfig
  FROM pg_proc p
 WHERE p.pronamespace = 'dbcore'::regnamespace
   AND p.proname ~ 'migration|baseline|health'
 ORDER BY p.proname;
SELECT c.relname, c.relkind,
       EXISTS (SELECT FROM aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
                WHERE a.grantee = 0) AS public_privileges,
       obj_description(c.oid, 'pg_class') IS NOT NULL AS commented
  FROM pg_class c
 WHERE c.relnamespace = 'dbcore'::regnamespace AND c.relname LIKE 'migration%'
 ORDER BY c.relname;
SELECT e.extconfig::regclass[] AS dumped_with_rows, e.extcondition
  FROM pg_extension e WHERE e.extname = 'dbcore';
SELECT p.proname,
       EXISTS (SELECT FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                WHERE a.grantee = 0) AS public_execute,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented
  FROM pg_proc p
 WHERE p.pronamespace = 'dbcore'::regnamespace
   AND p.proname ~ 'migration|baseline|health'
 ORDER BY p.proname;
SELECT count(*) AS uncommented_columns
  FROM pg_attribute a
 WHERE a.attrelid IN ('dbcore.migrations'::regclass, 'dbcore.migration_log'::regclass)
   AND a.attnum > 0 AND col_description(a.attrelid, a.attnum) IS NULL;
SHOW dbcore.allow_out_of_order;

------------------------------------------------------------------------------
-- Versions: natural order, one key per version
------------------------------------------------------------------------------
SELECT v, dbcore.migration_version_key(v) AS key
  FROM unnest(ARRAY['10', '2', '001', '1', '1.0', '1.1', '1.10', '1.2',
                    '20250802120130', '0', '1_2-3', '1.2.3']) AS v
 ORDER BY dbcore.migration_version_key(v), v;
SELECT dbcore.migration_version_key('001') = dbcore.migration_version_key('1') AS same,
       dbcore.migration_version_key('1.2') = dbcore.migration_version_key('1_2') AS separators_equal,
       dbcore.migration_version_key(NULL) IS NULL AS strict;
SELECT dbcore.migration_version_key('');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.migration_version_key('V1__init');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.migration_version_key('1..2');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.migration_version_key('1.');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.migration_version_key(' 1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.migration_version_key('-1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.migration_version_key(repeat('1', 65));
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Checksums: SHA-256 of the script's bytes, as PostgreSQL's sha256() gives.
SELECT dbcore.migration_checksum('CREATE TABLE t (id int);') AS checksum,
       dbcore.migration_checksum('CREATE TABLE t (id int);')
         = encode(sha256(convert_to('CREATE TABLE t (id int);', 'UTF8')), 'hex') AS matches_sha256,
       dbcore.migration_checksum('') AS empty,
       dbcore.migration_checksum(NULL) IS NULL AS strict;

------------------------------------------------------------------------------
-- apply_migration
------------------------------------------------------------------------------
SELECT dbcore.apply_migration('1', 'create m_users',
    'CREATE TABLE m_users (id int PRIMARY KEY, email text);',
    'DROP TABLE m_users;') AS ran;
SELECT to_regclass('m_users') IS NOT NULL AS users_exists;
-- Again, and with the same version written differently: already applied.
SELECT dbcore.apply_migration('1', 'create m_users',
    'CREATE TABLE m_users (id int PRIMARY KEY, email text);',
    'DROP TABLE m_users;') AS ran;
SELECT dbcore.apply_migration('0001', 'create m_users',
    'CREATE TABLE m_users (id int PRIMARY KEY, email text);') AS ran;
-- The script was edited after it ran: both checksums are named.
SELECT dbcore.apply_migration('1', 'create m_users',
    'CREATE TABLE m_users (id bigint PRIMARY KEY, email text);');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Several statements, a default down script (none).
SELECT dbcore.apply_migration('2', 'add m_orders',
    $$CREATE TABLE m_orders (id int PRIMARY KEY, user_id int REFERENCES m_users);
      CREATE INDEX orders_user_idx ON m_orders (user_id);$$) AS ran;
SELECT dbcore.apply_migration('10', 'add name',
    'ALTER TABLE m_users ADD COLUMN name text;',
    'ALTER TABLE m_users DROP COLUMN name;') AS ran;
-- 3 is lower than the newest, 10 (not "10" < "3" as text).
SELECT dbcore.apply_migration('3', 'm_late', 'CREATE TABLE m_late (id int);');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT to_regclass('m_late') IS NULL AS late_absent;

-- A failing script: the error names the migration and keeps its SQLSTATE;
-- nothing of it remains, neither schema nor ledger.
SELECT count(*) AS ledger_rows FROM dbcore.migrations \gset
SELECT count(*) AS log_rows FROM dbcore.migration_log \gset
SELECT dbcore.apply_migration('11', 'half done',
    'CREATE TABLE m_half (id int); INSERT INTO m_half VALUES (1 / 0);');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.apply_migration('11', 'typo', 'CREATE TABLE m_half (id int); CREAT TABLE x ();');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.apply_migration('11', 'dup', 'CREATE TABLE m_half (id int); ALTER TABLE m_users ADD COLUMN email text;');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.apply_migration('11', 'txn', 'BEGIN; CREATE TABLE m_half (id int); COMMIT;');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.apply_migration('11', 'copy', 'CREATE TABLE m_half (id int); COPY m_half FROM STDIN;');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.apply_migration('11', 'cic', 'CREATE INDEX CONCURRENTLY users_email_idx ON m_users (email);');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT to_regclass('m_half') IS NULL AS half_absent,
       (SELECT count(*) FROM dbcore.migrations) = :ledger_rows AS ledger_unchanged,
       (SELECT count(*) FROM dbcore.migration_log) = :log_rows AS log_unchanged;

-- In the caller's transaction: a rollback takes the migration back too.
BEGIN;
SELECT dbcore.apply_migration('11', 'rolled back', 'CREATE TABLE m_rolled (id int);') AS ran;
SELECT version FROM dbcore.migration_status() WHERE version = '11';
ROLLBACK;
SELECT to_regclass('m_rolled') IS NULL AS rolled_absent,
       NOT EXISTS (SELECT FROM dbcore.migrations WHERE version = '11') AS not_recorded;

-- A caller's EXCEPTION block sees the error and keeps its transaction.
DO $$
BEGIN
    PERFORM dbcore.apply_migration('11', 'caught', 'SELECT 1 / 0;');
EXCEPTION WHEN division_by_zero THEN
    RAISE NOTICE 'caught: %', SQLERRM;
END;
$$;

-- Out of order, when allowed explicitly.
SET dbcore.allow_out_of_order = on;
SELECT dbcore.apply_migration('3', 'm_late', 'CREATE TABLE m_late (id int);', 'DROP TABLE m_late;') AS ran;
RESET dbcore.allow_out_of_order;

-- Bad input
SELECT dbcore.apply_migration(NULL, 'x', 'SELECT 1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.apply_migration('12', NULL, 'SELECT 1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.apply_migration('12', 'x', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.apply_migration('', 'x', 'SELECT 1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.apply_migration('12', '', 'SELECT 1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.apply_migration('12', 'x', '');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.apply_migration('12', 'x', 'SELECT 1', '');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.apply_migration('v12', 'x', 'SELECT 1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.apply_migration('2025-08-02 12:00', 'x', 'SELECT 1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- The ledger so far.
SELECT version, name, state, left(checksum, 12) AS checksum,
       applied_by = current_user AS by_me,
       execution_ms >= 0 AS timed, has_down
  FROM dbcore.migration_status();
SELECT version, version_key, state, checksum = dbcore.migration_checksum(
           CASE version WHEN '1' THEN 'CREATE TABLE m_users (id int PRIMARY KEY, email text);' END) AS checksum_of_script
  FROM dbcore.migrations WHERE version = '1';

------------------------------------------------------------------------------
-- revert_migration
------------------------------------------------------------------------------
-- Only the newest applied migration, unless out of order is allowed.
SELECT dbcore.revert_migration('3');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.revert_migration('10') AS reverted;
SELECT count(*) AS name_columns FROM pg_attribute
 WHERE attrelid = 'm_users'::regclass AND attname = 'name';
SELECT dbcore.revert_migration('10') AS reverted;
SELECT dbcore.revert_migration('99') AS reverted;
-- 3 is now the newest; it has a down script.
SELECT dbcore.revert_migration('3') AS reverted;
SELECT to_regclass('m_late') IS NULL AS late_absent;
-- 2 has no down script.
SELECT dbcore.revert_migration('2');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- 1 has one, but 2 comes after it; allowed out of order, its down script
-- fails (m_orders references m_users) and nothing changes.
SET dbcore.allow_out_of_order = on;
SELECT dbcore.revert_migration('1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET dbcore.allow_out_of_order;
SELECT dbcore.revert_migration('1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT to_regclass('m_users') IS NOT NULL AS users_kept;
SELECT dbcore.revert_migration(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.revert_migration('x');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A reverted migration can be applied again.
SELECT dbcore.apply_migration('10', 'add name',
    'ALTER TABLE m_users ADD COLUMN name text;',
    'ALTER TABLE m_users DROP COLUMN name;') AS ran;

------------------------------------------------------------------------------
-- Non-transactional migrations: begin_migration / finish_migration
------------------------------------------------------------------------------
SELECT dbcore.begin_migration('20', 'index emails',
    'CREATE INDEX CONCURRENTLY users_email_idx ON m_users (email);',
    'DROP INDEX CONCURRENTLY users_email_idx;') AS begun;
-- While it is unfinished, no other migration runs, and it can't begin twice.
SELECT dbcore.apply_migration('21', 'next', 'SELECT 1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.begin_migration('20', 'index emails',
    'CREATE INDEX CONCURRENTLY users_email_idx ON m_users (email);');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.revert_migration('20');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT version, name, state FROM dbcore.migration_status() WHERE state = 'in_progress';
SELECT dbcore.health() -> 'migrations' -> 'in_progress' -> 0 ->> 'version' AS health_in_progress,
       dbcore.health() ->> 'status' AS health_status;
CREATE INDEX CONCURRENTLY users_email_idx ON m_users (email);
SELECT dbcore.finish_migration('20') AS finished;
SELECT dbcore.finish_migration('020') AS finished;
SELECT version, state, execution_ms >= 0 AS timed FROM dbcore.migration_status() WHERE version = '20';
SELECT dbcore.finish_migration('22');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.finish_migration(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Begun again after it ran: nothing to do; with another script: error.
SELECT dbcore.begin_migration('20', 'index emails',
    'CREATE INDEX CONCURRENTLY users_email_idx ON m_users (email);') AS begun;
SELECT dbcore.begin_migration('20', 'index emails', 'CREATE INDEX CONCURRENTLY x ON m_users (email);');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.begin_migration('5', 'too old', 'SELECT 1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.begin_migration('21', NULL, 'SELECT 1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- repair_migration: a crashed non-transactional migration.
SELECT dbcore.begin_migration('21', 'crashes', 'CREATE INDEX CONCURRENTLY users_name_idx ON m_users (name);') AS begun;
-- Pretend the session that began it is gone.
UPDATE dbcore.migrations SET session_pid = 0, session_start = '2000-01-01' WHERE version = '21';
SELECT dbcore.repair_migration('21') AS repaired;
SELECT dbcore.repair_migration('21');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.repair_migration('20');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.repair_migration(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- This session began it, so it may repair it itself.
SELECT dbcore.begin_migration('21', 'crashes', 'CREATE INDEX CONCURRENTLY users_name_idx ON m_users (name);') AS begun;
SELECT dbcore.repair_migration('21') AS repaired;
SELECT version, state FROM dbcore.migration_status() WHERE version = '21';

------------------------------------------------------------------------------
-- History, status, verify, health
------------------------------------------------------------------------------
SELECT id, version, name, event, left(checksum, 12) AS checksum,
       logged_by = current_user AS by_me,
       execution_ms IS NOT NULL AS timed
  FROM dbcore.migration_log ORDER BY id;
SELECT version, name, state, has_down FROM dbcore.migration_status();

-- Drift: 1 unchanged, 2 edited, 3 not applied and older than the newest,
-- 10 not given, 20 fine, 30 new.
SELECT * FROM dbcore.verify_migrations(
    ARRAY['1', '2', '3', '20', '30'],
    ARRAY['CREATE TABLE m_users (id int PRIMARY KEY, email text);',
          'CREATE TABLE m_orders (id int);',
          'CREATE TABLE m_late (id int);',
          'CREATE INDEX CONCURRENTLY users_email_idx ON m_users (email);',
          'SELECT 1']);
SELECT count(*) AS rows FROM dbcore.verify_migrations('{}', '{}');
SELECT * FROM dbcore.verify_migrations(NULL, '{}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM dbcore.verify_migrations('{1,2}', '{x}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM dbcore.verify_migrations('{1,NULL}', '{x,y}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM dbcore.verify_migrations('{1,01}', '{x,y}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM dbcore.verify_migrations('{1,b}', '{x,y}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

SELECT key, jsonb_typeof(value) AS type
  FROM jsonb_each(dbcore.health()) ORDER BY key;
SELECT h ->> 'status' AS status,
       h -> 'migrations' ->> 'newest_version' AS newest,
       h -> 'migrations' -> 'in_progress' AS in_progress,
       (h -> 'connections' ->> 'in_use')::int >= 1 AS connections,
       (h -> 'connections' ->> 'max')::int = current_setting('max_connections')::int AS max_connections,
       (h ->> 'server_version_num')::int = current_setting('server_version_num')::int AS version,
       (h ->> 'uptime_seconds')::bigint >= 0 AS uptime,
       (h ->> 'tenant_holes')::bigint = (SELECT count(*) FROM dbcore.tenant_audit()) AS tenant_holes
  FROM dbcore.health() AS h;

------------------------------------------------------------------------------
-- Privileges: the ledger is written only through the functions; scripts
-- run with the caller's rights.
------------------------------------------------------------------------------
CREATE ROLE dbcore_regress_app;
CREATE ROLE dbcore_regress_migrator;
GRANT USAGE ON SCHEMA dbcore TO dbcore_regress_app, dbcore_regress_migrator;
GRANT CREATE ON SCHEMA public TO dbcore_regress_migrator;
GRANT EXECUTE ON FUNCTION dbcore.apply_migration(text, text, text, text),
                          dbcore.revert_migration(text),
                          dbcore.migration_status()
   TO dbcore_regress_migrator;

SET ROLE dbcore_regress_app;
SELECT dbcore.health() ->> 'status' AS app_can_check_health;
SELECT dbcore.apply_migration('40', 'sneaky', 'SELECT 1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM dbcore.migration_status();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO dbcore.migrations (version_key, version, name, state, checksum, applied_at, applied_by)
VALUES ('0240', '40', 'forged', 'applied', repeat('0', 64), now(), 'me');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) FROM dbcore.migration_log;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

SET ROLE dbcore_regress_migrator;
-- The script runs as the migrator, not as the extension's owner ...
SELECT dbcore.apply_migration('40', 'owned by the caller',
    'CREATE TABLE public.migrator_table (id int);', 'DROP TABLE public.migrator_table;') AS ran;
SELECT tableowner FROM pg_tables WHERE tablename = 'migrator_table';
-- ... so it can't do what the migrator can't, and nothing is recorded.
SELECT dbcore.apply_migration('41', 'not allowed', 'ALTER TABLE public.m_users ADD COLUMN nope int;');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.apply_migration('41', 'not allowed', 'DELETE FROM dbcore.migrations;');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A search_path of the caller's own can't redirect the ledger queries.
SET search_path = public, pg_catalog;
SELECT dbcore.revert_migration('40') AS reverted;
RESET search_path;
SELECT version, state, applied_by FROM dbcore.migration_status() WHERE version IN ('40', '41');
RESET ROLE;
SELECT logged_by, event FROM dbcore.migration_log WHERE version = '40' ORDER BY id;

REVOKE ALL ON SCHEMA public FROM dbcore_regress_migrator;
REVOKE ALL ON SCHEMA dbcore FROM dbcore_regress_app, dbcore_regress_migrator;
REVOKE ALL ON FUNCTION dbcore.apply_migration(text, text, text, text),
                       dbcore.revert_migration(text),
                       dbcore.migration_status()
    FROM dbcore_regress_migrator;
DROP ROLE dbcore_regress_app;
DROP ROLE dbcore_regress_migrator;

------------------------------------------------------------------------------
-- baseline: adopting an existing database (a fresh ledger)
------------------------------------------------------------------------------
SELECT dbcore.baseline('5');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TABLE m_orders, m_users;
DROP EXTENSION dbcore;
CREATE EXTENSION dbcore;
SELECT dbcore.baseline(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.baseline('5.x');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.baseline('5') AS baselined;
SELECT dbcore.baseline('005') AS baselined;
SELECT dbcore.baseline('6');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Versions up to the baseline are in place already; later ones run.
SELECT dbcore.apply_migration('3', 'old', 'CREATE TABLE m_never (id int);') AS ran;
SELECT dbcore.apply_migration('5', 'the baseline itself', 'CREATE TABLE m_never (id int);') AS ran;
SELECT to_regclass('m_never') IS NULL AS never_absent;
SELECT dbcore.apply_migration('6', 'after', 'CREATE TABLE after_baseline (id int);', 'DROP TABLE after_baseline;') AS ran;
SELECT dbcore.revert_migration('5');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.finish_migration('5');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT version, name, state, checksum FROM dbcore.migration_status();
SELECT * FROM dbcore.verify_migrations('{3,5,6}', ARRAY['x', 'y',
    'CREATE TABLE after_baseline (id int);']);
SELECT version, event FROM dbcore.migration_log ORDER BY id;

DROP TABLE after_baseline;

------------------------------------------------------------------------------
-- import_migration: history another tool applied (1.4)
------------------------------------------------------------------------------
DROP EXTENSION dbcore;
CREATE EXTENSION dbcore;
-- Arguments: every one checked before anything is recorded.
SELECT dbcore.import_migration(NULL, 'n', '2024-01-01 10:00+00', 'node-pg-migrate');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.import_migration('V1', 'n', '2024-01-01 10:00+00', 'node-pg-migrate');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.import_migration('1', '', '2024-01-01 10:00+00', 'node-pg-migrate');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.import_migration('1', repeat('n', 201), '2024-01-01 10:00+00', 'node-pg-migrate');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.import_migration('1', 'n', NULL, 'node-pg-migrate');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.import_migration('1', 'n', 'infinity', 'node-pg-migrate');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.import_migration('1', 'n', '2024-01-01 10:00+00', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.import_migration('1', 'n', '2024-01-01 10:00+00', '');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.import_migration('1', 'n', '2024-01-01 10:00+00', repeat('t', 65));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.import_migration('1', 'n', '2024-01-01 10:00+00', 'prisma', checksum => '');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.import_migration('1', 'n', '2024-01-01 10:00+00', 'prisma', checksum => upper(repeat('ab', 32)));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.import_migration('1', 'n', '2024-01-01 10:00+00', 'prisma', checksum => repeat('a', 63));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.import_migration('1', 'n', '2024-01-01 10:00+00', 'prisma', checksum => 'x' || repeat('ä', 100000));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.import_migration('1', 'n', '2024-01-01 10:00+00', 'flyway', source_checksum => '');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.import_migration('1', 'n', '2024-01-01 10:00+00', 'flyway', source_checksum => repeat('1', 201));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.import_migration('1', 'n', '2024-01-01 10:00+00', 'flyway', applied_by => '');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.import_migration('1', 'n', '2024-01-01 10:00+00', 'flyway', applied_by => repeat('u', 201));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.import_migration('1', 'n', '2024-01-01 10:00+00', 'flyway', execution_ms => -1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.import_migration('1', 'n', '2024-01-01 10:00+00', 'flyway', execution_ms => 'NaN');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.import_migration('1', 'n', '2024-01-01 10:00+00', 'flyway', execution_ms => 'Infinity');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.import_migration('1', 'n', '2024-01-01 10:00+00', 'flyway', down_sql => '');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS recorded_by_bad_calls FROM dbcore.migrations;

-- node-pg-migrate's history: names and times, no checksum, nothing runs.
SELECT dbcore.import_migration('1700000000000', 'create-users', '2024-01-01 10:00+00', 'node-pg-migrate',
                               down_sql => 'DROP TABLE m_imported;') AS recorded;
SELECT to_regclass('m_imported') IS NULL AS nothing_ran;
SELECT dbcore.import_migration('1700000000000', 'create-users', '2024-01-01 10:00+00', 'node-pg-migrate') AS recorded_again;
-- The same version under another name, or from another tool: the ledger disagrees.
SELECT dbcore.import_migration('1700000000000', 'create-accounts', '2024-01-01 10:00+00', 'node-pg-migrate');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.import_migration('1700000000000', 'create-users', '2024-01-01 10:00+00', 'flyway');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Prisma's history: its checksum is the SHA-256 of migration.sql, dbcore's too.
SELECT dbcore.import_migration('20240102120000', 'add_orders', '2024-01-02 12:00+00', 'prisma',
                               checksum => dbcore.migration_checksum('CREATE TABLE m_orders (id int);'),
                               source_checksum => dbcore.migration_checksum('CREATE TABLE m_orders (id int);'),
                               execution_ms => 41.5) AS recorded;
SELECT dbcore.import_migration('20240102120000', 'add_orders', '2024-01-02 12:00+00', 'prisma',
                               checksum => dbcore.migration_checksum('CREATE TABLE m_orders (id bigint);'));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Older than the newest recorded one: refused, unless out of order is allowed.
SELECT dbcore.import_migration('1600000000000', 'older', '2023-01-01 10:00+00', 'node-pg-migrate');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET dbcore.allow_out_of_order = on;
SELECT dbcore.import_migration('1600000000000', 'older', '2023-01-01 10:00+00', 'flyway',
                               source_checksum => '-1234567', applied_by => 'flyway_user', execution_ms => 7) AS recorded;
RESET dbcore.allow_out_of_order;
SELECT version, name, state, checksum IS NOT NULL AS has_checksum, applied_at, applied_by, execution_ms, has_down
  FROM dbcore.migration_status();
SELECT version, name, imported_from, checksum IS NOT NULL AS has_checksum, source_checksum IS NOT NULL AS has_source_checksum,
       applied_at, applied_by, execution_ms
  FROM dbcore.migration_imports();
SELECT version, event, checksum IS NOT NULL AS has_checksum, execution_ms FROM dbcore.migration_log ORDER BY id;

-- What verify says: compared where a checksum is known, 'imported' where not.
SELECT * FROM dbcore.verify_migrations('{1700000000000,20240102120000,20240103000000}',
    ARRAY['CREATE TABLE m_imported (id int);', 'CREATE TABLE m_orders (id bigint);', 'SELECT 1']);
SELECT * FROM dbcore.verify_migrations('{}', '{}');
-- apply_migration over imported rows: applied already; a known checksum still compares.
SELECT dbcore.apply_migration('1700000000000', 'create-users', 'CREATE TABLE m_imported (id int);') AS ran;
SELECT dbcore.apply_migration('20240102120000', 'add_orders', 'CREATE TABLE m_orders (id int);') AS ran;
SELECT dbcore.apply_migration('20240102120000', 'add_orders', 'CREATE TABLE m_orders (id bigint);');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.begin_migration('1700000000000', 'create-users', 'CREATE TABLE m_imported (id int);') AS began;
SELECT dbcore.finish_migration('1700000000000') AS finished;
-- An import agrees with a migration dbcore applied itself under the same name.
SELECT dbcore.apply_migration('20240104000000', 'by dbcore', 'CREATE TABLE m_by_dbcore (id int);',
                              'DROP TABLE m_by_dbcore;') AS ran;
SELECT dbcore.import_migration('20240104000000', 'by dbcore', '2024-01-04 00:00+00', 'prisma') AS recorded;
SELECT dbcore.import_migration('20240104000000', 'by dbcore', '2024-01-04 00:00+00', 'prisma',
                               checksum => dbcore.migration_checksum('SELECT 2'));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A non-transactional migration in progress blocks imports as it blocks applies.
SELECT dbcore.begin_migration('20240105000000', 'concurrently', 'CREATE INDEX CONCURRENTLY m_idx ON m_by_dbcore (id)') AS began;
SELECT dbcore.import_migration('20240106000000', 'later', '2024-01-06 00:00+00', 'prisma');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.import_migration('20240105000000', 'concurrently', '2024-01-05 00:00+00', 'prisma');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.repair_migration('20240105000000') AS repaired;
SELECT dbcore.revert_migration('20240104000000') AS reverted;
-- Imported migrations revert with the down script given on import, or not at all.
SELECT dbcore.revert_migration('20240102120000');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE TABLE m_imported (id int);
SET dbcore.allow_out_of_order = on;
SELECT dbcore.revert_migration('1700000000000') AS reverted;
RESET dbcore.allow_out_of_order;
SELECT to_regclass('m_imported') IS NULL AS down_script_ran;
SELECT version, state FROM dbcore.migration_status();

-- The ledger's constraints know the new state.
INSERT INTO dbcore.migrations (version_key, version, name, state, applied_at, applied_by)
VALUES (dbcore.migration_version_key('9'), '9', 'no source', 'imported', '2024-01-09 00:00+00', 'me');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO dbcore.migrations (version_key, version, name, state, checksum, applied_at, applied_by, imported_from)
VALUES (dbcore.migration_version_key('9'), '9', 'a source, not imported', 'applied', repeat('0', 64),
        '2024-01-09 00:00+00', 'me', 'prisma');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO dbcore.migrations (version_key, version, name, state, applied_at, applied_by)
VALUES (dbcore.migration_version_key('9'), '9', 'applied without a checksum', 'applied', '2024-01-09 00:00+00', 'me');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- A baseline covers the imports at or below it: nothing to record.
DROP EXTENSION dbcore;
CREATE EXTENSION dbcore;
SELECT dbcore.baseline('20240101000000') AS baselined;
SELECT dbcore.import_migration('20231231000000', 'before the baseline', '2023-12-31 00:00+00', 'prisma') AS recorded;
SELECT dbcore.import_migration('20240101000000', 'the baseline', '2024-01-01 00:00+00', 'prisma') AS recorded;
SELECT dbcore.import_migration('20240102000000', 'after the baseline', '2024-01-02 00:00+00', 'prisma') AS recorded;
SELECT version, state FROM dbcore.migration_status();

-- Who may import: the migration roles it is granted to.
CREATE ROLE dbcore_regress_app;
GRANT USAGE ON SCHEMA dbcore TO dbcore_regress_app;
SET ROLE dbcore_regress_app;
SELECT dbcore.import_migration('20240103000000', 'sneaky', now(), 'prisma');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM dbcore.migration_imports();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
REVOKE ALL ON SCHEMA dbcore FROM dbcore_regress_app;
DROP ROLE dbcore_regress_app;
DROP EXTENSION dbcore;
