-- pgTAP: the audit trail.  Its objects, their labels and privileges, and
-- what the log records.  Runs in one transaction and rolls back, so it
-- leaves the database (and the log) as it found them.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS dbcore;
LOAD 'dbcore';

SELECT plan(61);

------------------------------------------------------------------------------
-- Objects, labels, privileges
------------------------------------------------------------------------------
SELECT has_table('dbcore', 'audit_log', 'the log');
SELECT columns_are('dbcore', 'audit_log',
    ARRAY['id', 'logged_at', 'xact_id', 'tbl', 'table_name', 'op', 'row_key', 'old_values',
          'new_values', 'client_id', 'db_role', 'actor']);
SELECT col_type_is('dbcore', 'audit_log', 'xact_id', 'xid8', 'the transaction is an xid8');
SELECT col_type_is('dbcore', 'audit_log', 'tbl', 'regclass', 'the table is a regclass');
SELECT col_type_is('dbcore', 'audit_log', 'old_values', 'jsonb', 'the values are jsonb');
SELECT indexes_are('dbcore', 'audit_log', ARRAY['audit_log_row_idx', 'audit_log_time_idx']);
SELECT is((SELECT amname::text FROM pg_class c JOIN pg_am a ON a.oid = c.relam
            WHERE c.oid = 'dbcore.audit_log_row_idx'::regclass), 'hash', 'the row index is a hash index');
SELECT is((SELECT amname::text FROM pg_class c JOIN pg_am a ON a.oid = c.relam
            WHERE c.oid = 'dbcore.audit_log_time_idx'::regclass), 'brin', 'the time index is a BRIN index');
SELECT is((SELECT pg_get_indexdef('dbcore.audit_log_time_idx'::regclass)),
          'CREATE INDEX audit_log_time_idx ON dbcore.audit_log USING brin (logged_at, xact_id dbcore.xid8_minmax_ops) WITH (autosummarize=''on'')',
          'the time index covers the transaction too');
SELECT is((SELECT amname::text FROM pg_class c JOIN pg_am a ON a.oid = c.relam
            WHERE c.oid = 'dbcore.audit_log'::regclass), 'heap', 'the log is a heap table');
SELECT ok((SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE oid = 'dbcore.audit_log'::regclass),
          'row level security is enabled and forced on the log');
SELECT policies_are('dbcore', 'audit_log', ARRAY['dbcore_audit_isolation', 'dbcore_audit_access']);
SELECT policy_cmd_is('dbcore', 'audit_log', 'dbcore_audit_isolation', 'SELECT', 'the client policy is for SELECT');
SELECT is((SELECT polpermissive FROM pg_policy WHERE polname = 'dbcore_audit_isolation'), false,
          'the client policy is restrictive');
SELECT table_privs_are('dbcore', 'audit_log', 'public', ARRAY['SELECT'],
    'PUBLIC may only read the log (through its policies)');
SELECT sequence_privs_are('dbcore', 'audit_log_id_seq', 'public', '{}'::text[],
    'nobody draws numbers from the log''s sequence');
SELECT table_privs_are('dbcore', 'audited_tables', 'public', ARRAY['SELECT'], 'the registry is readable by everyone');
SELECT ok((SELECT extconfig @> ARRAY['dbcore.audit_log'::regclass, 'dbcore.audit_log_id_seq'::regclass,
                                     'dbcore.audited_tables'::regclass]::oid[]
             FROM pg_extension WHERE extname = 'dbcore'),
          'pg_dump keeps the log, its sequence and the registry');
SELECT trigger_is('dbcore', 'audit_log', 'dbcore_audit_log_append_only', 'dbcore', '_audit_log_guard',
                  'the log is append-only');
SELECT has_function('dbcore', 'audit', '{}'::name[]);
SELECT function_lang_is('dbcore', 'audit', '{}'::name[], 'c');
SELECT volatility_is('dbcore', 'audit', '{}'::name[], 'volatile');
SELECT function_returns('dbcore', 'purge_audit', ARRAY['interval'], 'bigint');
SELECT function_returns('dbcore', 'audit_history', ARRAY['regclass', 'text'], 'setof dbcore.audit_log');
SELECT function_returns('dbcore', 'audit_transaction', ARRAY['xid8'], 'setof dbcore.audit_log');
SELECT volatility_is('dbcore', 'audit_history', ARRAY['regclass', 'text'], 'stable');
SELECT is((SELECT count(*)::int FROM pg_proc
            WHERE pronamespace = 'dbcore'::regnamespace AND prosecdef
              AND proname IN ('audit', 'enable_audit', 'disable_audit', 'audit_history', 'audit_transaction',
                              'purge_audit', 'set_actor', 'audit_check_table', 'audit_problems',
                              '_audit_register', '_audit_unregister', '_audit_log_guard',
                              '_owned_table', '_audited_ancestor')),
          0, 'no audit function is SECURITY DEFINER');
