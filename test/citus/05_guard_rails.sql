-- 05_guard_rails.sql: the coordinator's guard rails on distributed tables;
-- DDL that Citus sends to the shards is not broken by dbcore's event
-- triggers on the workers; the migration ledger stays on the coordinator,
-- and a migration that distributes a table commits or rolls back with its
-- ledger row.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SELECT plan(34);

SET ROLE tenant_owner;
CREATE TABLE s5_docs (id bigint NOT NULL, client_id uuid NOT NULL, body text,
                      PRIMARY KEY (client_id, id));
SELECT dbcore.enable_tenant_scoping('s5_docs');
RESET ROLE;
SET citus.enable_unsafe_triggers = on;
SELECT create_distributed_table('s5_docs', 'client_id');
RESET citus.enable_unsafe_triggers;
INSERT INTO s5_docs SELECT g, md5('client ' || (g % 3))::uuid, 'doc ' || g FROM generate_series(1, 30) g;

-- The owner (no BYPASSRLS): DDL that evaluates every client's rows is
-- refused (the coordinator's copy is empty, but the shards hold rows), and
-- so is DDL that weakens the scoping.
SET ROLE tenant_owner;
SELECT throws_ok($$ALTER TABLE s5_docs ALTER COLUMN body TYPE varchar(200)$$, '42501',
                 'permission denied to change a column''s type in tenant-scoped table "s5_docs"',
                 'rewriting a column of a distributed table is refused');
SELECT throws_ok($$CREATE INDEX ON s5_docs ((lower(body)))$$, '42501',
                 'permission denied to create an index on expressions or with a WHERE clause on tenant-scoped table "s5_docs"',
                 'an expression index is refused');
SELECT throws_ok($$ALTER TABLE s5_docs ADD CONSTRAINT s5_len CHECK (length(body) < 100)$$, '42501',
                 'permission denied to add a CHECK constraint to tenant-scoped table "s5_docs"',
                 'a CHECK constraint is refused');
SELECT throws_ok($$CREATE UNIQUE INDEX ON s5_docs (id)$$, NULL, NULL,
                 'a unique index without client_id is refused (by Citus first)');
SELECT throws_ok($$ALTER TABLE s5_docs DISABLE ROW LEVEL SECURITY$$, '42501',
                 'permission denied to weaken tenant scoping of table "public.s5_docs"',
                 'switching row level security off is refused');
SELECT throws_ok($$DROP POLICY dbcore_tenant_isolation ON s5_docs$$, '42501', NULL,
                 'dropping the restrictive policy is refused');
SET citus.enable_unsafe_triggers = on;
SELECT throws_ok($$ALTER TABLE s5_docs DISABLE TRIGGER dbcore_tenant_guard$$, '42501', NULL,
                 'disabling the row guard is refused');
RESET citus.enable_unsafe_triggers;
SELECT throws_ok($$TRUNCATE s5_docs$$, '42501', 'permission denied to truncate tenant-scoped table "s5_docs"',
                 'TRUNCATE is refused');
-- Ordinary DDL goes through, to every shard.
SELECT lives_ok($$ALTER TABLE s5_docs ADD COLUMN title text$$, 'the owner adds a column');
SELECT lives_ok($$CREATE INDEX s5_docs_title ON s5_docs (client_id, title)$$, 'and a plain index');
RESET ROLE;
SELECT is(citus_test.placements_not('s5_docs',
            $q$SELECT count(*) FROM pg_catalog.pg_attribute WHERE attrelid = %1$L::regclass AND attname = 'title'$q$, '1'),
          0::bigint, 'the column is on every shard');
SELECT is(citus_test.placements_not('s5_docs',
            $q$SELECT count(*) FROM pg_catalog.pg_index WHERE indrelid = %1$L::regclass$q$, '2'),
          0::bigint, 'the index too');

-- A superuser (the role migrations would run as) may do what the owner may
-- not; the workers' event triggers let Citus's shard DDL through.
SELECT lives_ok($$CREATE INDEX s5_docs_lower ON s5_docs ((lower(body)))$$,
                'a superuser creates an expression index');
SELECT lives_ok($$ALTER TABLE s5_docs ADD CONSTRAINT s5_len CHECK (length(body) < 100)$$,
                'and a CHECK constraint');
SELECT lives_ok($$ALTER TABLE s5_docs ALTER COLUMN body TYPE varchar(200)$$,
                'and rewrites a column');
SELECT is(citus_test.placements_not('s5_docs',
            $q$SELECT count(*) FROM pg_catalog.pg_index WHERE indrelid = %1$L::regclass$q$, '3'),
          0::bigint, 'on every shard');
SELECT is_empty($$SELECT * FROM dbcore.tenant_check_shards() WHERE tbl = 's5_docs'::regclass$$,
                'the shards are still fully scoped');

-- dbcore.auto_updated_at, on in every node's configuration: the
-- coordinator's new table gets the trigger, and each shard has exactly the
-- copy Citus makes of it (the workers do not attach their own).
SELECT is((SELECT count(*) FROM run_command_on_all_nodes(
                $$ALTER SYSTEM SET dbcore.auto_updated_at = on$$) WHERE success), 3::bigint,
          'dbcore.auto_updated_at on, on every node');
SELECT run_command_on_all_nodes('SELECT pg_reload_conf()');
SELECT pg_sleep(0.5);
SELECT is(current_setting('dbcore.auto_updated_at'), 'on', 'in force here');
CREATE TABLE s5_stamped (id bigint NOT NULL, client_id uuid NOT NULL, updated_at timestamptz,
                         PRIMARY KEY (client_id, id));
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgrelid = 's5_stamped'::regclass
            AND tgfoid = 'dbcore.updated_at()'::regprocedure), 1::bigint,
          'a new table on the coordinator gets the updated_at trigger');
