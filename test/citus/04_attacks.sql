-- 04_attacks.sql: the tenant attacks that apply to a Citus cluster, and
-- Citus's own ways around the policies.  The application role (app, owns
-- nothing) works in client A's scope; client B is the victim, whose values
-- all contain "B-SECRET".  Each attack must be refused, or see and change
-- A's rows only; B's rows are checked intact at the end.  The table's owner
-- (tenant_owner, no BYPASSRLS) tries what an owner can on the workers.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SELECT plan(72);

SET ROLE tenant_owner;
CREATE TABLE s4_notes (id bigint NOT NULL, client_id uuid NOT NULL, body text,
                       PRIMARY KEY (client_id, id));
CREATE TABLE s4_tags (id bigint NOT NULL, client_id uuid NOT NULL, note_id bigint, tag text,
                      PRIMARY KEY (client_id, id));
SELECT dbcore.enable_tenant_scoping('s4_notes');
SELECT dbcore.enable_tenant_scoping('s4_tags');
GRANT SELECT, INSERT, UPDATE, DELETE ON s4_notes, s4_tags TO app;
RESET ROLE;
SET citus.enable_unsafe_triggers = on;
SELECT create_distributed_table('s4_notes', 'client_id');
SELECT create_distributed_table('s4_tags', 'client_id', colocate_with => 's4_notes');
RESET citus.enable_unsafe_triggers;

-- A and B on different workers, and A2 on B's worker (A's scope must not
-- see B there either).
SELECT citus_test.client_on('s4_notes', :w1_port) AS a,
       citus_test.client_on('s4_notes', :w2_port) AS b \gset
SELECT dbcore.mint_client_token(:'a', '1 hour') AS ta \gset
INSERT INTO s4_notes SELECT g, :'a', 'A note ' || g FROM generate_series(1, 4) g;
INSERT INTO s4_notes SELECT g, :'b', 'B-SECRET note ' || g FROM generate_series(1, 3) g;
INSERT INTO s4_tags SELECT g, :'a', g, 'A tag' FROM generate_series(1, 4) g;
INSERT INTO s4_tags SELECT g, :'b', g, 'B-SECRET tag' FROM generate_series(1, 3) g;
-- (the token holds no quote, the client id neither)
SELECT format($c$%s -X -q -h 127.0.0.1 -p %s -U app -d %s -c 'BEGIN' -c "SET LOCAL dbcore.client_id = '%s'" -c 'COPY s4_notes TO STDOUT' 2>&1 | tr '\t' ' '; true$c$,
              :'psql_bin', :coord_port, current_database(), :'ta') AS copy_to_cmd,
       format($c$printf '97,%s,planted\n' | %s -X -q -h 127.0.0.1 -p %s -U app -d %s -c 'BEGIN' -c "SET LOCAL dbcore.client_id = '%s'" -c 'COPY s4_notes (id, client_id, body) FROM STDIN WITH (FORMAT csv)' 2>&1; true$c$,
              :'b', :'psql_bin', :coord_port, current_database(), :'ta') AS copy_from_cmd \gset
SELECT shard_name AS b_shard FROM citus_shards
 WHERE shardid = get_shard_id_for_distribution_column('s4_notes', :'b') \gset
SELECT shard_name AS a_shard FROM citus_shards
 WHERE shardid = get_shard_id_for_distribution_column('s4_notes', :'a') \gset

-- B's rows as they must stay.
CREATE FUNCTION citus_test.b_rows() RETURNS text LANGUAGE sql SECURITY DEFINER AS $$
SELECT string_agg(x, ';' ORDER BY x) FROM (
    SELECT n.id || ':' || n.body AS x FROM s4_notes n WHERE n.body LIKE 'B-SECRET%'
    UNION ALL
    SELECT t.id || ':' || t.tag FROM s4_tags t WHERE t.tag LIKE 'B-SECRET%') s
