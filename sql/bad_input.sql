--
-- Bad input found by the SQL fuzzer (test/shell/fuzz_sql.sh): each is a
-- clear error, never a message about "<NULL>" or a megabyte of echoed input.
--
CREATE EXTENSION dbcore;
\set SHOW_CONTEXT never
CREATE TABLE gone (id int, updated_at timestamptz, client_id uuid);
SELECT set_config('regress.gone_oid', 'gone'::regclass::oid::text, false) IS NOT NULL AS noted;
DROP TABLE gone;
-- A dropped table's OID (the message names the OID, so only the SQLSTATE
-- and the start of the message are shown here).
\set VERBOSITY terse
DO $$ BEGIN PERFORM dbcore.attach_updated_at(current_setting('regress.gone_oid')::oid::regclass);
EXCEPTION WHEN undefined_table THEN RAISE NOTICE 'attach: %', regexp_replace(SQLERRM, '[0-9]+', 'N'); END $$;
DO $$ BEGIN PERFORM dbcore.detach_updated_at(current_setting('regress.gone_oid')::oid::regclass);
EXCEPTION WHEN undefined_table THEN RAISE NOTICE 'detach: %', regexp_replace(SQLERRM, '[0-9]+', 'N'); END $$;
DO $$ BEGIN PERFORM dbcore.enable_tenant_scoping(current_setting('regress.gone_oid')::oid::regclass);
EXCEPTION WHEN undefined_table THEN RAISE NOTICE 'enable: %', regexp_replace(SQLERRM, '[0-9]+', 'N'); END $$;
DO $$ BEGIN PERFORM dbcore._tenant_scope_one(current_setting('regress.gone_oid')::oid::regclass, 'client_id');
EXCEPTION WHEN undefined_table THEN RAISE NOTICE 'scope one: %', regexp_replace(SQLERRM, '[0-9]+', 'N'); END $$;
\set VERBOSITY default
CREATE TABLE t2 (id int, client_id uuid);
SELECT dbcore._tenant_scope_one('t2', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Huge values are not echoed back in full.
SELECT dbcore.attach_updated_at('t2', clock => repeat('x', 1048576));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.begin_migration('1', repeat('n', 1048576), 'SELECT 1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.apply_migration('1', repeat('n', 201), 'SELECT 1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS ledger_rows FROM dbcore.migrations;
SET dbcore.signing_keys = 'k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=';
SELECT dbcore.mint_client_token('c', '5 minutes', repeat('k', 1048576));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.mint_client_token('c', '5 minutes', 'k2');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET dbcore.signing_keys;
SELECT dbcore._tenant_scope_one(NULL, 'client_id');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A trigger argument longer than any column name.
CREATE TABLE t3 (id int, updated_at timestamptz);
INSERT INTO t3 VALUES (1, NULL);
\set ECHO none
SELECT format('CREATE TRIGGER t3_stamp BEFORE UPDATE ON t3 FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at(%L)',
              repeat('x', 100000)) \gexec
\set ECHO all
UPDATE t3 SET id = 2;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TABLE t2, t3;
DROP EXTENSION dbcore;
