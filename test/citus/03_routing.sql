-- 03_routing.sql: scoped queries without any client_id condition run as one
-- task on the current client's shard (SELECT, UPDATE, DELETE, INSERT, joins
-- of co-located tables), proven with citus.multi_task_query_log_level =
-- 'error' over the tenant workload; inserts route without naming
-- client_id; prepared statements and functions stay right across scopes,
-- and a statement on one table is planned once for every client.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SELECT plan(78);

SET ROLE tenant_owner;
CREATE TABLE s3_orders (id bigint NOT NULL, client_id uuid NOT NULL, total numeric, note text,
                        PRIMARY KEY (client_id, id));
CREATE TABLE s3_lines (id bigint NOT NULL, client_id uuid NOT NULL, order_id bigint, qty int,
                       PRIMARY KEY (client_id, id));
SELECT dbcore.enable_tenant_scoping('s3_orders');
SELECT dbcore.enable_tenant_scoping('s3_lines');
GRANT SELECT, INSERT, UPDATE, DELETE ON s3_orders, s3_lines TO app;
RESET ROLE;
SET citus.enable_unsafe_triggers = on;
SELECT create_distributed_table('s3_orders', 'client_id');
SELECT create_distributed_table('s3_lines', 'client_id', colocate_with => 's3_orders');
RESET citus.enable_unsafe_triggers;

SELECT citus_test.client_on('s3_orders', :w1_port) AS a,
       citus_test.client_on('s3_orders', :w2_port) AS b \gset
SELECT dbcore.mint_client_token(:'a', '1 hour') AS ta,
       dbcore.mint_client_token(:'b', '1 hour') AS tb \gset
SELECT shardid AS a_shard FROM pg_dist_shard
 WHERE shardid = get_shard_id_for_distribution_column('s3_orders', :'a') \gset
INSERT INTO s3_orders SELECT g, :'a', g * 10, 'a' FROM generate_series(1, 20) g;
INSERT INTO s3_orders SELECT g, :'b', g * 10, 'b' FROM generate_series(1, 5) g;
INSERT INTO s3_lines SELECT g, :'a', g % 20 + 1, 1 FROM generate_series(1, 40) g;
INSERT INTO s3_lines SELECT g, :'b', g % 5 + 1, 2 FROM generate_series(1, 10) g;

SET ROLE app;
BEGIN;
SELECT dbcore.set_client_token(:'ta');

-- One task, on A's shard.
SELECT is(citus_test.task_count('SELECT * FROM s3_orders'), 1, 'SELECT without WHERE: one task');
SELECT matches(citus_test.plan_of('SELECT * FROM s3_orders'),
               format('Node: host=127.0.0.1 port=%s .*s3_orders_%s', :w1_port, :a_shard),
               'on the shard of the current client');
SELECT is(citus_test.task_count($$SELECT * FROM s3_orders WHERE note = 'a' ORDER BY id LIMIT 5$$), 1,
          'SELECT with other conditions: one task');
SELECT is(citus_test.task_count('SELECT count(*) FROM s3_orders'), 1, 'an aggregate: one task');
SELECT is(citus_test.task_count('UPDATE s3_orders SET total = total + 1 WHERE id = 3'), 1,
          'UPDATE: one task');
SELECT is(citus_test.task_count('UPDATE s3_orders SET total = total + 1'), 1,
          'UPDATE of every row: one task');
SELECT is(citus_test.task_count('DELETE FROM s3_orders WHERE id = 99'), 1, 'DELETE: one task');
SELECT is(citus_test.task_count($$INSERT INTO s3_orders (id, total) VALUES (1000, 1)$$), 1,
          'INSERT without client_id: one task');
SELECT is(citus_test.task_count(
            'SELECT o.id, sum(l.qty) FROM s3_orders o JOIN s3_lines l ON l.order_id = o.id GROUP BY o.id'), 1,
          'a join of co-located tables without client_id: one task');
SELECT is(citus_test.task_count(
            'SELECT * FROM s3_orders o LEFT JOIN s3_lines l ON l.order_id = o.id AND l.client_id = o.client_id'), 1,
          'an outer join: one task');
