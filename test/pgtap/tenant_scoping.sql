-- pgTAP: tenant scoping, its objects and their behaviour.  Runs in one
-- transaction and rolls back (roles included), so it leaves the database and
-- the cluster as it found them.  The attacks on tenant scoping are in
-- tenant_attacks.sql; scope lifetime across transactions is covered there
-- and by the tenant_scoping regression test.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS dbcore;
LOAD 'dbcore';   -- defines the dbcore.* settings even when the extension already existed

SELECT plan(178);

------------------------------------------------------------------------------
-- Functions: signatures and labels
------------------------------------------------------------------------------
-- name, argument types, return type, language, volatility, parallel
-- safety, leakproof.  Exactly the current_client_id*() functions are
-- LEAKPROOF; none of them is STRICT (NULL arguments are errors).
CREATE TEMP TABLE want_fn (fn name, args name[], rettype text, lang text, vol text, par text, leak boolean);
INSERT INTO want_fn VALUES
    ('set_client',               '{uuid}',                    'void',     'c',       'volatile',  'u', false),
    ('set_client',               '{bigint}',                  'void',     'c',       'volatile',  'u', false),
    ('set_client',               '{text}',                    'void',     'c',       'volatile',  'u', false),
    ('set_client_token',         '{text}',                    'text',     'c',       'volatile',  'u', false),
    ('mint_client_token',        '{text,interval,text}',      'text',     'c',       'volatile',  'r', false),
    ('current_client_id',        '{}',                        'uuid',     'c',       'stable',    's', true),
    ('current_client_id_text',   '{}',                        'text',     'c',       'stable',    's', true),
    ('current_client_id_bigint', '{}',                        'bigint',   'c',       'stable',    's', true),
    ('current_client_id_int',    '{}',                        'integer',  'c',       'stable',    's', true),
    ('tenant_row_guard',         '{}',                        'trigger',  'c',       'volatile',  'u', false),
    ('tenant_truncate_guard',    '{}',                        'trigger',  'c',       'volatile',  'u', false),
    ('_tenant_register',         '{regclass,name,regclass}',  'void',     'c',       'volatile',  'u', false),
    ('_tenant_unregister',       '{regclass}',                'boolean',  'c',       'volatile',  'u', false),
    ('tenant_check_tables',      '{regclass[],name[]}',       'setof record', 'sql', 'stable',    's', false),
    ('tenant_scoping_problems',  '{}',                        'setof record', 'sql', 'stable',    's', false),
    ('_tenant_scope_one',        '{regclass,name}',           'void',     'plpgsql', 'volatile',  'u', false),
    ('enable_tenant_scoping',    '{regclass,name}',           'void',     'plpgsql', 'volatile',  'u', false),
    ('disable_tenant_scoping',   '{regclass}',                'void',     'plpgsql', 'volatile',  'u', false),
    ('tenant_ddl_start',         '{}',                        'event_trigger', 'c',  'volatile',  'u', false),
    ('tenant_ddl_end',           '{}',                        'event_trigger', 'c',  'volatile',  'u', false),
    ('tenant_sql_drop',          '{}',                        'event_trigger', 'c',  'volatile',  'u', false),
    ('tenant_audit',             '{}',                        'setof record', 'sql', 'stable',    'u', false);

SELECT has_function('dbcore', fn, args, format('dbcore.%s(%s) exists', fn, array_to_string(args, ', ')))
  FROM want_fn ORDER BY fn, args;
SELECT function_returns('dbcore', fn, args, rettype) FROM want_fn ORDER BY fn, args;
SELECT results_eq(
    $$SELECT p.oid::regprocedure::text, l.lanname::text COLLATE "default", p.provolatile::text, p.proparallel::text, p.proleakproof, p.proisstrict
        FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
        JOIN want_fn w ON p.oid = to_regprocedure(format('dbcore.%I(%s)', w.fn, array_to_string(w.args, ',')))
       ORDER BY 1$$,
    $$SELECT format('dbcore.%s(%s)', fn, array_to_string(args::text[]::regtype[]::text[], ',')) COLLATE "default", lang,
             left(vol, 1), par::text, leak, false
        FROM want_fn ORDER BY 1$$,
    'language, volatility, parallel safety and LEAKPROOF of every tenant function; none is STRICT');