$$;
SELECT citus_test.b_rows() AS b_before \gset

-- A function that fails loudly if it is ever shown B's data (not
-- LEAKPROOF: row level security must filter before it runs).
CREATE FUNCTION citus_test.leak(v text) RETURNS boolean LANGUAGE plpgsql COST 0.0001 AS $$
BEGIN
    IF v LIKE '%B-SECRET%' THEN
        RAISE EXCEPTION 'ATTACK SUCCEEDED: %', v;
    END IF;
    RETURN true;
END;
$$;
GRANT EXECUTE ON FUNCTION citus_test.leak(text) TO PUBLIC;

SET ROLE app;
BEGIN;
SELECT dbcore.set_client_token(:'ta');

-- Reading.
SELECT is(citus_test.q(format('SELECT count(*) FROM s4_notes WHERE client_id = %L', :'b')), '0',
          'B''s client_id in the WHERE clause: nothing');
SELECT is(citus_test.q(format('SELECT count(*) FROM s4_notes WHERE client_id = %L OR true', :'b')), '4',
          'OR true: A''s rows only');
SELECT is(citus_test.q($$SELECT count(*) FROM s4_notes WHERE citus_test.leak(body)$$), '4',
          'a leaky function in the WHERE clause never sees B''s rows');
SELECT is(citus_test.q($$SELECT count(DISTINCT client_id) FROM s4_notes$$), '1',
          'one client in every aggregate');
SELECT is(citus_test.q($$SELECT count(*) FROM s4_notes n JOIN s4_tags t ON t.note_id = n.id$$), '4',
          'a join of co-located tables without client_id: A''s pairs only');
SELECT is(citus_test.q($$SELECT count(*) FROM s4_notes n JOIN s4_tags t ON t.note_id = n.id
                          WHERE t.client_id <> n.client_id$$), '0',
          'no pair across clients');
SELECT is(citus_test.q($$SELECT count(*) FROM (SELECT body FROM s4_notes UNION ALL SELECT tag FROM s4_tags) s
                          WHERE s.body LIKE 'B-SECRET%'$$), '0',
          'a UNION of both tables: nothing of B''s');
SELECT is(citus_test.q(format($$SELECT count(*) FROM s4_notes WHERE client_id IN (%L, %L)$$, :'a', :'b')), '4',
          'a multi-client IN list: A''s rows only');
SET LOCAL dbcore.citus_routing = off;
SELECT is(citus_test.q($$SELECT count(*) FROM s4_notes WHERE citus_test.leak(body)$$), '4',
          'on every shard (routing off): the workers'' policies hold');
RESET dbcore.citus_routing;

-- Writing.
SELECT is(citus_test.q(format($$WITH u AS (UPDATE s4_notes SET body = 'hacked' WHERE client_id = %L RETURNING 1)
                                 SELECT count(*) FROM u$$, :'b')), '0',
          'UPDATE of B''s rows changes nothing');
SELECT is(citus_test.q(format($$WITH d AS (DELETE FROM s4_notes WHERE client_id = %L RETURNING 1)
                                 SELECT count(*) FROM d$$, :'b')), '0',
          'DELETE of B''s rows deletes nothing');
SELECT throws_ok(format($$INSERT INTO s4_notes (id, client_id, body) VALUES (90, %L, 'planted')$$, :'b'),
                 '42501', NULL, 'INSERT of a row of B is refused');
SELECT throws_ok(format($$UPDATE s4_notes SET client_id = %L WHERE id = 1$$, :'b'),
                 '0A000', NULL, 'moving a row to B is refused (Citus refuses changing the distribution column)');
