--
-- A scope left over from an earlier transaction never comes back, also when
-- it was set before the library was loaded in the session (dbcore not in
-- shared_preload_libraries) and the transaction that loads the library
-- aborts.  Each \connect starts a fresh backend that has not loaded dbcore.
--
CREATE EXTENSION dbcore;
\set SHOW_CONTEXT never
SELECT current_user AS regress_superuser \gset
CREATE ROLE regress_stale_app LOGIN;
GRANT USAGE ON SCHEMA dbcore TO regress_stale_app;
CREATE SCHEMA stale AUTHORIZATION regress_stale_app;
SET ROLE regress_stale_app;
CREATE TABLE stale.notes (id int GENERATED ALWAYS AS IDENTITY, client_id uuid NOT NULL, note text,
                          PRIMARY KEY (client_id, id));
SELECT dbcore.enable_tenant_scoping('stale.notes');
BEGIN;
SELECT dbcore.set_client('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa');
INSERT INTO stale.notes (note) VALUES ('secret of a');
COMMIT;
RESET ROLE;

-- 1. A plain SET in autocommit, then an unscoped query (which loads the
--    library and fails), then the same query again.
\connect - regress_stale_app
SET dbcore.client_id = 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa';
SELECT note FROM stale.notes;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT note FROM stale.notes;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO stale.notes (note) VALUES ('written without a scope');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT dbcore.current_client_id();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- The setting itself reports no scope either, to code that reads it.
SHOW dbcore.client_id;
SELECT current_setting('dbcore.client_id') = '' AS shows_no_scope;

-- 2. set_config(..., false) in a committed transaction block.
\connect - regress_stale_app
BEGIN;
SELECT set_config('dbcore.client_id', 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', false);
COMMIT;
SELECT note FROM stale.notes;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT note FROM stale.notes;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- 3. The library loaded inside a savepoint that is rolled back.
\connect - regress_stale_app
SET dbcore.client_id = 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa';
BEGIN;
SAVEPOINT s;
SELECT note FROM stale.notes;
ROLLBACK TO SAVEPOINT s;
SELECT note FROM stale.notes;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;

-- 4. ... and inside a PL/pgSQL exception block.
\connect - regress_stale_app
SET dbcore.client_id = 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa';
DO $$
BEGIN
    PERFORM note FROM stale.notes;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'unscoped read refused';
END $$;
SELECT count(*) FROM stale.notes;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- A scope set in the current transaction still works, also when the
-- library is loaded by that transaction.
\connect - regress_stale_app
BEGIN;
SET LOCAL dbcore.client_id = 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa';
SELECT note FROM stale.notes;
COMMIT;
\connect - regress_stale_app
BEGIN;
SET dbcore.client_id = 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa';
SAVEPOINT s;
SELECT note FROM stale.notes;
ROLLBACK TO SAVEPOINT s;
SELECT note FROM stale.notes;
COMMIT;
-- ... and it is gone after the commit.
SELECT note FROM stale.notes;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Session mode (a superuser's choice) keeps a session-level scope.
\connect - :regress_superuser
ALTER ROLE regress_stale_app SET dbcore.session_scope = on;
\connect - regress_stale_app
SET dbcore.client_id = 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa';
SELECT note FROM stale.notes;
SELECT note FROM stale.notes;

\connect - :regress_superuser
ALTER ROLE regress_stale_app RESET dbcore.session_scope;
SET client_min_messages = warning;
DROP SCHEMA stale CASCADE;
DROP EXTENSION dbcore CASCADE;
DROP OWNED BY regress_stale_app;
DROP ROLE regress_stale_app;