SELECT is((SELECT array_agg(p.proname::text ORDER BY p.proname) FROM pg_proc p
            WHERE p.pronamespace = 'dbcore'::regnamespace AND p.proleakproof),
          ARRAY['current_client_id', 'current_client_id_bigint', 'current_client_id_int', 'current_client_id_text',
                'showing_deleted'],
          'only the current_client_id*() functions and showing_deleted() of dbcore are LEAKPROOF (none takes an argument)');
SELECT is((SELECT count(*)::int FROM pg_proc p JOIN want_fn w ON w.fn = p.proname
            WHERE p.pronamespace = 'dbcore'::regnamespace AND p.prosecdef),
          0, 'no tenant function is SECURITY DEFINER (the event triggers switch to the extension owner in C)');
SELECT is((SELECT array_agg(p.oid::regprocedure::text ORDER BY p.oid::regprocedure::text)
             FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang JOIN want_fn w ON w.fn = p.proname
            WHERE p.pronamespace = 'dbcore'::regnamespace AND l.lanname IN ('sql', 'plpgsql')
              AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)),
          NULL, 'every tenant function in SQL or PL/pgSQL pins search_path = pg_catalog, pg_temp');
SELECT is((SELECT array_agg(p.oid::regprocedure::text ORDER BY p.oid::regprocedure::text)
             FROM pg_proc p JOIN want_fn w ON w.fn = p.proname
            WHERE p.pronamespace = 'dbcore'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL),
          NULL, 'every tenant function has a comment');
SELECT is((SELECT count(*)::int FROM pg_proc p
            WHERE p.pronamespace = 'dbcore'::regnamespace AND p.proname IN (SELECT fn FROM want_fn)),
          (SELECT count(*)::int FROM want_fn), 'no other overloads of the tenant functions');

------------------------------------------------------------------------------
-- Privileges
------------------------------------------------------------------------------
CREATE ROLE regress_scope_app;
CREATE ROLE regress_scope_other;
CREATE ROLE regress_scope_sys BYPASSRLS IN ROLE regress_scope_app;
GRANT USAGE ON SCHEMA dbcore TO regress_scope_app, regress_scope_other, regress_scope_sys;
CREATE SCHEMA scope_test AUTHORIZATION regress_scope_app;
GRANT USAGE ON SCHEMA scope_test TO regress_scope_other, regress_scope_sys;

SELECT function_privs_are('dbcore', 'mint_client_token', ARRAY['text', 'interval', 'text'], 'public', '{}'::text[],
    'mint_client_token() is not executable by PUBLIC');
SELECT ok(NOT has_function_privilege('regress_scope_app', 'dbcore.mint_client_token(text, interval, text)', 'EXECUTE'),
    '... nor by an ordinary role');
-- 1.3: the guard rails' work before and after each command is done in C,
-- none of it as the extension's owner; the functions that did it are gone.
SELECT hasnt_function('dbcore', '_tenant_after_ddl', '{}'::name[],
    '_tenant_after_ddl() is gone (it ran DDL on users'' tables as the extension''s owner)');
SELECT hasnt_function('dbcore', '_tenant_before_attach', ARRAY['regclass', 'regclass'],
    '_tenant_before_attach() is gone (it dropped triggers as the extension''s owner)');
SELECT ok(bool_and(has_function_privilege('regress_scope_app', p.oid, 'EXECUTE')),
          'an ordinary role may call set_client*(), current_client_id*(), enable/disable_tenant_scoping() and tenant_audit()')
  FROM pg_proc p
 WHERE p.pronamespace = 'dbcore'::regnamespace
   AND p.proname IN ('set_client', 'set_client_token', 'current_client_id', 'current_client_id_text',
                     'current_client_id_bigint', 'current_client_id_int', 'enable_tenant_scoping',
                     'disable_tenant_scoping', 'tenant_audit', 'tenant_scoping_problems', 'tenant_check_tables');
SELECT table_privs_are('dbcore', 'tenant_tables', 'public', ARRAY['SELECT'],
    'dbcore.tenant_tables is readable, not writable, by PUBLIC');