-- Planned without its parameters' values, a statement that assigns the
-- distribution column crashed the backend in Citus 14.0.1 (its local
-- fast-path optimization reads a task list that such a plan lacks): any
-- role could restart the coordinator.  dbcore plans these with that
-- optimization off, and Citus refuses them.
SET LOCAL plan_cache_mode = force_generic_plan;
PREPARE s4_move(uuid, uuid) AS UPDATE s4_notes SET client_id = $2 WHERE client_id = $1 AND id = 1;
SELECT throws_ok(format('EXECUTE s4_move(%L, %L)', :'a', :'b'),
                 '0A000', 'could not create distributed plan',
                 'a generic plan moving a row to B is refused, and the coordinator lives');
PREPARE s4_move_same(uuid) AS UPDATE s4_notes SET client_id = $1 WHERE client_id = $1;
SELECT throws_ok(format('EXECUTE s4_move_same(%L)', :'a'),
                 '0A000', 'could not create distributed plan',
                 'a generic plan setting client_id to its WHERE parameter is refused');
PREPARE s4_upsert_move(uuid) AS INSERT INTO s4_notes (id, client_id, body) VALUES (1, $1, 'x')
    ON CONFLICT (client_id, id) DO UPDATE SET client_id = $1;
SELECT throws_ok(format('EXECUTE s4_upsert_move(%L)', :'a'),
                 '0A000', 'could not create distributed plan',
                 'a generic plan of an upsert that sets client_id is refused');
SELECT is(current_setting('citus.enable_local_fast_path_query_optimization'), 'on',
          'and Citus''s setting is as it was after each');
DEALLOCATE s4_move;
DEALLOCATE s4_move_same;
DEALLOCATE s4_upsert_move;
RESET plan_cache_mode;
SELECT throws_ok(format($$INSERT INTO s4_notes (id, client_id, body) VALUES (1, %L, 'x')
                          ON CONFLICT (client_id, id) DO UPDATE SET body = 'hacked'$$, :'b'),
                 '42501', NULL, 'an upsert onto B''s key is refused');
SELECT throws_ok(format($$INSERT INTO s4_tags (id, client_id, note_id, tag)
                          SELECT id + 100, %L, id, 'planted' FROM s4_notes$$, :'b'),
                 NULL, NULL, 'INSERT ... SELECT naming B is refused');
SELECT lives_ok($$INSERT INTO s4_tags (id, client_id, note_id, tag)
                  SELECT id + 100, client_id, id, 'copied' FROM s4_notes$$,
                'INSERT ... SELECT carrying client_id through (pushed down to the shards) works');
SELECT is(citus_test.q($$SELECT count(*) FROM s4_tags WHERE tag = 'copied'$$), '4', 'and copied A''s rows only');
-- Without client_id in the SELECT, Citus sends the rows through the
-- coordinator with COPY, which row level security refuses (as COPY FROM
-- is refused on one node).
SELECT throws_ok($$INSERT INTO s4_tags (id, note_id, tag) SELECT id + 200, id, 'copied' FROM s4_notes$$,
                 '0A000', 'COPY FROM not supported with row-level security',
                 'INSERT ... SELECT that leaves client_id out is refused');
COMMIT;

-- Through views and functions of the table's owner.
RESET ROLE;
SET ROLE tenant_owner;
CREATE VIEW s4_notes_view AS SELECT id, client_id, body FROM s4_notes;
CREATE VIEW s4_notes_invoker WITH (security_invoker) AS SELECT id, client_id, body FROM s4_notes;
CREATE FUNCTION s4_all_notes() RETURNS bigint LANGUAGE sql SECURITY DEFINER
    AS $$SELECT count(*) FROM public.s4_notes$$;
GRANT SELECT ON s4_notes_view, s4_notes_invoker TO app;
GRANT EXECUTE ON FUNCTION s4_all_notes() TO app;
RESET ROLE;
SET ROLE app;
BEGIN;
SELECT dbcore.set_client_token(:'ta');
SELECT is(citus_test.q('SELECT count(*) FROM s4_notes_view'), '4',
          'a view of the table''s owner: the owner is scoped too (FORCE), A''s rows');