SELECT is(citus_test.task_count(
            'SELECT * FROM s3_orders WHERE id IN (SELECT order_id FROM s3_lines WHERE qty > 0)'), 1,
          'a sub-query: one task');
SELECT is(citus_test.task_count(
            'WITH big AS (SELECT id FROM s3_orders WHERE total > 50) SELECT count(*) FROM big'), 1,
          'a CTE: one task');
SELECT is(citus_test.task_count('SELECT count(*) FROM s3_orders WHERE client_id IS NOT NULL'), 1,
          'a WHERE clause that mentions client_id otherwise: one task');

-- The workload, with multi-shard queries made errors.
SET LOCAL citus.multi_task_query_log_level = 'error';
SELECT lives_ok($$SELECT * FROM s3_orders WHERE id = 7$$, 'lookup');
SELECT lives_ok($$SELECT id, total FROM s3_orders ORDER BY total DESC LIMIT 10$$, 'list');
SELECT lives_ok($$UPDATE s3_orders SET note = 'updated' WHERE id = 7$$, 'update');
SELECT lives_ok($$INSERT INTO s3_orders (id, total, note) VALUES (501, 5, 'new')$$, 'insert');
SELECT lives_ok($$INSERT INTO s3_orders (id, total) VALUES (502, 1), (503, 2), (504, 3)$$,
                'multi-row insert');
SELECT lives_ok($$INSERT INTO s3_orders (id, total) VALUES (501, 9)
                  ON CONFLICT (client_id, id) DO UPDATE SET total = excluded.total$$, 'upsert');
SELECT lives_ok($$DELETE FROM s3_orders WHERE id = 504$$, 'delete');
SELECT lives_ok($$SELECT o.id, count(l.id) FROM s3_orders o JOIN s3_lines l ON l.order_id = o.id GROUP BY o.id$$,
                'join');
SELECT is(citus_test.q('SELECT count(*) FROM s3_orders'), '23', 'A sees its own rows');
RESET citus.multi_task_query_log_level;
COMMIT;

RESET ROLE;
SELECT results_eq($$SELECT id, client_id FROM s3_orders WHERE id BETWEEN 501 AND 504 ORDER BY id$$,
                  format($$VALUES (501::bigint, %1$L::uuid), (502, %1$L), (503, %1$L)$$, :'a'),
                  'inserted rows that left client_id out belong to A');
SET ROLE app;

-- Without dbcore's routing, every shard (the worker's policy still holds).
BEGIN;
SELECT dbcore.set_client_token(:'ta');
SET LOCAL dbcore.citus_routing = off;
SELECT cmp_ok(citus_test.task_count('SELECT * FROM s3_orders'), '>', 1,
              'with dbcore.citus_routing off: every shard');
SELECT is(citus_test.q('SELECT count(*) FROM s3_orders'), '23', 'with the same rows');
COMMIT;

