-- 00_update.sql: dbcore on Citus from an earlier release.  CREATE EXTENSION
-- and ALTER EXTENSION UPDATE on the coordinator reach the workers; the
-- update moves scoped tables to the policy form Citus accepts, and they can
-- then be distributed.  A database that gets Citus after its tables were
-- scoped: enable_tenant_scoping() again moves them.  Leaves dbcore at the
-- newest version, with USAGE for the test roles, for the other files.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SELECT plan(11);

CREATE EXTENSION dbcore VERSION '1.3';
GRANT USAGE ON SCHEMA dbcore TO tenant_owner, app;
SELECT is((SELECT count(*) FROM run_command_on_workers(
                $$SELECT extversion FROM pg_extension WHERE extname = 'dbcore'$$)
            WHERE success AND result = '1.3'), 2::bigint,
          'CREATE EXTENSION dbcore on the coordinator reaches both workers');

-- A table scoped by 1.3 (with its sub-select policy, which Citus refuses).
SET ROLE tenant_owner;
CREATE TABLE s0_accounts (id bigint NOT NULL, client_id uuid NOT NULL, name text,
                          PRIMARY KEY (client_id, id));
SELECT dbcore.enable_tenant_scoping('s0_accounts');
RESET ROLE;
SELECT is(pg_get_expr(polqual, polrelid), '(client_id = ( SELECT dbcore.current_client_id() AS current_client_id))',
          'scoped by 1.3: the sub-select form')
  FROM pg_policy WHERE polrelid = 's0_accounts'::regclass AND polname = 'dbcore_tenant_isolation';
SET citus.enable_unsafe_triggers = on;
SELECT throws_ok($$SELECT create_distributed_table('s0_accounts', 'client_id')$$, NULL, NULL,
                 'Citus refuses to distribute it');

ALTER EXTENSION dbcore UPDATE;
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'dbcore'),
          (SELECT default_version FROM pg_available_extensions WHERE name = 'dbcore'),
          'ALTER EXTENSION dbcore UPDATE on the coordinator');
SELECT is((SELECT count(*) FROM run_command_on_workers(
                $$SELECT extversion = default_version FROM pg_extension e
                   JOIN pg_available_extensions a ON a.name = e.extname WHERE e.extname = 'dbcore'$$)
            WHERE success AND result = 't'), 2::bigint,
          'reaches both workers');
SELECT is(pg_get_expr(polqual, polrelid), '(client_id = dbcore.current_client_id())',
          'the update moved the scoped table to the form Citus accepts')
  FROM pg_policy WHERE polrelid = 's0_accounts'::regclass AND polname = 'dbcore_tenant_isolation';
SELECT lives_ok($$SELECT create_distributed_table('s0_accounts', 'client_id')$$,
                'and it can be distributed now');
RESET citus.enable_unsafe_triggers;
SELECT is(citus_test.permissive_isolation('s0_accounts'), 0::bigint,
          'restrictive on every shard');
SELECT is_empty($$SELECT * FROM dbcore.tenant_check_shards()$$, 'fully scoped everywhere');

-- A database where Citus comes after the scoping (on the coordinator only:
-- nothing is distributed there).
CREATE DATABASE dbcore_citus_late;
SELECT is(citus_test.on_db(:coord_port, 'postgres', 'dbcore_citus_late',
            $$CREATE EXTENSION dbcore;
              CREATE TABLE t (id int, client_id uuid NOT NULL);
              SELECT dbcore.enable_tenant_scoping('t');
              CREATE EXTENSION citus;
              SELECT dbcore.enable_tenant_scoping('t');
              SELECT pg_get_expr(polqual, polrelid) FROM pg_policy
               WHERE polrelid = 't'::regclass AND polname = 'dbcore_tenant_isolation'$$),
          '(client_id = dbcore.current_client_id())',
          'after CREATE EXTENSION citus, enable_tenant_scoping() again moves a table to the Citus form');
SELECT is(citus_test.on_db(:coord_port, 'postgres', 'dbcore_citus_late',
            $$SELECT count(*) FROM dbcore.tenant_scoping_problems()$$),
          '0', 'and it is fully scoped');
DROP DATABASE dbcore_citus_late WITH (FORCE);

SELECT * FROM finish();