SELECT is(citus_test.q('SELECT count(*) FROM s4_notes_invoker'), '4', 'a security_invoker view: A''s rows');
SELECT is(citus_test.q('SELECT s4_all_notes()'), '4', 'a SECURITY DEFINER function of the owner: A''s rows');
COMMIT;

-- The scope cannot be switched by what is passed to set_client_token(): the
-- value is set as one literal.
BEGIN;
SELECT dbcore.set_client_token(:'ta');
SELECT throws_ok(format($$SELECT dbcore.set_client_token(%L)$$,
                        'v1.x''; SET LOCAL dbcore.client_id TO ''' || :'b'),
                 '22023', 'malformed client token', 'SQL in a token is a bad token, not a command');
SELECT is(dbcore.current_client_id(), :'a'::uuid, 'the scope is still A''s');
COMMIT;
RESET ROLE;
BEGIN;
SELECT dbcore.set_client(format('%s''; RESET dbcore.client_id; SELECT ''', :'b'));
SELECT is(current_setting('dbcore.client_id'), format('%s''; RESET dbcore.client_id; SELECT ''', :'b'),
          'set_client() of a text with quotes and commands sets exactly that text');
COMMIT;

-- COPY, as the application runs it (psql as app, through the server's
-- COPY FROM PROGRAM): COPY TO shows A's rows; COPY FROM skips row level
-- security, so PostgreSQL refuses it (as on one node).
CREATE TEMP TABLE s4_out (line text);
COPY s4_out FROM PROGRAM :'copy_to_cmd';
SELECT is((SELECT count(*) FROM s4_out WHERE line LIKE '%A note%'), 4::bigint, 'COPY TO: A''s rows');
SELECT is((SELECT count(*) FROM s4_out WHERE line LIKE '%B-SECRET%'), 0::bigint, 'and none of B''s');
TRUNCATE s4_out;
COPY s4_out FROM PROGRAM :'copy_from_cmd';
SELECT ok((SELECT bool_or(line LIKE '%COPY FROM not supported with row-level security%') FROM s4_out),
          'COPY FROM into a scoped distributed table is refused');
DROP TABLE s4_out;

-- Citus's own ways to the shards, as the application role.
SET ROLE app;
SELECT is((SELECT count(*) FROM run_command_on_shards('s4_notes', 'SELECT count(*) FROM %s')
            WHERE success), 0::bigint,
          'run_command_on_shards() reading the shards: refused on every shard (no scope there)');
SELECT is((SELECT count(*) FROM run_command_on_shards('s4_notes', 'SELECT string_agg(body, '','') FROM %s')
            WHERE result LIKE '%B-SECRET%'), 0::bigint,
          'and shows nothing of B''s');
BEGIN;
SELECT dbcore.set_client_token(:'ta');
SELECT is((SELECT count(*) FROM run_command_on_shards('s4_notes', 'SELECT string_agg(body, '','') FROM %s')
            WHERE result LIKE '%B-SECRET%'), 0::bigint,
          'not within a scope either');
COMMIT;
SELECT is((SELECT count(*) FROM run_command_on_placements('s4_notes', 'ALTER TABLE %s DISABLE ROW LEVEL SECURITY')
            WHERE success), 0::bigint,
          'run_command_on_placements() cannot switch row level security off (not the owner)');
SELECT is((SELECT count(*) FROM run_command_on_workers('ALTER TABLE s4_notes NO FORCE ROW LEVEL SECURITY')
            WHERE success), 0::bigint,
          'run_command_on_workers() cannot change the workers'' copies');
SELECT throws_ok(format($$SELECT citus_move_shard_placement(%s, '127.0.0.1', %s, '127.0.0.1', %s)$$,
                        get_shard_id_for_distribution_column('s4_notes', :'b'), :w2_port, :w1_port),
                 NULL, NULL, 'the application role cannot move shards');
RESET ROLE;