-- Prepared statements, generic plans included, across scopes.
PREPARE s3_count AS SELECT count(*) FROM s3_orders;
PREPARE s3_get(bigint) AS SELECT note FROM s3_orders WHERE id = $1;
PREPARE s3_add(bigint) AS INSERT INTO s3_orders (id, total, note) VALUES ($1, 0, 'prepared');
BEGIN;
SELECT dbcore.set_client_token(:'ta');
EXECUTE s3_count; EXECUTE s3_count; EXECUTE s3_count; EXECUTE s3_count; EXECUTE s3_count;
EXECUTE s3_get(1); EXECUTE s3_get(1); EXECUTE s3_get(1); EXECUTE s3_get(1); EXECUTE s3_get(1);
EXECUTE s3_count \gset ca_
EXECUTE s3_get(1) \gset ga_
EXECUTE s3_add(700); EXECUTE s3_add(701); EXECUTE s3_add(702); EXECUTE s3_add(703); EXECUTE s3_add(704);
EXECUTE s3_add(705);
COMMIT;
SELECT is(:ca_count, 23, 'a prepared count in A''s scope');
SELECT is(:'ga_note'::text, 'a', 'a prepared lookup in A''s scope');
BEGIN;
SELECT dbcore.set_client_token(:'tb');
EXECUTE s3_count \gset cb_
EXECUTE s3_get(1) \gset gb_
EXECUTE s3_add(706);
COMMIT;
SELECT is(:cb_count, 5, 'the same statement in B''s scope counts B''s rows');
SELECT is(:'gb_note'::text, 'b', 'and looks up B''s row');
BEGIN;
SET LOCAL plan_cache_mode = force_generic_plan;
SELECT dbcore.set_client_token(:'ta');
EXECUTE s3_count \gset cg_
COMMIT;
SELECT is(:cg_count, 29, 'a forced generic plan back in A''s scope: A''s rows (with the 6 inserted)');
RESET ROLE;
SELECT results_eq($$SELECT client_id, count(*) FROM s3_orders WHERE id >= 700 GROUP BY 1 ORDER BY 2$$,
                  format($$VALUES (%L::uuid, 1::bigint), (%L::uuid, 6::bigint)$$, :'b', :'a'),
                  'the prepared insert put each row in the scope it ran in');
SET ROLE app;
BEGIN;
SELECT throws_ok('EXECUTE s3_count', '42501', 'no client scope is set',
                 'the prepared statement without a scope is refused');
COMMIT;
DEALLOCATE ALL;

-- One generic plan serves every client: dbcore routes a query on one table
-- by a parameter of its own, numbered after the caller's (here after $2,
-- declared and unused), that Citus prunes by at each execution.
PREPARE s3_since(bigint, bigint) AS SELECT count(*) FROM s3_orders WHERE id >= $1;
BEGIN;
SET LOCAL plan_cache_mode = force_generic_plan;
SET LOCAL citus.multi_task_query_log_level = 'error';
SELECT dbcore.set_client_token(:'ta');
EXECUTE s3_since(700, 0) \gset sa_
COMMIT;
BEGIN;
SET LOCAL plan_cache_mode = force_generic_plan;
SET LOCAL citus.multi_task_query_log_level = 'error';
SELECT dbcore.set_client_token(:'tb');
EXECUTE s3_since(700, 0) \gset sb_
COMMIT;
SELECT is(:sa_count, 6, 'a generic plan with a declared, unused parameter: A''s rows, one task');
SELECT is(:sb_count, 1, 'the same plan in B''s scope: B''s rows, one task');
SELECT is((SELECT generic_plans FROM pg_prepared_statements WHERE name = 's3_since'), 2::bigint,
          'both executions used the generic plan');
-- A parameter that the statement declares and does not use, of the
-- client's type and holding B: never taken for dbcore's, planned with the
-- values (custom plan) or without (generic plan).
PREPARE s3_shadow(bigint, uuid) AS SELECT count(*) FROM s3_orders WHERE id >= $1;
BEGIN;
SET LOCAL citus.multi_task_query_log_level = 'error';
SELECT dbcore.set_client_token(:'ta');
SET LOCAL plan_cache_mode = force_custom_plan;
EXECUTE s3_shadow(700, :'b') \gset xc_
SET LOCAL plan_cache_mode = force_generic_plan;
EXECUTE s3_shadow(700, :'b') \gset xg_
COMMIT;
SELECT is(ARRAY[:xc_count, :xg_count], ARRAY[6, 6],
          'an unused parameter of the client''s type holding B: A''s rows, custom and generic plans');
DEALLOCATE ALL;
RESET ROLE;

-- PL/pgSQL and SQL functions keep their plans across calls: each call reads,
-- writes and is refused in the scope it runs in.
CREATE FUNCTION public.s3_count_fn() RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE n bigint;
BEGIN
    SELECT count(*) INTO n FROM public.s3_orders;
    RETURN n;
END $fn$;
CREATE FUNCTION public.s3_note_fn(k bigint) RETURNS text LANGUAGE plpgsql AS $fn$
DECLARE r text; spare int := 0;
BEGIN
    SELECT note INTO r FROM public.s3_orders WHERE id = k;
    RETURN r;