SET citus.enable_unsafe_triggers = on;
SELECT create_distributed_table('s5_stamped', 'client_id');
RESET citus.enable_unsafe_triggers;
SELECT is(citus_test.placements_not('s5_stamped',
            $q$SELECT count(*) FROM pg_catalog.pg_trigger WHERE tgrelid = %1$L::regclass
                  AND tgfoid = 'dbcore.updated_at()'::pg_catalog.regprocedure$q$, '1'),
          0::bigint, 'each shard has one updated_at trigger');
SELECT is((SELECT count(*) FROM run_command_on_workers(
                $$SELECT count(*) FROM pg_trigger WHERE tgrelid = 's5_stamped'::regclass
                   AND tgfoid = 'dbcore.updated_at()'::regprocedure$$) WHERE success AND result = '1'),
          2::bigint, 'and so has each worker''s copy');
SELECT run_command_on_all_nodes($$ALTER SYSTEM RESET dbcore.auto_updated_at$$);
SELECT run_command_on_all_nodes('SELECT pg_reload_conf()');
DROP TABLE s5_stamped;

-- Migrations: the ledger is the coordinator's.
SELECT ok(dbcore.apply_migration('20261201000001', 'distributed notes',
            $m$CREATE TABLE s5_notes (id bigint NOT NULL, client_id uuid NOT NULL, body text,
                                      PRIMARY KEY (client_id, id));
               SELECT dbcore.enable_tenant_scoping('s5_notes');
               SET LOCAL citus.enable_unsafe_triggers = on;
               SELECT create_distributed_table('s5_notes', 'client_id');$m$,
            'DROP TABLE s5_notes'),
          'a migration that distributes a scoped table is applied');
SELECT is((SELECT state FROM dbcore.migrations WHERE version = '20261201000001'), 'applied',
          'its ledger row is on the coordinator');
SELECT is((SELECT count(*) FROM run_command_on_workers('SELECT count(*) FROM dbcore.migrations')
            WHERE success AND result = '0'), 2::bigint,
          'the workers'' ledgers stay empty');
SELECT is((SELECT partmethod::text FROM pg_dist_partition WHERE logicalrelid = 's5_notes'::regclass), 'h',
          'the table is distributed');
SELECT is(citus_test.permissive_isolation('s5_notes'), 0::bigint, 'and scoped on every shard');

SELECT throws_ok($m$SELECT dbcore.apply_migration('20261201000002', 'fails half-way',
            $$CREATE TABLE s5_broken (id bigint NOT NULL, client_id uuid NOT NULL, PRIMARY KEY (client_id, id));
              SELECT create_distributed_table('s5_broken', 'client_id');
              SELECT 1 / 0;$$)$m$,
                 '22012', NULL, 'a migration that fails after distributing a table');
SELECT is(to_regclass('s5_broken'), NULL, 'leaves no table');
SELECT is((SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text = 's5_broken'), 0::bigint,
          'no Citus metadata');
SELECT is((SELECT count(*) FROM run_command_on_workers($$SELECT to_regclass('s5_broken') IS NULL$$)
            WHERE success AND result = 't'), 2::bigint, 'nothing on the workers');
SELECT is((SELECT count(*) FROM dbcore.migrations WHERE version = '20261201000002'), 0::bigint,
          'and no ledger row');

SELECT ok(dbcore.revert_migration('20261201000001'), 'reverting the first migration');
SELECT is(to_regclass('s5_notes'), NULL, 'drops the distributed table');

SELECT * FROM finish();