-- The table's owner, on the nodes that hold the shards.
SET ROLE tenant_owner;
SELECT is((SELECT count(*) FROM run_command_on_placements('s4_notes', 'ALTER TABLE %s DISABLE ROW LEVEL SECURITY')
            WHERE success), 0::bigint,
          'the owner cannot switch a shard''s row level security off');
SELECT is((SELECT count(*) FROM run_command_on_placements('s4_notes', 'ALTER TABLE %s NO FORCE ROW LEVEL SECURITY')
            WHERE success), 0::bigint, 'nor stop forcing it');
SELECT is((SELECT count(*) FROM run_command_on_placements('s4_notes', 'DROP POLICY dbcore_tenant_isolation ON %s')
            WHERE success), 0::bigint, 'nor drop the restrictive policy');
SELECT is((SELECT count(*) FROM run_command_on_placements('s4_notes', 'ALTER TABLE %s DISABLE TRIGGER ALL')
            WHERE success), 0::bigint, 'nor disable the row guard');
SELECT is((SELECT count(*) FROM run_command_on_placements('s4_notes', 'TRUNCATE %s')
            WHERE success), 0::bigint, 'nor truncate a shard');
SELECT is((SELECT count(*) FROM run_command_on_placements('s4_notes',
              'CREATE POLICY aaa_first ON %s AS RESTRICTIVE USING (citus_test.leak(body))')
            WHERE success), 0::bigint, 'nor add a restrictive policy that runs before dbcore''s');
RESET ROLE;
SELECT is(citus_test.permissive_isolation('s4_notes'), 0::bigint, 'the shards'' policies are intact');
SELECT is_empty($$SELECT * FROM dbcore.tenant_check_shards() WHERE tbl = 's4_notes'::regclass$$,
                'and so is the rest of their scoping');

-- Another session's distributed transaction.  Citus keeps the rows of a
-- query's sub-plans (here B's, read in B's scope) in files named by the role
-- and the transaction's number until the transaction ends: a session of the
-- same role that took on that number, with assign_distributed_transaction_id(),
-- could read them with read_intermediate_result(), on the coordinator or on
-- a worker.  B's session stays open with such results while A's tries.
SELECT dbcore.mint_client_token(:'b', '1 hour') AS tb \gset
SELECT dblink_connect('s4_victim', format('host=127.0.0.1 port=%s dbname=%s user=app',
                                          :coord_port, current_database()));
SELECT dblink_exec('s4_victim', 'BEGIN');
SELECT dblink_exec('s4_victim', format('SET LOCAL dbcore.client_id = %L', :'tb'));
SELECT dblink_exec('s4_victim', 'SET LOCAL dbcore.citus_routing = off');
SELECT is((SELECT v FROM dblink('s4_victim',
             $$SELECT count(*)::text FROM (WITH x AS MATERIALIZED (SELECT id FROM s4_notes ORDER BY id LIMIT 2)
                                           SELECT 1 FROM x JOIN s4_notes n USING (id)) s$$) AS t(v text)),
          '2', 'B''s session: a query with a sub-plan works (Citus''s connections pass)');
SELECT v AS vtx FROM dblink('s4_victim', $$SELECT (get_current_transaction_id()).transaction_number::text$$)
    AS t(v text) \gset
SELECT cmp_ok((SELECT sum(citus_test.on_node(port, 'postgres', format(
                   $$SELECT count(*) FROM pg_ls_dir('base/pgsql_job_cache') d
                      WHERE d = (SELECT oid FROM pg_roles WHERE rolname = 'app') || '_0_%s'$$, :'vtx'))::int)
                 FROM unnest(ARRAY[:w1_port, :w2_port]) port), '>=', 1::bigint,
              'its intermediate results are on the workers, under the transaction''s number');
