-- 01_scoping.sql: tenant scoping of distributed tables, in both orders;
-- what every shard placement and every worker's copy carries; reference
-- tables; the check of the shards, and that it fails when a shard is wrong.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SELECT plan(38);

-- Order 1: scope, then distribute (a superuser distributes: Citus looks at
-- the table's rows through row level security otherwise).
SET ROLE tenant_owner;
CREATE TABLE s1_projects (id bigint NOT NULL, client_id uuid, name text,
                          PRIMARY KEY (client_id, id));
SELECT dbcore.enable_tenant_scoping('s1_projects');
RESET ROLE;
SET citus.enable_unsafe_triggers = on;
SELECT create_distributed_table('s1_projects', 'client_id');
RESET citus.enable_unsafe_triggers;

-- Order 2: distribute, then scope (co-located with the first).
SET ROLE tenant_owner;
CREATE TABLE s1_tasks (id bigint NOT NULL, client_id uuid NOT NULL, project_id bigint,
                       title text, PRIMARY KEY (client_id, id));
RESET ROLE;
SELECT create_distributed_table('s1_tasks', 'client_id', colocate_with => 's1_projects');
SET ROLE tenant_owner;
SELECT dbcore.enable_tenant_scoping('s1_tasks');
RESET ROLE;

SELECT is((SELECT count(*) FROM pg_dist_partition
            WHERE logicalrelid IN ('s1_projects'::regclass, 's1_tasks'::regclass)
              AND partmethod = 'h'
              AND column_to_column_name(logicalrelid, partkey) = 'client_id'),
          2::bigint, 'both tables are hash-distributed by client_id');
SELECT is((SELECT count(DISTINCT colocationid) FROM pg_dist_partition
            WHERE logicalrelid IN ('s1_projects'::regclass, 's1_tasks'::regclass)),
          1::bigint, 'and co-located');

-- The coordinator's policies take the form Citus accepts.
SELECT is(pg_get_expr(polqual, polrelid), '(client_id = dbcore.current_client_id())',
          'order 1: the restrictive policy compares with the function, no sub-select')
  FROM pg_policy WHERE polrelid = 's1_projects'::regclass AND polname = 'dbcore_tenant_isolation';
SELECT is(pg_get_expr(polqual, polrelid), '(client_id = dbcore.current_client_id())',
          'order 2: the same')
  FROM pg_policy WHERE polrelid = 's1_tasks'::regclass AND polname = 'dbcore_tenant_isolation';
SELECT is(pg_get_expr(polqual, polrelid), '(client_id = dbcore.current_client_id())',
          'on Citus the companion policy repeats the client comparison')
  FROM pg_policy WHERE polrelid = 's1_tasks'::regclass AND polname = 'dbcore_tenant_access';
SELECT is_empty($$SELECT * FROM dbcore.tenant_scoping_problems()$$,
                'the coordinator''s tables have no problem');

-- Every placement and every worker's copy.
SELECT cmp_ok((SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 's1_projects'::regclass),
              '>=', 4::bigint, 'the first table has shards');
SELECT is(citus_test.permissive_isolation('s1_projects'), 0::bigint,
          'order 1: dbcore_tenant_isolation is RESTRICTIVE on every placement and every worker''s copy');
SELECT is(citus_test.permissive_isolation('s1_tasks'), 0::bigint,
          'order 2: the same');
SELECT is(citus_test.placements_not('s1_projects',
            $q$SELECT relrowsecurity AND relforcerowsecurity FROM pg_catalog.pg_class WHERE oid = %1$L::regclass$q$, 't'),
          0::bigint, 'order 1: row level security enabled and forced on every placement');
SELECT is(citus_test.placements_not('s1_tasks',
            $q$SELECT relrowsecurity AND relforcerowsecurity FROM pg_catalog.pg_class WHERE oid = %1$L::regclass$q$, 't'),
          0::bigint, 'order 2: the same');
SELECT is(citus_test.placements_not('s1_projects',
            $q$SELECT count(*) FROM pg_catalog.pg_trigger
                WHERE tgrelid = %1$L::regclass AND tgfoid = 'dbcore.tenant_row_guard()'::pg_catalog.regprocedure
                  AND tgenabled = 'O'$q$, '1'),
          0::bigint, 'order 1: the row guard on every placement');
SELECT is(citus_test.placements_not('s1_tasks',
            $q$SELECT count(*) FROM pg_catalog.pg_trigger
                WHERE tgrelid = %1$L::regclass AND tgfoid = 'dbcore.tenant_row_guard()'::pg_catalog.regprocedure
                  AND tgenabled = 'O'$q$, '1'),
          0::bigint, 'order 2: the same');
SELECT is(citus_test.placements_not('s1_tasks',
            $q$SELECT pg_catalog.count(*) FROM pg_catalog.pg_policy
                WHERE polrelid = %1$L::regclass AND polname IN ('dbcore_tenant_isolation', 'dbcore_tenant_access')$q$, '2'),
          0::bigint, 'both dbcore policies on every placement');
SELECT is_empty($$SELECT * FROM dbcore.tenant_check_shards()$$,
                'dbcore.tenant_check_shards() finds nothing wrong');
SELECT is((SELECT count(*) FROM run_command_on_workers(
                $q$SELECT count(*) FROM dbcore.tenant_check_tables(ARRAY['s1_projects'::regclass, 's1_tasks'::regclass],
                                                                 ARRAY['client_id', 'client_id'])$q$)
            WHERE success AND result = '0'),
          2::bigint, 'every worker''s copy of the tables is fully scoped');

-- The check fails when one placement's policy is permissive (a superuser
-- flips it in the worker's catalog), and names that placement.
SELECT shardid AS s1_shard, nodeport AS s1_port, 'public.s1_tasks_' || shardid AS s1_placement
  FROM citus_shards WHERE table_name = 's1_tasks'::regclass ORDER BY shardid LIMIT 1 \gset
SELECT is(citus_test.on_node(:s1_port, 'postgres', format(
            $q$UPDATE pg_catalog.pg_policy SET polpermissive = true
                WHERE polrelid = %L::regclass AND polname = 'dbcore_tenant_isolation' RETURNING 'done'$q$,
            :'s1_placement')),
          'done', 'a superuser makes one placement''s policy permissive');
SELECT is(citus_test.permissive_isolation('s1_tasks'), 1::bigint,
          'the count of permissive policies sees it');
SELECT results_eq($$SELECT shard, check_name, detail FROM dbcore.tenant_check_shards()$$,
                  format($$VALUES (%L, 'policy dbcore_tenant_isolation',
                                   'policy "dbcore_tenant_isolation" is not RESTRICTIVE')$$, :'s1_placement'),
                  'dbcore.tenant_check_shards() names the placement and what is wrong');
SELECT is(citus_test.on_node(:s1_port, 'postgres', format(
            $q$UPDATE pg_catalog.pg_policy SET polpermissive = false
                WHERE polrelid = %L::regclass AND polname = 'dbcore_tenant_isolation' RETURNING 'done'$q$,
            :'s1_placement')),
          'done', 'and it is put back');
SELECT is_empty($$SELECT * FROM dbcore.tenant_check_shards()$$, 'all right again');

-- A placement without its row guard is found too.
SELECT is(citus_test.on_node(:s1_port, 'postgres',
            format('ALTER TABLE %s DISABLE TRIGGER dbcore_tenant_guard_%s', :'s1_placement', :s1_shard)),
          'ALTER TABLE', 'a superuser disables one placement''s row guard');
SELECT results_eq($$SELECT check_name FROM dbcore.tenant_check_shards()$$,
                  $$VALUES ('trigger dbcore_tenant_guard')$$,
                  'dbcore.tenant_check_shards() reports the disabled trigger');
SELECT is(citus_test.on_node(:s1_port, 'postgres',
            format('ALTER TABLE %s ENABLE TRIGGER dbcore_tenant_guard_%s', :'s1_placement', :s1_shard)),
          'ALTER TABLE', 'enabled again');

-- Reference tables hold no tenant rows: scoping one is refused ...
CREATE TABLE s1_plans (id int PRIMARY KEY, client_id uuid NOT NULL, name text);
SELECT create_reference_table('s1_plans');
SELECT throws_ok($$SELECT dbcore.enable_tenant_scoping('s1_plans')$$, '0A000',
                 'cannot tenant-scope reference table "s1_plans"',
                 'enable_tenant_scoping() refuses a reference table');
SELECT is((SELECT count(*) FROM pg_policy WHERE polrelid = 's1_plans'::regclass), 0::bigint,
          'and leaves it as it was');
-- ... and a scoped table made a reference table is reported.
CREATE TABLE s1_settings (id int, client_id uuid NOT NULL, v text, PRIMARY KEY (client_id, id));
SELECT dbcore.enable_tenant_scoping('s1_settings');
SET citus.enable_unsafe_triggers = on;
SELECT create_reference_table('s1_settings');
RESET citus.enable_unsafe_triggers;
SELECT results_eq($$SELECT tbl::text, check_name FROM dbcore.tenant_scoping_problems()$$,
                  $$VALUES ('s1_settings', 'citus reference table')$$,
                  'tenant_scoping_problems() reports a scoped reference table');
SELECT is(citus_test.permissive_isolation('s1_settings'), 0::bigint,
          'its placements on every node still have the restrictive policy');
SELECT lives_ok($$SELECT dbcore.disable_tenant_scoping('s1_settings')$$,
                'a superuser lifts its scoping');
DROP TABLE s1_settings, s1_plans;

-- disable_tenant_scoping() of a distributed table reaches the shards, and
-- enable_tenant_scoping() brings it back.
SELECT lives_ok($$SELECT dbcore.disable_tenant_scoping('s1_tasks')$$,
                'a superuser lifts the scoping of a distributed table');
SELECT is(citus_test.placements_not('s1_tasks',
            $q$SELECT count(*) FROM pg_catalog.pg_policy WHERE polrelid = %1$L::regclass$q$, '0'),
          0::bigint, 'no policy is left on any placement');
SELECT is(citus_test.placements_not('s1_tasks',
            $q$SELECT relrowsecurity FROM pg_catalog.pg_class WHERE oid = %1$L::regclass$q$, 'f'),
          0::bigint, 'row level security is off on every placement');
SELECT is(citus_test.placements_not('s1_tasks',
            $q$SELECT count(*) FROM pg_catalog.pg_trigger WHERE tgrelid = %1$L::regclass
                  AND tgfoid IN ('dbcore.tenant_row_guard()'::pg_catalog.regprocedure,
                                 'dbcore.tenant_truncate_guard()'::pg_catalog.regprocedure)$q$, '0'),
          0::bigint, 'and no dbcore trigger');
SET ROLE tenant_owner;
SELECT lives_ok($$SELECT dbcore.enable_tenant_scoping('s1_tasks')$$,
                'the owner scopes it again');
RESET ROLE;
SELECT is(citus_test.permissive_isolation('s1_tasks'), 0::bigint,
          'restrictive again everywhere');
SELECT is_empty($$SELECT * FROM dbcore.tenant_check_shards()$$, 'and complete');

-- A table distributed by another column can be scoped (every query then
-- runs on every shard).
SET ROLE tenant_owner;
CREATE TABLE s1_events (id bigint PRIMARY KEY, client_id uuid NOT NULL, what text);
RESET ROLE;
SELECT create_distributed_table('s1_events', 'id');
SET ROLE tenant_owner;
SELECT lives_ok($$SELECT dbcore.enable_tenant_scoping('s1_events')$$,
                'a table distributed by another column is scoped');
RESET ROLE;
SELECT is(citus_test.permissive_isolation('s1_events'), 0::bigint,
          'with restrictive policies on every placement');

SELECT * FROM finish();