END $fn$;
CREATE FUNCTION public.s3_add_fn(k bigint) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO public.s3_orders (id, total, note) VALUES (k, 0, 'plpgsql');
END $fn$;
CREATE FUNCTION public.s3_count_sql() RETURNS bigint LANGUAGE sql
    AS $fn$ SELECT count(*) FROM public.s3_orders $fn$;
SET ROLE app;
BEGIN;
SET LOCAL citus.multi_task_query_log_level = 'error';
SELECT dbcore.set_client_token(:'ta');
SELECT s3_count_fn(), s3_count_fn(), s3_count_fn(), s3_count_fn(), s3_count_fn(), s3_count_fn() AS n \gset fa_
SELECT s3_note_fn(1) AS note, s3_count_sql() AS sql_count \gset fa_
SELECT s3_add_fn(800);
COMMIT;
BEGIN;
SET LOCAL citus.multi_task_query_log_level = 'error';
SELECT dbcore.set_client_token(:'tb');
SELECT s3_count_fn() AS n \gset fb_
SELECT s3_note_fn(1) AS note, s3_count_sql() AS sql_count \gset fb_
SELECT s3_add_fn(801);
COMMIT;
SELECT is(:fa_n, 29, 'a PL/pgSQL query in A''s scope: A''s rows');
SELECT is(:fb_n, 6, 'the same cached query in B''s scope: B''s rows');
SELECT is(ARRAY[:'fa_note', :'fb_note'], ARRAY['a', 'b'], 'a PL/pgSQL lookup by a variable, in each scope');
SELECT is(ARRAY[:fa_sql_count, :fb_sql_count], ARRAY[29, 6], 'a SQL function, in each scope');
BEGIN;
SELECT throws_ok('SELECT s3_count_fn()', '42501', 'no client scope is set',
                 'the PL/pgSQL query without a scope is refused');
COMMIT;
BEGIN;
SELECT throws_ok('SELECT s3_add_fn(802)', '42501', NULL,
                 'and so is its insert');
COMMIT;
RESET ROLE;
SELECT results_eq($$SELECT id, client_id FROM s3_orders WHERE id >= 800 ORDER BY id$$,
                  format($$VALUES (800::bigint, %L::uuid), (801, %L)$$, :'a', :'b'),
                  'each PL/pgSQL insert went to the client of its scope');

-- The plan is made once: in one session, a prepared statement run in A's
-- scope and then in B's is planned by Citus only the first time (its DEBUG
-- messages), with pruning left to execution.  (The tokens hold no quote.)
SELECT format($c$%s -X -q -h 127.0.0.1 -p %s -U app -d %s -c 'PREPARE p AS SELECT count(*) FROM s3_orders' -c 'BEGIN' -c "SELECT dbcore.set_client_token('%s')" -c 'SET LOCAL client_min_messages = debug2' -c 'EXECUTE p' -c 'COMMIT' -c 'BEGIN' -c "SELECT dbcore.set_client_token('%s')" -c 'SET LOCAL client_min_messages = debug2' -c 'EXECUTE p' -c 'COMMIT' 2>&1 | grep 'fast-path router query'; true$c$,
              :'psql_bin', :coord_port, current_database(), :'ta', :'tb') AS planning_cmd \gset
CREATE TEMP TABLE s3_planning (line text);
COPY s3_planning FROM PROGRAM :'planning_cmd';
SELECT is((SELECT array_agg(line) FROM s3_planning),
          ARRAY['DEBUG:  Deferred pruning for a fast-path router query'],
          'a prepared statement is planned once for both clients, pruned at execution');