SELECT ok(NOT has_table_privilege('regress_scope_app', 'dbcore.tenant_tables', 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'),
    '... so an ordinary role cannot change it');

------------------------------------------------------------------------------
-- Settings
------------------------------------------------------------------------------
SELECT results_eq(
    $$SELECT name::text, vartype, context, boot_val, unit, min_val, max_val FROM pg_settings
       WHERE name IN ('dbcore.client_id', 'dbcore.session_scope', 'dbcore.token_max_ttl') ORDER BY name$$,
    $$VALUES ('dbcore.client_id', 'string', 'user', '', NULL, NULL, NULL),
             ('dbcore.session_scope', 'bool', 'superuser', 'off', NULL, NULL, NULL),
             ('dbcore.token_max_ttl', 'integer', 'superuser', '3600', 's', '1', '604800')$$,
    'dbcore.client_id (any role), dbcore.session_scope and dbcore.token_max_ttl (superuser) with their defaults');
SELECT is_empty($$SELECT 1 FROM pg_settings WHERE name = 'dbcore.signing_keys'$$,
    'dbcore.signing_keys is left out of pg_settings');
SELECT is(current_setting('dbcore.signing_keys'), '', 'a superuser can read dbcore.signing_keys; it is empty by default');
SELECT lives_ok($$SET LOCAL dbcore.signing_keys = 'k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY='$$,
    'a superuser can set dbcore.signing_keys');
SELECT throws_ok($$SET LOCAL dbcore.signing_keys = 'k1:c2hvcnQ='$$, '22023', 'invalid value for parameter "dbcore.signing_keys"',
    'dbcore.signing_keys refuses a short secret');
SET LOCAL dbcore.signing_keys = '';
SET LOCAL ROLE regress_scope_other;
SELECT throws_ok($$SHOW dbcore.signing_keys$$, '42501', NULL,  -- (PostgreSQL's message, worded differently since 16)
    'SHOW dbcore.signing_keys is refused to an ordinary role');
SELECT throws_ok($$SELECT current_setting('dbcore.signing_keys')$$, '42501', NULL,
    '... and so is current_setting()');
SELECT is_empty($$SELECT 1 FROM pg_settings WHERE name = 'dbcore.signing_keys'$$,
    '... and pg_settings does not list it');
SELECT throws_ok($$SET LOCAL dbcore.signing_keys = ''$$, '42501', 'permission denied to set parameter "dbcore.signing_keys"',
    'an ordinary role cannot set dbcore.signing_keys');
SELECT throws_ok($$SET LOCAL dbcore.session_scope = on$$, '42501', 'permission denied to set parameter "dbcore.session_scope"',
    '... nor dbcore.session_scope');
SELECT throws_ok($$SET LOCAL dbcore.token_max_ttl = 60$$, '42501', 'permission denied to set parameter "dbcore.token_max_ttl"',
    '... nor dbcore.token_max_ttl');
SELECT lives_ok($$SET LOCAL dbcore.client_id = '42'$$, '... but dbcore.client_id (outside strict mode)');
RESET ROLE;
SET LOCAL dbcore.client_id = '';
SELECT throws_ok($$SET LOCAL dbcore.token_max_ttl = 0$$, '22023', NULL, 'dbcore.token_max_ttl is at least 1 second');
SELECT throws_ok($$SET LOCAL dbcore.token_max_ttl = '8d'$$, '22023', NULL, '... and at most 7 days');

------------------------------------------------------------------------------
-- The registry and the event triggers
------------------------------------------------------------------------------
SELECT has_table('dbcore', 'tenant_tables', 'dbcore.tenant_tables exists');
SELECT col_is_pk('dbcore', 'tenant_tables', 'tbl', 'one row per table');
SELECT columns_are('dbcore', 'tenant_tables', ARRAY['tbl', 'column_name', 'root'], 'its columns');
SELECT col_type_is('dbcore', 'tenant_tables', 'tbl', 'regclass', 'tbl is a regclass');
SELECT col_type_is('dbcore', 'tenant_tables', 'column_name', 'name', 'column_name is a name');
SELECT col_not_null('dbcore', 'tenant_tables', 'column_name', 'column_name is NOT NULL');
SELECT col_type_is('dbcore', 'tenant_tables', 'root', 'regclass', 'root is a regclass');
SELECT ok((SELECT 'dbcore.tenant_tables'::regclass = ANY (extconfig) FROM pg_extension WHERE extname = 'dbcore'),
          'pg_dump keeps its rows (pg_extension_config_dump)');
SELECT ok(obj_description('dbcore.tenant_tables'::regclass, 'pg_class') IS NOT NULL
          AND (SELECT bool_and(col_description('dbcore.tenant_tables'::regclass, attnum) IS NOT NULL)
                 FROM pg_attribute WHERE attrelid = 'dbcore.tenant_tables'::regclass AND attnum > 0 AND NOT attisdropped),
          'the registry and each of its columns have a comment');
SELECT results_eq(
    $$SELECT evtname::text COLLATE "default", evtevent::text COLLATE "default", evtfoid::regproc::text, evtenabled::text, evttags IS NULL,
             obj_description(oid, 'pg_event_trigger') IS NOT NULL
        FROM pg_event_trigger WHERE evtname LIKE 'dbcore\_tenant\_%' ORDER BY evtname$$,
    $$VALUES ('dbcore_tenant_ddl_end', 'ddl_command_end', 'dbcore.tenant_ddl_end', 'O', true, true),
             ('dbcore_tenant_ddl_start', 'ddl_command_start', 'dbcore.tenant_ddl_start', 'O', true, true),
             ('dbcore_tenant_sql_drop', 'sql_drop', 'dbcore.tenant_sql_drop', 'O', true, true)$$,
    'the three guard-rail event triggers are installed, enabled for every command tag, and commented');
SELECT ok((SELECT bool_and(d.deptype = 'e') FROM pg_depend d
            WHERE d.classid = 'pg_event_trigger'::regclass
              AND d.objid IN (SELECT oid FROM pg_event_trigger WHERE evtname LIKE 'dbcore\_tenant\_%')
              AND d.refclassid = 'pg_extension'::regclass),
          'they belong to the extension');

------------------------------------------------------------------------------
-- The current client: round trips by type
------------------------------------------------------------------------------
SELECT throws_ok($$SELECT dbcore.current_client_id()$$, '42501', 'no client scope is set', 'no scope: current_client_id()');
SELECT throws_ok($$SELECT dbcore.current_client_id_text()$$, '42501', 'no client scope is set', 'no scope: current_client_id_text()');
SELECT throws_ok($$SELECT dbcore.current_client_id_bigint()$$, '42501', 'no client scope is set', 'no scope: current_client_id_bigint()');
SELECT throws_ok($$SELECT dbcore.current_client_id_int()$$, '42501', 'no client scope is set', 'no scope: current_client_id_int()');

SELECT lives_ok($$SELECT dbcore.set_client('11111111-2222-4333-8444-555555555555'::uuid)$$, 'set_client(uuid)');
SELECT is(dbcore.current_client_id(), '11111111-2222-4333-8444-555555555555'::uuid, 'current_client_id() returns that uuid');
SELECT is(dbcore.current_client_id_text(), '11111111-2222-4333-8444-555555555555', '... current_client_id_text() its text');
SELECT is(current_setting('dbcore.client_id'), '11111111-2222-4333-8444-555555555555', '... and it is dbcore.client_id');
SELECT throws_ok($$SELECT dbcore.current_client_id_bigint()$$, '22P02',
    'current client id "11111111-2222-4333-8444-555555555555" is not a valid bigint', 'a uuid is not a bigint');
SELECT lives_ok($$SELECT dbcore.set_client('{AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE}'::text)$$, 'set_client(text) with a uuid in braces');
SELECT is(dbcore.current_client_id(), 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee'::uuid, 'current_client_id() parses it as uuid input does');
SELECT is(dbcore.current_client_id_text(), '{AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE}', '... while the text form is kept as given');

SELECT lives_ok($$SELECT dbcore.set_client(5000000000)$$, 'set_client(bigint)');
SELECT is(dbcore.current_client_id_bigint(), 5000000000::bigint, 'current_client_id_bigint() returns it');
SELECT is(dbcore.current_client_id_text(), '5000000000', '... current_client_id_text() its text');
SELECT throws_ok($$SELECT dbcore.current_client_id_int()$$, '22P02',
    'current client id "5000000000" is not a valid integer', 'a bigint beyond integer is not an integer');
SELECT throws_ok($$SELECT dbcore.current_client_id()$$, '22P02',
    'current client id "5000000000" is not a valid uuid', 'nor a uuid');

SELECT lives_ok($$SELECT dbcore.set_client(42)$$, 'set_client() with an integer (the bigint form)');
SELECT is(dbcore.current_client_id_int(), 42, 'current_client_id_int() returns it');
SELECT is(dbcore.current_client_id_bigint(), 42::bigint, '... and so does current_client_id_bigint()');
SELECT lives_ok($$SELECT dbcore.set_client(-2147483648)$$, 'the smallest integer');
SELECT is(dbcore.current_client_id_int(), -2147483648, 'round trips through current_client_id_int()');
SET LOCAL dbcore.client_id = '+7';
SELECT is(dbcore.current_client_id_int(), 7, 'integers accept a sign');
SET LOCAL dbcore.client_id = '9223372036854775808';
SELECT throws_ok($$SELECT dbcore.current_client_id_bigint()$$, '22P02',
    'current client id "9223372036854775808" is not a valid bigint', 'a bigint overflow is an error, not a wrap-around');
SET LOCAL dbcore.client_id = '1.5';
SELECT throws_ok($$SELECT dbcore.current_client_id_int()$$, '22P02',
    'current client id "1.5" is not a valid integer', 'no decimals');

SELECT lives_ok($$SELECT dbcore.set_client('tenant-x')$$, 'set_client(text)');
SELECT is(dbcore.current_client_id_text(), 'tenant-x', 'current_client_id_text() returns it');
SELECT throws_ok($$SELECT dbcore.current_client_id()$$, '22P02',
    'current client id "tenant-x" is not a valid uuid', 'a text id is not a uuid');
SELECT throws_ok($$SELECT dbcore.current_client_id_bigint()$$, '22P02',
    'current client id "tenant-x" is not a valid bigint', '... nor a bigint');

SELECT lives_ok($$SELECT pg_catalog.set_config('dbcore.client_id', '77', true)$$, 'set_config() sets the client too');
SELECT is(dbcore.current_client_id_bigint(), 77::bigint, '... and current_client_id_bigint() sees the change');
SET LOCAL dbcore.client_id = '';
SELECT throws_ok($$SELECT dbcore.current_client_id_text()$$, '42501', 'no client scope is set',
    'the empty value is no scope');

-- NULL and malformed input
SELECT throws_ok($$SELECT dbcore.set_client(NULL::uuid)$$, '22004', 'client id must not be null', 'set_client(NULL::uuid)');
SELECT throws_ok($$SELECT dbcore.set_client(NULL::bigint)$$, '22004', 'client id must not be null', 'set_client(NULL::bigint)');
SELECT throws_ok($$SELECT dbcore.set_client(NULL::text)$$, '22004', 'client id must not be null', 'set_client(NULL::text)');
SELECT throws_ok($$SELECT dbcore.set_client('')$$, '22023', 'client id must not be empty', 'set_client('''')');
SELECT throws_ok($$SELECT dbcore.set_client(repeat('x', 1025))$$, '22023', 'value for dbcore.client_id is too long',
    'a client id over 1024 bytes');
SELECT lives_ok($$SELECT dbcore.set_client(repeat('x', 1024))$$, '... while 1024 bytes are fine');
SET LOCAL dbcore.client_id = '';
SELECT throws_ok($$SELECT dbcore.set_client('not-a-uuid'::uuid)$$, '22P02', NULL, 'a malformed uuid fails in the cast');
SELECT throws_ok($$SELECT dbcore.set_client('v1.k1.x')$$, '22023', 'malformed client token',
    'text starting with v1. is read as a token');
SELECT throws_ok($$SELECT dbcore.set_client_token(NULL)$$, '22004', 'client token must not be null', 'set_client_token(NULL)');
SELECT throws_ok($$SELECT dbcore.set_client_token('11111111-2222-4333-8444-555555555555')$$, '22023',
    'malformed client token', 'set_client_token() of a plain id');
SELECT throws_ok($$SELECT dbcore.set_client_token('v1.k1.MTE.4102444800.' || repeat('A', 43))$$, '55000',
    'client tokens cannot be verified because dbcore.signing_keys is not set', 'a token without signing keys');
SELECT throws_ok($$SELECT dbcore.mint_client_token('42')$$, '55000',
    'cannot mint client tokens because dbcore.signing_keys is not set', 'minting without signing keys');
SELECT throws_ok($$SELECT dbcore.current_client_id_text()$$, '42501', 'no client scope is set',
    'no failed call above left a scope behind');

------------------------------------------------------------------------------
-- enable_tenant_scoping, as the owner with USAGE on schema dbcore only
------------------------------------------------------------------------------
SET LOCAL search_path = scope_test, public;
SET LOCAL ROLE regress_scope_app;
CREATE TABLE orders (id int GENERATED ALWAYS AS IDENTITY, client_id uuid, item text);
SELECT lives_ok($$SELECT dbcore.enable_tenant_scoping('orders')$$, 'enable_tenant_scoping() as the table''s owner');
SELECT col_not_null('scope_test', 'orders', 'client_id', 'the client column is NOT NULL');
SELECT results_eq(
    $$SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'orders'::regclass$$,
    $$VALUES (true, true)$$, 'row level security is enabled and forced');
SELECT policies_are('scope_test', 'orders', ARRAY['dbcore_tenant_isolation', 'dbcore_tenant_access'],
    'the two dbcore policies');
SELECT results_eq(
    $$SELECT policyname::text COLLATE "default", permissive, roles::text[] COLLATE "default", cmd,
             qual COLLATE "default", with_check COLLATE "default" FROM pg_policies
       WHERE schemaname = 'scope_test' AND tablename = 'orders' ORDER BY policyname$$,
    $$VALUES ('dbcore_tenant_access', 'PERMISSIVE', '{public}'::text[], 'ALL', 'true', 'true'),
             ('dbcore_tenant_isolation', 'RESTRICTIVE', '{public}'::text[], 'ALL',
              '(client_id = ( SELECT dbcore.current_client_id() AS current_client_id))',
              '(client_id = ( SELECT dbcore.current_client_id() AS current_client_id))')$$,
    'a RESTRICTIVE policy through an init-plan and its PERMISSIVE companion, for every command and role');
SELECT trigger_is('scope_test', 'orders', 'dbcore_tenant_guard', 'dbcore', 'tenant_row_guard', 'the row guard');
SELECT trigger_is('scope_test', 'orders', 'dbcore_tenant_truncate_guard', 'dbcore', 'tenant_truncate_guard', 'the TRUNCATE guard');
SELECT results_eq(
    $$SELECT tbl, column_name::text COLLATE "default", root FROM dbcore.tenant_tables WHERE tbl = 'orders'::regclass$$,
    $$VALUES ('scope_test.orders'::regclass, 'client_id', NULL::regclass)$$, 'the table is registered');
SELECT is_empty($$SELECT * FROM dbcore.tenant_check_tables(ARRAY['orders'::regclass], ARRAY['client_id'::name])$$,
    'tenant_check_tables() finds nothing missing');
SELECT lives_ok($$SELECT dbcore.enable_tenant_scoping('orders'); SELECT dbcore.enable_tenant_scoping('orders', 'client_id')$$,
    'enable_tenant_scoping() is idempotent');
SELECT results_eq(
    $$SELECT (SELECT count(*)::int FROM pg_policy WHERE polrelid = 'orders'::regclass),
             (SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'orders'::regclass AND NOT tgisinternal),
             (SELECT count(*)::int FROM dbcore.tenant_tables WHERE tbl = 'orders'::regclass)$$,
    $$VALUES (2, 2, 1)$$, '... it leaves two policies, two triggers and one registry row');

-- The rows: stamped, scoped, guarded
SELECT dbcore.set_client('11111111-2222-4333-8444-555555555555'::uuid) \gset
SELECT results_eq($$INSERT INTO orders (item) VALUES ('a') RETURNING client_id$$,
    ARRAY['11111111-2222-4333-8444-555555555555'::uuid], 'an INSERT gets the current client stamped');
SELECT throws_ok($$INSERT INTO orders (client_id, item) VALUES ('99999999-2222-4333-8444-555555555555', 'b')$$,
    '42501', 'new row for relation "orders" belongs to another client', 'a row of another client is refused');
SELECT throws_ok($$UPDATE orders SET client_id = '99999999-2222-4333-8444-555555555555'$$, '42501',
    'cannot change client column "client_id" of relation "orders"', 'a row cannot move to another client');
SELECT lives_ok($$UPDATE orders SET client_id = client_id, item = 'a2'$$, '... while writing the unchanged value is fine');
SELECT throws_ok($$TRUNCATE orders$$, '42501', 'permission denied to truncate tenant-scoped table "orders"',
    'TRUNCATE is refused');
SET LOCAL dbcore.client_id = '';
SELECT throws_ok($$SELECT * FROM orders$$, '42501', 'no client scope is set', 'reading rows without a scope fails');

-- bigint, integer and text client columns use the matching function
CREATE TABLE big_items (client_id bigint, x int);
CREATE TABLE int_items (tenant int, x int);
CREATE TABLE text_items (client_id text, x int);
SELECT lives_ok($$SELECT dbcore.enable_tenant_scoping('big_items'), dbcore.enable_tenant_scoping('int_items', 'tenant'),
                         dbcore.enable_tenant_scoping('text_items')$$, 'bigint, integer and text client columns');
SELECT results_eq(
    $$SELECT tablename::text COLLATE "default", qual COLLATE "default" FROM pg_policies
       WHERE schemaname = 'scope_test' AND policyname = 'dbcore_tenant_isolation'
         AND tablename IN ('big_items', 'int_items', 'text_items') ORDER BY 1$$,
    $$VALUES ('big_items', '(client_id = ( SELECT dbcore.current_client_id_bigint() AS current_client_id_bigint))'),
             ('int_items', '(tenant = ( SELECT dbcore.current_client_id_int() AS current_client_id_int))'),
             ('text_items', '(client_id = ( SELECT dbcore.current_client_id_text() AS current_client_id_text))')$$,
    '... compare through current_client_id_bigint(), _int() and _text()');

-- Errors
CREATE TABLE no_client (id int);
CREATE TABLE numeric_client (client_id numeric);
CREATE TABLE generated_client (x bigint, client_id bigint GENERATED ALWAYS AS (x) STORED);
CREATE TABLE nulls_present (client_id uuid);
INSERT INTO nulls_present VALUES (NULL);
CREATE VIEW orders_view AS SELECT * FROM orders;
CREATE TABLE events (client_id uuid NOT NULL, at int NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (0) TO (10);
SELECT lives_ok($$SELECT dbcore.enable_tenant_scoping('events')$$, 'a partitioned table');
SELECT results_eq($$SELECT tbl::text, root::text FROM dbcore.tenant_tables WHERE tbl::text LIKE 'events%' ORDER BY 1$$,
    $$VALUES ('events', NULL), ('events_1', 'events')$$, '... is registered with its partition');
SELECT throws_ok($$SELECT dbcore.enable_tenant_scoping(NULL)$$, '22004', 'table must not be null', 'NULL table');
SELECT throws_ok($$SELECT dbcore.enable_tenant_scoping('orders', NULL)$$, '22004', 'column name must not be null or empty',
    'NULL column name');
SELECT throws_ok($$SELECT dbcore.enable_tenant_scoping('orders', '')$$, '22004', 'column name must not be null or empty',
    'empty column name');
SELECT throws_ok($$SELECT dbcore.enable_tenant_scoping(1::oid::regclass)$$, '42P01', 'relation with OID 1 does not exist',
    'a table that does not exist');
SELECT throws_ok($$SELECT dbcore.enable_tenant_scoping('no_client')$$, '42703',
    'column "client_id" of relation "no_client" does not exist', 'no client column');
SELECT throws_ok($$SELECT dbcore.enable_tenant_scoping('numeric_client')$$, '42804',
    'client column "client_id" of relation "numeric_client" is of type numeric', 'a client column of another type');
SELECT throws_ok($$SELECT dbcore.enable_tenant_scoping('generated_client')$$, '428C9',
    'client column "client_id" of relation "generated_client" is a generated column', 'a generated client column');
SELECT throws_ok($$SELECT dbcore.enable_tenant_scoping('orders_view')$$, '42809', '"orders_view" is not a table', 'a view');
SELECT throws_ok($$SELECT dbcore.enable_tenant_scoping('nulls_present')$$, '23502', NULL, 'rows without a client');
SELECT results_eq($$SELECT relrowsecurity, (SELECT count(*)::int FROM pg_policy WHERE polrelid = 'nulls_present'::regclass)
                      FROM pg_class WHERE oid = 'nulls_present'::regclass$$,
    $$VALUES (false, 0)$$, '... and the failed call left the table as it was');
SELECT throws_ok($$SELECT dbcore.enable_tenant_scoping('orders', 'item')$$, '55000',
    'table "orders" is already tenant-scoped by column "client_id"', 'scoping a table by a second column');
SELECT throws_ok($$SELECT dbcore.disable_tenant_scoping('orders')$$, '42501',
    'permission denied to disable tenant scoping of table "orders"', 'disable_tenant_scoping() needs system-level authorization');
SELECT throws_ok($$SELECT dbcore._tenant_unregister('orders')$$, '42501', NULL, '... and so does _tenant_unregister()');
SELECT throws_ok($$SELECT dbcore._tenant_register('no_client', 'id', NULL)$$, '55000',
    'tenant scoping of table "no_client" is incomplete', '_tenant_register() of a table that is not scoped');
SET LOCAL ROLE regress_scope_other;
SELECT throws_ok($$SELECT dbcore.enable_tenant_scoping('scope_test.no_client')$$, '42501',
    'must be owner of table no_client', 'enable_tenant_scoping() of a table of another role');
SET LOCAL ROLE regress_scope_app;

------------------------------------------------------------------------------
-- disable_tenant_scoping, by a BYPASSRLS role that is a member of the owner
------------------------------------------------------------------------------
SET LOCAL ROLE regress_scope_sys;
SELECT throws_ok($$SELECT dbcore.disable_tenant_scoping(NULL)$$, '22004', 'table must not be null', 'disable: NULL table');
SELECT throws_ok($$SELECT dbcore.disable_tenant_scoping('scope_test.events_1')$$, '55000',
    'table "events_1" is a partition of tenant-scoped table "events"', 'disable: a partition goes with its table');
SELECT lives_ok($$SELECT dbcore.disable_tenant_scoping('scope_test.orders')$$, 'disable_tenant_scoping() with BYPASSRLS');
SELECT results_eq(
    $$SELECT relrowsecurity, relforcerowsecurity,
             (SELECT count(*)::int FROM pg_policy WHERE polrelid = c.oid),
             (SELECT count(*)::int FROM pg_trigger WHERE tgrelid = c.oid AND NOT tgisinternal),
             (SELECT count(*)::int FROM dbcore.tenant_tables WHERE tbl = c.oid)
        FROM pg_class c WHERE c.oid = 'scope_test.orders'::regclass$$,
    $$VALUES (false, false, 0, 0, 0)$$, '... removes policies, triggers, registry row and row level security');
SELECT col_not_null('scope_test', 'orders', 'client_id', '... and keeps the column NOT NULL');
SELECT lives_ok($$SELECT dbcore.disable_tenant_scoping('scope_test.orders')$$, 'disable_tenant_scoping() is idempotent');
SELECT lives_ok($$SELECT dbcore.disable_tenant_scoping('scope_test.events')$$, 'disable a partitioned table');
SELECT is_empty($$SELECT * FROM dbcore.tenant_tables WHERE tbl::text LIKE 'scope_test.events%'$$,
    '... and its partition with it');
SET LOCAL ROLE regress_scope_app;
SELECT lives_ok($$SELECT dbcore.enable_tenant_scoping('orders')$$, 'the owner may scope it again');

------------------------------------------------------------------------------
-- tenant_audit
------------------------------------------------------------------------------
-- A clean table first: fully scoped, client index, keys with the client column.
CREATE TABLE clean (id int, client_id uuid NOT NULL, code text, PRIMARY KEY (client_id, id), UNIQUE (client_id, code));
SELECT dbcore.enable_tenant_scoping('clean') \gset
CREATE TABLE left_unscoped (id int, client_id uuid);
CREATE TABLE keyed (id int, client_id uuid NOT NULL, code text UNIQUE, PRIMARY KEY (client_id, id));
SELECT dbcore.enable_tenant_scoping('keyed') \gset
CREATE TABLE unindexed (client_id uuid NOT NULL, x int);
SELECT dbcore.enable_tenant_scoping('unindexed') \gset
SELECT is_empty($$SELECT * FROM dbcore.tenant_audit() WHERE object = 'scope_test.clean'$$,
    'tenant_audit: nothing to say about a table scoped as recommended');
SELECT results_eq($$SELECT problem, detail FROM dbcore.tenant_audit() WHERE object = 'scope_test.left_unscoped'$$,
    $$VALUES ('unscoped table', 'has a "client_id" column but is not tenant-scoped; call dbcore.enable_tenant_scoping() on it')$$,
    'tenant_audit: a table with a client_id column left unscoped');
SELECT results_eq($$SELECT problem, detail FROM dbcore.tenant_audit() WHERE object = 'scope_test.keyed'$$,
    $$VALUES ('unique key without client column',
              'index keyed_code_key is unique without column "client_id": a duplicate key reveals another client''s row; include the client column in the key')$$,
    'tenant_audit: a unique constraint without the client column');
SELECT results_eq($$SELECT problem, detail FROM dbcore.tenant_audit() WHERE object = 'scope_test.unindexed'$$,
    $$VALUES ('no client index', 'no index starts with column "client_id"; scoped queries scan the whole table')$$,
    'tenant_audit: no index led by the client column');
CREATE INDEX ON unindexed (x, client_id);
SELECT is((SELECT array_agg(problem) FROM dbcore.tenant_audit() WHERE object = 'scope_test.unindexed'),
    ARRAY['no client index'], '... an index with the client column in second place does not count ...');
CREATE INDEX ON unindexed (client_id, x);
SELECT is_empty($$SELECT * FROM dbcore.tenant_audit() WHERE object = 'scope_test.unindexed'$$,
    '... one led by it does');
RESET ROLE;
SELECT * FROM finish();
ROLLBACK;
