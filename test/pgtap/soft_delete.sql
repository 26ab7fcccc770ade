-- pgTAP: soft delete.  Its objects, their labels and privileges, and the
-- behaviour a DBA relies on, as an ordinary table owner.  Runs in one
-- transaction and rolls back.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS dbcore;
LOAD 'dbcore';

SELECT plan(32);

------------------------------------------------------------------------------
-- Objects, labels, privileges
------------------------------------------------------------------------------
SELECT has_function('dbcore', 'soft_delete', '{}'::name[]);
SELECT function_lang_is('dbcore', 'soft_delete', '{}'::name[], 'c');
SELECT function_returns('dbcore', 'soft_delete', '{}'::name[], 'trigger');
SELECT volatility_is('dbcore', 'showing_deleted', '{}'::name[], 'stable');
SELECT ok((SELECT proleakproof AND proparallel = 's' FROM pg_proc WHERE oid = 'dbcore.showing_deleted()'::regprocedure),
          'showing_deleted() is LEAKPROOF and PARALLEL SAFE');
SELECT is((SELECT prosupport::regproc::text FROM pg_proc WHERE oid = 'dbcore.showing_deleted()'::regprocedure),
          'dbcore._showing_deleted_support', 'showing_deleted() is folded by its planner support function');
SELECT ok(NOT has_function_privilege('public', 'dbcore.show_deleted(boolean)', 'EXECUTE'),
          'PUBLIC may not call show_deleted()');
SELECT ok(NOT has_function_privilege('public', 'dbcore.restore_deleted(regclass, timestamptz)', 'EXECUTE'),
          'PUBLIC may not call restore_deleted()');
SELECT ok(NOT has_function_privilege('public', 'dbcore.purge_deleted(regclass, interval)', 'EXECUTE'),
          'PUBLIC may not call purge_deleted()');
SELECT ok(NOT has_function_privilege('public', 'dbcore._showing_deleted_support(internal)', 'EXECUTE'),
          'PUBLIC may not call the support function');
SELECT ok(has_function_privilege('public', 'dbcore.enable_soft_delete(regclass, name)', 'EXECUTE'),
          'table owners enable soft delete themselves');
SELECT is((SELECT count(*)::int FROM pg_proc
            WHERE pronamespace = 'dbcore'::regnamespace AND prosecdef
              AND proname IN ('soft_delete', 'showing_deleted', 'show_deleted', 'enable_soft_delete',
                              'disable_soft_delete', '_soft_delete_one', 'restore_deleted', 'purge_deleted')),
          0, 'no soft-delete function is SECURITY DEFINER');
SELECT is((SELECT array_agg(proname::text ORDER BY proname) FROM pg_proc
            WHERE pronamespace = 'dbcore'::regnamespace AND prolang <> 13
              AND proname IN ('enable_soft_delete', 'disable_soft_delete', '_soft_delete_one')
              AND NOT coalesce(proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)),
          NULL, 'every SQL soft-delete function pins its search_path');
SELECT is((SELECT context FROM pg_settings WHERE name = 'dbcore.show_deleted'), 'superuser',
          'dbcore.show_deleted is a superuser setting (roles get it through show_deleted())');

------------------------------------------------------------------------------
-- Behaviour, as the table's owner
------------------------------------------------------------------------------
CREATE ROLE regress_tap_sd_owner;
CREATE ROLE regress_tap_sd_support;
GRANT USAGE ON SCHEMA dbcore TO regress_tap_sd_owner, regress_tap_sd_support;
GRANT EXECUTE ON FUNCTION dbcore.show_deleted(boolean), dbcore.restore_deleted(regclass, timestamptz),
                          dbcore.purge_deleted(regclass, interval) TO regress_tap_sd_support;
CREATE SCHEMA tap_sd AUTHORIZATION regress_tap_sd_owner;
GRANT USAGE ON SCHEMA tap_sd TO regress_tap_sd_support;
SET search_path = tap_sd, public;
SET ROLE regress_tap_sd_owner;
CREATE TABLE items (id int PRIMARY KEY, sku text NOT NULL, deleted_at timestamptz, updated_at timestamptz);
CREATE UNIQUE INDEX items_sku ON items (sku) WHERE deleted_at IS NULL;
CREATE TABLE parts (id int PRIMARY KEY, item_id int REFERENCES items ON DELETE CASCADE, deleted_at timestamptz);
GRANT SELECT, INSERT, UPDATE, DELETE ON items, parts TO regress_tap_sd_support;
SELECT dbcore.attach_updated_at('items');
SELECT lives_ok($$SELECT dbcore.enable_soft_delete('items')$$, 'enable_soft_delete');
SELECT lives_ok($$SELECT dbcore.enable_soft_delete('parts')$$, 'on the child table too');
SELECT trigger_is('tap_sd', 'items', 'dbcore_soft_delete', 'dbcore', 'soft_delete', 'the trigger');
SELECT policies_are('tap_sd', 'items', ARRAY['dbcore_undeleted', 'dbcore_undeleted_access']);
INSERT INTO items VALUES (1, 'A-1'), (2, 'B-2'), (3, 'C-3');
INSERT INTO parts VALUES (10, 1), (11, 1), (20, 2);
SELECT is_empty($$DELETE FROM items WHERE id = 1 RETURNING id$$,
                'DELETE ... RETURNING returns nothing: the row was marked, not deleted');
SELECT results_eq($$SELECT id FROM items ORDER BY id$$, ARRAY[2, 3], 'the marked row is invisible');
SELECT results_eq($$SELECT id FROM parts ORDER BY id$$, ARRAY[20], 'the mark cascaded to the parts');
SELECT is_empty($$UPDATE items SET sku = 'x' WHERE id = 1 RETURNING id$$, 'and cannot be updated');
SELECT lives_ok($$INSERT INTO items VALUES (4, 'A-1')$$, 'its key is free for a new row');
SELECT throws_ok($$UPDATE items SET deleted_at = now() WHERE id = 2$$, '42501', NULL,
                 'marking by hand is refused to ordinary roles');
SELECT throws_ok($$SELECT dbcore.show_deleted()$$, '42501', NULL, 'the owner may not see marked rows unless granted');
RESET ROLE;
SET ROLE regress_tap_sd_support;
SELECT dbcore.show_deleted();
SELECT results_eq($$SELECT id, deleted_at = now(), updated_at = now() FROM items WHERE deleted_at IS NOT NULL$$,
                  $$VALUES (1, true, true)$$, 'the mark is the transaction timestamp, and updated_at moved too');
SELECT throws_ok($$SELECT dbcore.restore_deleted('items', now())$$, '23505', NULL,
                 'restoring a row whose key a new row took is refused by the partial unique index');
UPDATE items SET sku = 'A-4' WHERE id = 4;
SELECT is(dbcore.restore_deleted('items', now()), 3::bigint, 'restore_deleted: the row and its two parts');
SELECT results_eq($$SELECT count(*)::int FROM parts WHERE deleted_at IS NULL$$, ARRAY[3], 'the parts are back');
SELECT dbcore.show_deleted(false);
SELECT results_eq($$SELECT id FROM items ORDER BY id$$, ARRAY[1, 2, 3, 4], 'the row is visible again');
DELETE FROM items WHERE id = 3;
SELECT is(dbcore.purge_deleted('items', '0 seconds'), 0::bigint,
          'purge_deleted keeps rows marked less than older_than ago (here: now)');
SELECT dbcore.show_deleted();
SELECT is((SELECT count(*)::int FROM items WHERE id = 3), 1, 'so the row is still there, marked');
RESET ROLE;
SELECT * FROM finish();
ROLLBACK;