-- On the shard, Citus's statement names the client next to the shard's
-- policy; dbcore leaves the comparison to the policy (no one-time filter
-- of the two above the scan) when it names the current client, and keeps
-- it when it names another.  The policy's comparison there takes dbcore's
-- parameter in place of dbcore.current_client_id() (the same value, read
-- when the statement starts): the planner no longer evaluates the function
-- for its estimates, nor the executor looks it up, on every statement.
SET ROLE app;
BEGIN;
SELECT dbcore.set_client_token(:'ta');
SELECT doesnt_match(citus_test.plan_of('SELECT note FROM s3_orders WHERE id = 3'), 'One-Time Filter',
                    'the shard''s plan has no one-time filter');
SELECT matches(citus_test.plan_of('SELECT note FROM s3_orders WHERE id = 3'),
               'Index Cond: \(\(client_id = \$\d+\) AND \(id = 3\)\)',
               'the shard''s scan compares with the scope, by the policy, with dbcore''s parameter');
SELECT matches(citus_test.plan_of('UPDATE s3_orders SET note = note WHERE id = 3'),
               'Index Cond: \(\(client_id = \$\d+\) AND \(id = 3\)\)',
               'so does the shard''s UPDATE');
SELECT is(citus_test.q(format($$SELECT note FROM s3_orders WHERE id = 3 AND client_id = %L$$, :'a')), 'a',
          'a statement that names the current client finds its row');
SELECT is(citus_test.q(format($$SELECT count(*) FROM s3_orders WHERE id = 3 AND client_id = %L$$, :'b')), '0',
          'one that names another client finds nothing');
SELECT is(citus_test.q(format($$WITH u AS (UPDATE s3_orders SET note = note WHERE id = 3 AND client_id = %L RETURNING 1)
                              SELECT count(*) FROM u$$, :'a')), '1',
          'an UPDATE that names the current client updates its row');
COMMIT;
RESET ROLE;