SET ROLE app;
BEGIN;
SELECT dbcore.set_client_token(:'ta');
SELECT throws_ok(format('SELECT assign_distributed_transaction_id(0, %s, now())', :'vtx'),
                 '42501', 'permission denied for function assign_distributed_transaction_id',
                 'A''s session cannot take on B''s distributed transaction');
SELECT throws_ok($$SET application_name = 'citus_internal gpid=10000000001'$$,
                 '42501', NULL, 'nor pass for one of Citus''s connections');
SELECT throws_ok($$SELECT set_config('application_name', 'citus_internal gpid=10000000001', true)$$,
                 '42501', NULL, 'not with set_config() either');
SELECT throws_ok($$ALTER ROLE app SET application_name = 'citus_internal gpid=10000000001'$$,
                 '42501', NULL, 'nor as its role''s default for later connections');
COMMIT;
SELECT alike((SELECT string_agg(DISTINCT result, '; ') FROM run_command_on_workers(format(
                 'SELECT 1 FROM (SELECT assign_distributed_transaction_id(0, %s, now())) s', :'vtx'))),
             'ERROR:  permission denied for function assign_distributed_transaction_id',
             'nor through run_command_on_workers()');
SELECT is((SELECT count(*) FROM run_command_on_workers(
              $$SET application_name = 'citus_internal gpid=10000000001'$$) WHERE success), 0::bigint,
          'whose connections cannot take Citus''s name back');
RESET ROLE;
SELECT alike(citus_test.on_node(:w2_port, 'app', format(
                 $$BEGIN TRANSACTION ISOLATION LEVEL READ COMMITTED;
                   SELECT assign_distributed_transaction_id(0, %s, now());
                   SELECT string_agg(id::text, ',') FROM read_intermediate_result('1_1', 'binary') AS r(id bigint)$$,
                 :'vtx')),
             'ERROR 42501: permission denied for function assign_distributed_transaction_id%',
             'connected to B''s worker directly: refused too');
SELECT is((SELECT v FROM dblink('s4_victim', 'SELECT count(*)::text FROM s4_notes') AS t(v text)), '3',
          'B''s session goes on');
SELECT dblink_exec('s4_victim', 'COMMIT');

-- The scope reaches the workers as the text of a SET LOCAL, which
-- pg_stat_activity (and citus_stat_activity) shows to every session of the
-- same role until that connection's next command: in strict mode, another
-- client's token, good until it expires.  B's session takes a new token
-- after its first query, so that the SET LOCAL stays the last command of its
-- connection to B's worker.
SELECT dbcore.mint_client_token(:'b', '1 hour') AS tb2 \gset
SELECT dblink_exec('s4_victim', 'BEGIN');
SELECT dblink_exec('s4_victim', format('SET LOCAL dbcore.client_id = %L', :'tb'));
SELECT is((SELECT v FROM dblink('s4_victim', 'SELECT count(*)::text FROM s4_notes') AS t(v text)), '3',
          'B''s session reads its rows on its worker');
SELECT is((SELECT v FROM dblink('s4_victim', format('SELECT dbcore.set_client_token(%L)::text', :'tb2'))
             AS t(v text)), :'b', 'and takes a new token');
SELECT citus_test.on_node(:w2_port, 'app',
           $$SELECT string_agg(query, ' | ') FROM pg_stat_activity
              WHERE query LIKE '%dbcore.client_id%' AND pid <> pg_backend_pid()$$) AS w2_activity \gset
SELECT ok(:'w2_activity' LIKE '%SET LOCAL dbcore.client_id TO ''*****%',
          'on B''s worker, pg_stat_activity shows the forwarded SET LOCAL with its value blanked');
SELECT ok(position(:'tb2' IN :'w2_activity') = 0 AND position(:'tb' IN :'w2_activity') = 0,
          'and neither of B''s tokens');
SET ROLE app;
SELECT is((SELECT count(*) FROM citus_stat_activity
            WHERE is_worker_query AND (position(:'tb2' IN query) > 0 OR position(:'tb' IN query) > 0)),
          0::bigint, 'nor does citus_stat_activity on the coordinator');