SELECT is((SELECT array_agg(proname::text ORDER BY proname) FROM pg_proc
            WHERE pronamespace = 'dbcore'::regnamespace AND prolang <> 13  -- (not C)
              AND proname IN ('enable_audit', 'disable_audit', 'audit_history', 'audit_transaction',
                              'audit_check_table', 'audit_problems', '_owned_table', '_audited_ancestor')
              AND NOT coalesce(proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)),
          NULL, 'every SQL audit function pins its search_path');
SELECT ok(NOT has_function_privilege('public', 'dbcore._audit_log_guard()', 'EXECUTE'),
          'PUBLIC may not call the log''s guard');
SELECT is(current_setting('dbcore.actor'), '', 'no actor by default');

------------------------------------------------------------------------------
-- Behaviour
------------------------------------------------------------------------------
CREATE TABLE public.tap_audit (id int PRIMARY KEY, v text, secret text, n numeric);
SELECT lives_ok($$SELECT dbcore.enable_audit('tap_audit', ARRAY['secret'])$$, 'enable_audit');
SELECT trigger_is('public', 'tap_audit', 'dbcore_audit', 'dbcore', 'audit', 'the row trigger');
SELECT trigger_is('public', 'tap_audit', 'dbcore_audit_truncate', 'dbcore', 'audit', 'the TRUNCATE trigger');
SELECT results_eq($$SELECT excluded_columns::text[] COLLATE "default", record_inserts FROM dbcore.audited_tables WHERE tbl = 'tap_audit'::regclass$$,
                  $$VALUES (ARRAY['secret'], true)$$, 'registered with its options');
SELECT is_empty($$SELECT * FROM dbcore.audit_problems()$$, 'no problems');
SELECT dbcore.set_actor('tap');
INSERT INTO tap_audit VALUES (1, 'a', 's1', 1.50), (2, 'b', 's2', NULL);
UPDATE tap_audit SET v = 'A', secret = 's1x' WHERE id = 1;
UPDATE tap_audit SET secret = 'only' WHERE id = 2;
DELETE FROM tap_audit WHERE id = 2;
SELECT results_eq($$SELECT op, row_key COLLATE "default", old_values, new_values FROM dbcore.audit_log
                     WHERE tbl = 'tap_audit'::regclass ORDER BY id$$,
                  $$VALUES ('INSERT', '1', NULL::jsonb, '{"id": 1, "v": "a", "n": 1.50}'::jsonb),
                           ('INSERT', '2', NULL, '{"id": 2, "v": "b", "n": null}'),
                           ('UPDATE', '1', '{"v": "a"}', '{"v": "A"}'),
                           ('DELETE', '2', '{"id": 2, "v": "b", "n": null}', NULL)$$,
                  'INSERT: the row; UPDATE: the changed columns; DELETE: the old row; the excluded column never');
SELECT ok((SELECT bool_and(xact_id = pg_current_xact_id() AND logged_at = now() AND actor = 'tap'
                           AND db_role = current_user AND client_id IS NULL AND table_name = 'public.tap_audit')
             FROM dbcore.audit_log WHERE tbl = 'tap_audit'::regclass),
          'each row: this transaction, its time, the actor, the role; no client for a table that is not scoped');
SELECT results_eq($$SELECT op FROM dbcore.audit_history('tap_audit', '1')$$,
                  ARRAY['INSERT', 'UPDATE'], 'audit_history: one row''s history, in order');
SELECT is((SELECT count(*)::int FROM dbcore.audit_transaction(pg_current_xact_id()) WHERE tbl = 'tap_audit'::regclass),
          4, 'audit_transaction: this transaction''s changes');
TRUNCATE tap_audit;
SELECT is((SELECT op FROM dbcore.audit_log WHERE tbl = 'tap_audit'::regclass ORDER BY id DESC LIMIT 1),
          'TRUNCATE', 'TRUNCATE is recorded');

-- record_inserts => false: no trigger for INSERT at all.
CREATE TABLE public.tap_audit_quiet (id int PRIMARY KEY, v text);
SELECT dbcore.enable_audit('tap_audit_quiet', record_inserts => false);
SELECT is((SELECT tgtype & 4 FROM pg_trigger WHERE tgrelid = 'tap_audit_quiet'::regclass AND tgname = 'dbcore_audit')::int,
          0, 'record_inserts => false: the trigger does not fire for INSERT');
INSERT INTO tap_audit_quiet VALUES (1, 'x');
UPDATE tap_audit_quiet SET v = 'y';
SELECT results_eq($$SELECT op FROM dbcore.audit_log WHERE tbl = 'tap_audit_quiet'::regclass$$,
                  ARRAY['UPDATE'], '... and records the UPDATE only');