-- The shard's planner still estimates the policy from the current client's
-- statistics (it is given the parameter's value to estimate with): on a
-- shard holding 190 rows of A and 10 of B, A's scan is estimated at 190
-- rows and B's at 10 (1/2 of the rows each without the value).
SET ROLE tenant_owner;
CREATE TABLE s3_skew (id bigint NOT NULL, client_id uuid NOT NULL, PRIMARY KEY (client_id, id));
SELECT dbcore.enable_tenant_scoping('s3_skew');
GRANT SELECT ON s3_skew TO app;
RESET ROLE;
SET citus.enable_unsafe_triggers = on;
SELECT create_distributed_table('s3_skew', 'client_id', shard_count => 1, colocate_with => 'none');
RESET citus.enable_unsafe_triggers;
INSERT INTO s3_skew SELECT g, :'a' FROM generate_series(1, 190) g;
INSERT INTO s3_skew SELECT g, :'b' FROM generate_series(1, 10) g;
ANALYZE s3_skew;
SET client_min_messages = error;  -- (Citus: a temporary function is created only locally)
CREATE FUNCTION pg_temp.shard_rows(query text) RETURNS int LANGUAGE plpgsql AS $fn$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN ' || query LOOP
        IF line ~ 'Scan on s3_skew_' THEN
            RETURN (regexp_match(line, 'rows=(\d+)'))[1]::int;
        END IF;
    END LOOP;
    RETURN NULL;
END $fn$;
SET client_min_messages = warning;
SET ROLE app;
BEGIN;
SELECT dbcore.set_client_token(:'ta');
SELECT is(pg_temp.shard_rows('SELECT * FROM s3_skew'), 190, 'the shard estimates A''s scan from A''s statistics');
COMMIT;
BEGIN;
SELECT dbcore.set_client_token(:'tb');
SELECT is(pg_temp.shard_rows('SELECT * FROM s3_skew'), 10, 'and B''s from B''s');
SELECT is(citus_test.q('SELECT count(*) FROM s3_skew'), '10', 'B counts its own rows there');
COMMIT;
-- A parallel plan on the shard: its workers get the parameter's value.
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL debug_parallel_query = on;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SELECT dbcore.set_client_token(:'tb');
SELECT matches(citus_test.plan_of('SELECT count(*) FROM s3_skew WHERE id > 0'),
               'Gather(.|\n)*client_id = \$\d+', 'a parallel plan on the shard, with the parameter');
SELECT is(citus_test.q('SELECT count(*) FROM s3_skew WHERE id > 0'), '10',
          'B''s rows only, counted by parallel workers on the shard');
COMMIT;
RESET ROLE;
DROP TABLE s3_skew;

-- A modification routed by dbcore's parameter: the policy's comparisons on
-- the coordinator (security quals, WITH CHECK options) take the parameter
-- too, so the coordinator never calls dbcore.current_client_id() for it
-- (Citus evaluates every function call of a modification there, each in an
-- executor state of its own; C functions are counted with track_functions =
-- 'all').  One generic plan still serves each client right, the shards'
-- policies still check, and without a scope it is refused.
SELECT (SELECT total FROM s3_orders WHERE client_id = :'a' AND id = 2) AS a2,
       (SELECT total FROM s3_orders WHERE client_id = :'a' AND id = 20) AS a20,
       (SELECT total FROM s3_orders WHERE client_id = :'b' AND id = 2) AS b2 \gset
SET track_functions = 'all';
SET ROLE app;
PREPARE s3_bump(bigint) AS UPDATE s3_orders SET total = total + 1 WHERE id = $1 RETURNING note;
PREPARE s3_put(bigint) AS INSERT INTO s3_orders (id, total, note) VALUES ($1, 0, 'put') RETURNING client_id;
PREPARE s3_drop(bigint) AS DELETE FROM s3_orders WHERE id = $1 RETURNING note;
BEGIN;
SET LOCAL plan_cache_mode = force_generic_plan;
SELECT dbcore.set_client_token(:'ta');
EXECUTE s3_bump(2) \gset ua_
EXECUTE s3_put(900) \gset pa_
EXECUTE s3_drop(900) \gset da_
SELECT is((SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions
            WHERE schemaname = 'dbcore' AND funcname = 'current_client_id'), 0::numeric,
          'a routed UPDATE, INSERT and DELETE: no call of dbcore.current_client_id() on the coordinator');
SELECT is(:'ua_note'::text, 'a', 'the generic UPDATE in A''s scope updates A''s row');
SELECT is(:'pa_client_id'::uuid, :'a'::uuid, 'the generic INSERT in A''s scope inserts for A');
SELECT is(:'da_note'::text, 'put', 'the generic DELETE in A''s scope deletes A''s row');
COMMIT;
BEGIN;
SET LOCAL plan_cache_mode = force_generic_plan;
SELECT dbcore.set_client_token(:'tb');
EXECUTE s3_bump(2) \gset ub_
EXECUTE s3_put(901) \gset pb_
SELECT is(:'ub_note'::text, 'b', 'the same plan in B''s scope updates B''s row');
SELECT is(:'pb_client_id'::uuid, :'b'::uuid, 'and inserts for B');
SELECT is_empty('EXECUTE s3_drop(20)', 'and cannot delete A''s row 20');
COMMIT;
BEGIN;
SET LOCAL plan_cache_mode = force_generic_plan;
SELECT throws_ok('EXECUTE s3_bump(2)', '42501', NULL, 'the routed UPDATE without a scope is refused');
COMMIT;
BEGIN;
SET LOCAL plan_cache_mode = force_generic_plan;
SELECT throws_ok('EXECUTE s3_put(902)', '42501', NULL, 'the routed INSERT without a scope is refused');
COMMIT;
DEALLOCATE ALL;
RESET ROLE;
RESET track_functions;
SELECT results_eq(format($$SELECT client_id, id, total FROM s3_orders WHERE id IN (2, 20, 900, 901) ORDER BY client_id = %L DESC, 2$$, :'a'),
                  format($$VALUES (%L::uuid, 2::bigint, %s + 1), (%L::uuid, 20::bigint, %s),
                                  (%L::uuid, 2::bigint, %s + 1), (%L::uuid, 901::bigint, 0::numeric)$$,
                         :'a', :a2, :'a', :a20, :'b', :b2, :'b'),
                  'each client''s rows changed in its own scope only');
DELETE FROM s3_orders WHERE id = 901;

-- A plan with dbcore's parameter in place of the client function checks
-- the function at each start as a call of it would be: without EXECUTE on
-- dbcore.current_client_id(), a routed statement is refused (revoked in a
-- transaction that is rolled back).
SET ROLE app;
PREPARE s3_bump(bigint) AS UPDATE s3_orders SET total = total + 1 WHERE id = $1;
PREPARE s3_get(bigint) AS SELECT note FROM s3_orders WHERE id = $1;
PREPARE s3_put(bigint) AS INSERT INTO s3_orders (id, total, note) VALUES ($1, 0, 'put');
RESET ROLE;
BEGIN;
SET LOCAL plan_cache_mode = force_generic_plan;
REVOKE EXECUTE ON FUNCTION dbcore.current_client_id() FROM PUBLIC;
SET LOCAL ROLE app;
SELECT dbcore.set_client_token(:'ta');
SELECT throws_ok('EXECUTE s3_bump(2)', '42501', 'permission denied for function current_client_id',
                 'a routed UPDATE without EXECUTE on the client function is refused');
SELECT throws_ok('EXECUTE s3_get(2)', '42501', 'permission denied for function current_client_id',
                 'a routed SELECT too');
SELECT throws_ok('EXECUTE s3_put(903)', '42501', 'permission denied for function current_client_id',
                 'and a routed INSERT that leaves the client column out');
ROLLBACK;
SET ROLE app;
BEGIN;
SET LOCAL plan_cache_mode = force_generic_plan;
SELECT dbcore.set_client_token(:'ta');
SELECT is(citus_test.q('EXECUTE s3_get(2)'), 'a', 'with EXECUTE back, the same plans run');
COMMIT;
DEALLOCATE ALL;
RESET ROLE;

-- From a worker: Citus runs statements on a distributed table on any node.
-- On A's worker, A's shard is local: Citus runs the shard statement there
-- itself (local execution, a cached local plan after the first generic
-- run), B's goes to the other worker.  The coordinator's copy of the
-- policy's comparison is dropped from a statement routed by dbcore's
-- parameter (it filters nothing there); each way, the shard's own policy
-- applies.  Seven generic runs each, in A's scope and then in B's (each
-- call of dblink() differs by a comment, so that each runs).
SELECT (SELECT total FROM s3_orders WHERE client_id = :'a' AND id = 3) AS a3,
       (SELECT total FROM s3_orders WHERE client_id = :'b' AND id = 3) AS b3 \gset
SELECT dblink_connect('s3_mx', format('host=127.0.0.1 port=%s dbname=%s user=app',
                                      :w1_port, current_database()));
SELECT dblink_exec('s3_mx', 'SET plan_cache_mode = force_generic_plan');
SELECT dblink_exec('s3_mx', 'PREPARE s3_mx_bump(bigint) AS UPDATE s3_orders SET total = total + 1 WHERE id = $1 RETURNING note');
SELECT dblink_exec('s3_mx', 'PREPARE s3_mx_get(bigint) AS SELECT note FROM s3_orders WHERE id = $1');
SELECT dblink_exec('s3_mx', $$PREPARE s3_mx_put(bigint) AS INSERT INTO s3_orders (id, total, note) VALUES ($1, 0, 'mx') RETURNING client_id$$);
SELECT dblink_exec('s3_mx', 'BEGIN');
SELECT dblink_exec('s3_mx', format('SET LOCAL dbcore.client_id = %L', :'ta'));
SELECT is((SELECT string_agg(t.note, ',') FROM generate_series(1, 7) i,
                  LATERAL dblink('s3_mx', format('EXECUTE s3_mx_bump(3) /* run %s */', i)) AS t(note text)),
          'a,a,a,a,a,a,a', 'on A''s worker, in A''s scope, the generic UPDATE of the distributed table updates A''s row, each time');
SELECT is((SELECT string_agg(t.note, ',') FROM generate_series(1, 7) i,
                  LATERAL dblink('s3_mx', format('EXECUTE s3_mx_get(20) /* run %s */', i)) AS t(note text)),
          'a,a,a,a,a,a,a', 'and the generic SELECT reads A''s row');
SELECT is((SELECT string_agg(t.client_id, ',') FROM generate_series(910, 916) i,
                  LATERAL dblink('s3_mx', format('EXECUTE s3_mx_put(%s)', i)) AS t(client_id text)),
          rtrim(repeat(:'a' || ',', 7), ','), 'and the generic INSERT inserts for A');
SELECT dblink_exec('s3_mx', 'COMMIT');
SELECT dblink_exec('s3_mx', 'BEGIN');
SELECT dblink_exec('s3_mx', format('SET LOCAL dbcore.client_id = %L', :'tb'));
SELECT is((SELECT string_agg(t.note, ',') FROM generate_series(1, 7) i,
                  LATERAL dblink('s3_mx', format('EXECUTE s3_mx_bump(3) /* run %s */', i)) AS t(note text)),
          'b,b,b,b,b,b,b', 'the same plans in B''s scope (B''s shard on the other worker): B''s row');
SELECT is((SELECT count(*) FROM generate_series(1, 7) i,
                  LATERAL dblink('s3_mx', format('EXECUTE s3_mx_get(20) /* run %s */', i)) AS t(note text)),
          0::bigint, 'and never A''s row 20');
SELECT dblink_exec('s3_mx', 'COMMIT');
SELECT dblink_exec('s3_mx', 'BEGIN');
SELECT throws_ok($$SELECT * FROM dblink('s3_mx', 'EXECUTE s3_mx_bump(3)') AS t(note text)$$,
                 '42501', NULL, 'without a scope, the generic UPDATE is refused on the worker');
SELECT dblink_exec('s3_mx', 'ROLLBACK');
SELECT dblink_disconnect('s3_mx');
SELECT results_eq(format($$SELECT client_id, total FROM s3_orders WHERE id = 3 ORDER BY client_id = %L DESC$$, :'a'),
                  format($$VALUES (%L::uuid, %s + 7::numeric), (%L::uuid, %s + 7::numeric)$$, :'a', :a3, :'b', :b3),
                  'each client''s row changed seven times, in its own scope only');
SELECT is(citus_test.q(format('SELECT count(*) FROM s3_orders WHERE id BETWEEN 910 AND 916 AND client_id = %L', :'a')),
          '7', 'the seven rows inserted from the worker are A''s');
DELETE FROM s3_orders WHERE id BETWEEN 910 AND 916;

-- A client's scope beginning invalidates the plans routed by another
-- client's id, and no other cached plan: a prepared statement on a local
-- table that calls a function (here one that counts its calls, once when
-- planned and once per row) is not planned again.
CREATE TABLE public.s3_local (x int);
INSERT INTO public.s3_local VALUES (1);
CREATE FUNCTION public.s3_counted() RETURNS int STABLE LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM set_config('s3.calls', (coalesce(nullif(current_setting('s3.calls', true), ''), '0')::int + 1)::text, false);
    RETURN 1;
END $fn$;
GRANT SELECT ON public.s3_local TO app;
SET ROLE app;
SET plan_cache_mode = force_generic_plan;
PREPARE s3_local_count AS SELECT count(*) FROM s3_local WHERE x = s3_counted();
EXECUTE s3_local_count;
BEGIN;
SELECT dbcore.set_client_token(:'ta');
SELECT count(*) FROM s3_orders o JOIN s3_lines l ON l.order_id = o.id;
COMMIT;
BEGIN;
SELECT dbcore.set_client_token(:'tb');
SELECT count(*) FROM s3_orders o JOIN s3_lines l ON l.order_id = o.id;
COMMIT;
SELECT set_config('s3.calls', '0', false);
EXECUTE s3_local_count;
SELECT is(current_setting('s3.calls'), '1',
          'another client''s scope did not make an unrelated cached plan planned again');
RESET plan_cache_mode;
DEALLOCATE ALL;
RESET ROLE;

SELECT * FROM finish();