RESET ROLE;
-- The same text shows the values of the statements Citus sends, inlined,
-- even when the application passed them as parameters.
SELECT dblink_exec('s4_victim', $$PREPARE s4_put(bigint, text) AS INSERT INTO s4_notes (id, body) VALUES ($1, $2)$$);
SELECT dblink_exec('s4_victim', $$EXECUTE s4_put(50, 'B-SECRET put in by B')$$);
SELECT citus_test.on_node(:w2_port, 'app',
           $$SELECT string_agg(query, ' | ') FROM pg_stat_activity
              WHERE query LIKE 'INSERT INTO%' AND pid <> pg_backend_pid()$$) AS w2_insert \gset
SELECT ok(:'w2_insert' LIKE '%INSERT INTO %s4_notes%''**''::bigint%''********************''::text%',
          'on B''s worker, the INSERT that B''s parameters became shows with its values blanked');
SELECT ok(position('B-SECRET' IN :'w2_insert') = 0 AND position(:'b' IN :'w2_insert') = 0,
          'neither B''s value nor B''s client id');
SELECT dblink_exec('s4_victim', 'ROLLBACK');
SELECT dblink_disconnect('s4_victim');

-- Connecting to a worker directly, by the shard's name.
SELECT alike(citus_test.on_node(:w2_port, 'app', format('SELECT count(*) FROM %s', :'b_shard')),
             'ERROR 42501: no client scope is set%', 'app on B''s worker without a scope: refused');
SELECT is(citus_test.on_node(:w2_port, 'app',
            format('BEGIN; SET LOCAL dbcore.client_id = %L; SELECT count(*) FROM %s', :'ta', :'b_shard')),
          '0', 'in A''s scope: B''s shard shows nothing');
SELECT alike(citus_test.on_node(:w2_port, 'app',
               format($$BEGIN; SET LOCAL dbcore.client_id = %L; INSERT INTO %s VALUES (96, %L, 'planted') RETURNING 'ATTACK SUCCEEDED'$$,
                      :'ta', :'b_shard', :'b')),
             'ERROR 42501: %', 'writing B''s row into B''s shard: refused');
SELECT is(citus_test.on_node(:w2_port, 'app',
            format($$BEGIN; SET LOCAL dbcore.client_id = %L; WITH u AS (UPDATE %s SET body = 'hacked' RETURNING 1) SELECT count(*) FROM u$$,
                   :'ta', :'b_shard')),
          '0', 'updating B''s shard: nothing changes');
SELECT alike(citus_test.on_node(:w2_port, 'app', format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', :'b_shard')),
             'ERROR 42501: must be owner%', 'app cannot alter the shard');
SELECT alike(citus_test.on_node(:w2_port, 'tenant_owner', format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', :'b_shard')),
             'ERROR 42501: permission denied to weaken tenant scoping of table%',
             'the owner, connected to the worker, cannot switch scoping off');
SELECT alike(citus_test.on_node(:w2_port, 'tenant_owner', format('TRUNCATE %s', :'b_shard')),
             'ERROR 42501: permission denied to truncate tenant-scoped table%',
             'nor truncate the shard');
SELECT is(citus_test.on_node(:w2_port, 'tenant_owner',
            format('BEGIN; SET LOCAL dbcore.client_id = %L; SELECT count(*) FROM %s', :'ta', :'b_shard')),
          '0', 'and sees nothing of B''s in A''s scope (row level security is forced on the owner)');
SELECT alike(citus_test.on_node(:w2_port, 'tenant_owner', format('ALTER TABLE s4_notes DISABLE ROW LEVEL SECURITY')),
             'ERROR %', 'the worker''s copy of the table cannot be changed there');

SELECT is(citus_test.b_rows(), :'b_before', 'B''s rows are intact');

SELECT * FROM finish();
