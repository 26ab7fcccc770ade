-- 08_audit.sql: the audit trail and soft delete are for the tables of one
-- node.  On a Citus table they are refused when attached, and their triggers
-- fail closed on the shards of a table distributed after they were attached
-- (they would write and check only the worker they fire on).  A local table
-- of the coordinator keeps both.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SELECT plan(16);

CREATE TABLE s8_dist (id bigint NOT NULL, client_id uuid NOT NULL, body text,
                      deleted_at timestamptz, PRIMARY KEY (client_id, id));
SELECT create_distributed_table('s8_dist', 'client_id');
SELECT throws_ok($$SELECT dbcore.enable_audit('s8_dist')$$, '0A000',
                 'the audit trail is not supported on Citus tables',
                 'enable_audit() refuses a distributed table');
SELECT throws_ok($$SELECT dbcore.enable_soft_delete('s8_dist')$$, '0A000',
                 'soft delete is not supported on Citus tables',
                 'enable_soft_delete() refuses it');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgrelid = 's8_dist'::regclass AND NOT tgisinternal
            AND tgname LIKE 'dbcore%'), 0::bigint, 'and leave no trigger on it');

-- Attached first, distributed after: the shards' triggers fail closed.
CREATE TABLE s8_later (id bigint NOT NULL, client_id uuid NOT NULL, body text,
                       PRIMARY KEY (client_id, id));
SELECT dbcore.enable_audit('s8_later');
SET citus.enable_unsafe_triggers = on;
SELECT create_distributed_table('s8_later', 'client_id');
RESET citus.enable_unsafe_triggers;
SELECT throws_ok($$INSERT INTO s8_later VALUES (1, md5('a')::uuid, 'x')$$, '0A000',
                 NULL, 'an INSERT into an audited table distributed later fails');
SELECT is((SELECT count(*) FROM s8_later), 0::bigint, 'and writes no row');
SELECT is((SELECT count(*) FROM run_command_on_workers($$SELECT count(*) FROM dbcore.audit_log$$)
            WHERE NOT success OR result <> '0'), 0::bigint,
          'no worker has an audit log row');

CREATE TABLE s8_soft (id bigint NOT NULL, client_id uuid NOT NULL, deleted_at timestamptz,
                      PRIMARY KEY (client_id, id));
SELECT dbcore.enable_soft_delete('s8_soft');
SET citus.enable_unsafe_triggers = on;
SELECT create_distributed_table('s8_soft', 'client_id');
RESET citus.enable_unsafe_triggers;
INSERT INTO s8_soft VALUES (1, md5('a')::uuid, NULL);
SELECT throws_ok($$DELETE FROM s8_soft$$, '0A000', NULL,
                 'a DELETE on a soft-delete table distributed later fails');
SELECT is((SELECT count(*) FROM s8_soft), 1::bigint, 'and the row is still there');

-- The way out: disabling them (Citus drops triggers of a distributed table
-- only with citus.enable_unsafe_triggers on).
SET citus.enable_unsafe_triggers = on;
SELECT lives_ok($$SELECT dbcore.disable_audit('s8_later')$$, 'disable_audit() on the distributed table');
SELECT lives_ok($$INSERT INTO s8_later VALUES (1, md5('a')::uuid, 'x')$$, 'then it takes writes');
SELECT lives_ok($$SELECT dbcore.disable_soft_delete('s8_soft')$$, 'disable_soft_delete() too');
SELECT lives_ok($$DELETE FROM s8_soft$$, 'then DELETE deletes');
SELECT is((SELECT count(*) FROM s8_soft), 0::bigint, '(for good)');
RESET citus.enable_unsafe_triggers;

-- A table of the coordinator alone keeps both.
SET ROLE tenant_owner;
CREATE TABLE s8_local (id bigint PRIMARY KEY, body text, deleted_at timestamptz);
SELECT dbcore.enable_audit('s8_local');
SELECT dbcore.enable_soft_delete('s8_local');
INSERT INTO s8_local VALUES (1, 'x');
DELETE FROM s8_local;
SELECT is((SELECT count(*) FROM s8_local), 0::bigint,
          'a local table on the coordinator: soft delete hides the row from its owner');
RESET ROLE;
SELECT is((SELECT count(*) FROM s8_local WHERE deleted_at IS NOT NULL), 1::bigint,
          '(a superuser sees it marked)');
SELECT is((SELECT array_agg(op ORDER BY id) FROM dbcore.audit_log WHERE tbl = 's8_local'::regclass),
          ARRAY['INSERT', 'SOFT DELETE'], 'and the audit trail records both');

SELECT * FROM finish();