-- Partitions, attached later too; the partitioned table is what is recorded.
CREATE TABLE public.tap_parted (id int, k text, PRIMARY KEY (k, id)) PARTITION BY LIST (k);
CREATE TABLE public.tap_parted_a PARTITION OF public.tap_parted FOR VALUES IN ('a');
SELECT dbcore.enable_audit('tap_parted');
CREATE TABLE public.tap_parted_b (id int NOT NULL, k text NOT NULL);
ALTER TABLE public.tap_parted ATTACH PARTITION public.tap_parted_b FOR VALUES IN ('b');
INSERT INTO tap_parted VALUES (1, 'a'), (2, 'b');
SELECT results_eq($$SELECT tbl::text, row_key COLLATE "default" FROM dbcore.audit_log WHERE table_name = 'public.tap_parted' ORDER BY id$$,
                  $$VALUES ('tap_parted', '(a,1)'), ('tap_parted', '(b,2)')$$,
                  'rows of partitions, attached ones too, are recorded for the partitioned table');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgname = 'dbcore_audit'
            AND tgrelid IN ('tap_parted_a'::regclass, 'tap_parted_b'::regclass)), 2, 'each partition has the clone');

-- updated_at on the same table: the log sees the final row.
CREATE TABLE public.tap_both (id int PRIMARY KEY, v int, updated_at timestamptz);
SELECT dbcore.attach_updated_at('tap_both');
SELECT dbcore.enable_audit('tap_both');
INSERT INTO tap_both VALUES (1, 1, '2000-01-01');
UPDATE tap_both SET v = 2;
SELECT is((SELECT (new_values->>'updated_at')::timestamptz FROM dbcore.audit_log
            WHERE tbl = 'tap_both'::regclass AND op = 'UPDATE'), now(),
          'with updated_at on the table, the logged UPDATE carries the new timestamp');

-- The transaction-scoped actor.
SELECT throws_ok($$ALTER ROLE CURRENT_USER SET dbcore.actor = 'x'$$, '42501', NULL,
                 'dbcore.actor cannot be a role default');
SELECT throws_ok($$SELECT dbcore._owned_table(NULL, 'The audit trail', 'enable_audit')$$, '22004',
                 'tbl must not be null', 'the attach helpers'' table check refuses a NULL table (22004)');
SELECT throws_ok($$SELECT dbcore.set_actor(repeat('x', 2000))$$, '22023', 'value for dbcore.actor is too long',
                 'dbcore.actor has a length limit');

-- Append-only, for everyone.
SELECT throws_ok($$UPDATE dbcore.audit_log SET actor = 'x'$$, '42501', 'dbcore''s audit log is append-only',
                 'not even a superuser updates the log');
SELECT throws_ok($$DELETE FROM dbcore.audit_log$$, '42501', 'dbcore''s audit log is append-only',
                 'nor deletes from it');
SELECT throws_ok($$TRUNCATE dbcore.audit_log$$, '42501', 'dbcore''s audit log is append-only',
                 'nor truncates it');
SELECT is(dbcore.purge_audit('1 hour'), 0::bigint, 'purge_audit keeps what is newer than older_than');
SELECT cmp_ok(dbcore.purge_audit('0 seconds'), '>=', 0::bigint, 'purge_audit by a superuser');
SELECT ok((SELECT count(*) FROM dbcore.audit_log WHERE xact_id = pg_current_xact_id()) > 0,
          '... never purges the current transaction''s rows (their time is now())');

-- Guard rails: the problems a DDL command would leave.
SELECT results_eq($$SELECT check_name, detail FROM dbcore.audit_check_table('tap_audit', ARRAY['secret'], false)$$,
                  $$VALUES ('trigger dbcore_audit', 'trigger "dbcore_audit" has been redefined')$$,
                  'audit_check_table: other options, another trigger');
SELECT results_eq($$SELECT check_name, detail FROM dbcore.audit_check_table('tap_both', '{}', true)$$,
                  $$SELECT NULL::text, NULL::text WHERE false$$, 'audit_check_table: intact');
ALTER TABLE tap_audit DISABLE TRIGGER dbcore_audit;   -- (a superuser may)
SELECT results_eq($$SELECT tbl::text, detail FROM dbcore.audit_problems()$$,
                  $$VALUES ('tap_audit', 'trigger "dbcore_audit" is disabled')$$,
                  'audit_problems() finds the disabled trigger');
ALTER TABLE tap_audit ENABLE TRIGGER dbcore_audit;
SELECT lives_ok($$SELECT dbcore.disable_audit('tap_audit')$$, 'disable_audit by a superuser');
SELECT hasnt_trigger('public', 'tap_audit', 'dbcore_audit', 'the trigger is gone');
SELECT is((SELECT count(*)::int FROM dbcore.audit_log WHERE tbl = 'tap_audit'::regclass), 5,
          'the history stays');
DROP TABLE tap_audit_quiet;
SELECT is_empty($$SELECT 1 FROM dbcore.audited_tables WHERE tbl::text = 'tap_audit_quiet'$$,
                'a dropped table leaves the registry');

SELECT * FROM finish();
ROLLBACK;
