-- pgTAP: the plan form of the client scope (src/scope_plan.c).
--
-- With dbcore.optimize_scope_plans on (the default), the init-plans that
-- compute the current client are merged per plan node and run by a
-- DbcoreClientScope node instead of a Result node.  That must change
-- nothing but the plan: every query below runs under both settings, as an
-- application role that owns scoped tables, and must return the same rows,
-- leave the same data behind or fail with the same error.  Each comparison
-- also checks the row count, so that two empty results cannot pass for
-- equal ones.  Runs in one transaction and rolls back.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS dbcore;
LOAD 'dbcore';

SELECT plan(95);

CREATE ROLE regress_sp_app NOSUPERUSER NOBYPASSRLS;
GRANT USAGE ON SCHEMA dbcore TO regress_sp_app;
CREATE SCHEMA sp AUTHORIZATION regress_sp_app;
GRANT USAGE ON SCHEMA sp TO PUBLIC;

SET ROLE regress_sp_app;
CREATE TABLE sp.orders (
    id        integer NOT NULL,
    client_id uuid NOT NULL,
    amount    integer NOT NULL,
    note      text,
    PRIMARY KEY (client_id, id)
);
CREATE TABLE sp.parted (
    id        integer NOT NULL,
    client_id uuid NOT NULL,
    kind      text NOT NULL
) PARTITION BY LIST (kind);
CREATE TABLE sp.parted_a PARTITION OF sp.parted FOR VALUES IN ('a');
CREATE TABLE sp.parted_b PARTITION OF sp.parted FOR VALUES IN ('b');
CREATE INDEX ON sp.parted (client_id, id);
CREATE TABLE sp.by_text (id integer, client_id text NOT NULL);
CREATE TABLE sp.by_bigint (id integer, client_id bigint NOT NULL);
CREATE TABLE sp.by_int (id integer, client_id integer NOT NULL);
SELECT dbcore.enable_tenant_scoping(t)
  FROM unnest(ARRAY['sp.orders', 'sp.parted', 'sp.by_text', 'sp.by_bigint', 'sp.by_int']::regclass[]) AS t;

-- Two clients: A (7 orders, 4 parted rows) and B (5 orders, 3 parted rows).
SELECT dbcore.set_client('aaaaaaaa-0000-4000-8000-000000000001');
INSERT INTO sp.orders (id, amount, note) SELECT i, i * 10, 'a' || i FROM generate_series(1, 7) AS i;
INSERT INTO sp.parted (id, kind) VALUES (1, 'a'), (2, 'b'), (3, 'a'), (4, 'b');
INSERT INTO sp.by_text (id) VALUES (1), (2);
SELECT dbcore.set_client('bbbbbbbb-0000-4000-8000-000000000002');
INSERT INTO sp.orders (id, amount, note) SELECT i, i * 100, 'b' || i FROM generate_series(1, 5) AS i;
INSERT INTO sp.parted (id, kind) VALUES (1, 'a'), (2, 'a'), (3, 'b');
INSERT INTO sp.by_text (id) VALUES (3);
SELECT dbcore.set_client(42::bigint);
INSERT INTO sp.by_bigint (id) VALUES (1), (2), (3);
INSERT INTO sp.by_int (id) VALUES (1), (2);
SELECT dbcore.set_client(43::bigint);
INSERT INTO sp.by_bigint (id) VALUES (4);
INSERT INTO sp.by_int (id) VALUES (3);

-- A view that runs as its caller, and an inlinable SQL function.
CREATE VIEW sp.orders_v WITH (security_invoker = true) AS SELECT id, amount FROM sp.orders;
CREATE FUNCTION sp.big_orders(min integer) RETURNS SETOF sp.orders
    LANGUAGE sql STABLE AS 'SELECT * FROM sp.orders WHERE amount >= min';
-- Not dbcore's function, only its name.
CREATE FUNCTION sp.current_client_id() RETURNS uuid
    LANGUAGE sql STABLE AS $$SELECT 'aaaaaaaa-0000-4000-8000-000000000001'::uuid$$;

-- The rows q returns (sorted, as text) with the plan form chosen, and every
-- change it made undone: the statement runs in a subtransaction that is
-- rolled back.  q may be a DML statement with RETURNING.
CREATE FUNCTION sp.rows_of(q text, optimize boolean) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
    r text[];
BEGIN
    PERFORM set_config('dbcore.optimize_scope_plans', optimize::text, true);
    BEGIN
        EXECUTE format('WITH x AS (%s) SELECT coalesce(array_agg(x::text ORDER BY x::text), ''{}'') FROM x', q)
           INTO r;
        RAISE EXCEPTION USING ERRCODE = 'DBC01', MESSAGE = 'undo';
    EXCEPTION WHEN SQLSTATE 'DBC01' THEN
        NULL;
    END;
    RETURN r;
END
$$;

-- What q (any statement) leaves behind in sp.orders, read in both clients'
-- scopes, then undone; or its error.
CREATE FUNCTION sp.after(q text, optimize boolean) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
    r text[];
    scope text := current_setting('dbcore.client_id');
BEGIN
    PERFORM set_config('dbcore.optimize_scope_plans', optimize::text, true);
    BEGIN
        EXECUTE q;
        PERFORM dbcore.set_client('aaaaaaaa-0000-4000-8000-000000000001'::uuid);
        r := ARRAY(SELECT o::text FROM sp.orders o ORDER BY id);
        PERFORM dbcore.set_client('bbbbbbbb-0000-4000-8000-000000000002'::uuid);
        r := r || ARRAY(SELECT o::text FROM sp.orders o ORDER BY id);
        RAISE EXCEPTION USING ERRCODE = 'DBC01', MESSAGE = 'undo';
    EXCEPTION
        WHEN SQLSTATE 'DBC01' THEN
            NULL;
        WHEN OTHERS THEN
            r := ARRAY[SQLSTATE || ': ' || SQLERRM];
    END;
    PERFORM set_config('dbcore.client_id', scope, true);
    RETURN r;
END
$$;

-- The error q raises with the plan form chosen ('no error' if none).
CREATE FUNCTION sp.error_of(q text, optimize boolean) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('dbcore.optimize_scope_plans', optimize::text, true);
    BEGIN
        EXECUTE format('WITH x AS (%s) SELECT count(*) FROM x', q);
        RAISE EXCEPTION USING ERRCODE = 'DBC01', MESSAGE = 'undo';
    EXCEPTION
        WHEN SQLSTATE 'DBC01' THEN
            RETURN 'no error';
        WHEN OTHERS THEN
            RETURN SQLSTATE || ': ' || SQLERRM;
    END;
END
$$;

-- EXPLAIN (COSTS OFF) of q with the plan form chosen, as one string.
-- The EXPLAIN label of init-plan n setting params: "InitPlan 1 (returns
-- $0,$1)" before PostgreSQL 17, "InitPlan 1" since (its parameters are then
-- shown where they are used, as "(InitPlan 1).col2").
CREATE FUNCTION sp.initplan(n int, params text) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN current_setting('server_version_num')::int < 170000
                THEN format('InitPlan %s \(returns %s\)', n, params)
                ELSE format('InitPlan %s', n) END
$$;
CREATE FUNCTION sp.plan_of(q text, optimize boolean) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    line text;
    r text := '';
BEGIN
    PERFORM set_config('dbcore.optimize_scope_plans', optimize::text, true);
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
        r := r || line || E'\n';
    END LOOP;
    RETURN r;
END
$$;

------------------------------------------------------------------------------
-- Same rows, both ways (client A's scope)
------------------------------------------------------------------------------
SELECT dbcore.set_client('aaaaaaaa-0000-4000-8000-000000000001');

CREATE TEMP TABLE cases (n serial, label text, q text, nrows integer);
INSERT INTO cases (label, q, nrows) VALUES
    ('plain read', 'SELECT id, amount FROM sp.orders', 7),
    ('aggregate', 'SELECT count(*), sum(amount) FROM sp.orders WHERE amount > 0', 1),
    ('lookup by key', 'SELECT note FROM sp.orders WHERE id = 3', 1),
    ('correlated subquery', 'SELECT o.id, (SELECT count(*) FROM sp.orders o2 WHERE o2.amount <= o.amount) FROM sp.orders o', 7),
    ('subquery with its own init-plan', 'SELECT * FROM (SELECT id FROM sp.orders ORDER BY id DESC LIMIT 3) s', 3),
    ('EXISTS', 'SELECT id FROM sp.orders o WHERE EXISTS (SELECT 1 FROM sp.parted p WHERE p.id = o.id)', 4),
    ('IN', 'SELECT id FROM sp.parted WHERE id IN (SELECT id FROM sp.orders WHERE amount < 30)', 2),
    ('UNION ALL', 'SELECT id FROM sp.orders UNION ALL SELECT id FROM sp.parted', 11),
    ('join', 'SELECT o.id, p.kind FROM sp.orders o JOIN sp.parted p USING (id)', 4),
    ('materialized CTE', 'WITH c AS MATERIALIZED (SELECT * FROM sp.orders) SELECT count(*) FROM c', 1),
    ('partitioned table', 'SELECT id, kind FROM sp.parted', 4),
    ('one partition', 'SELECT id FROM sp.parted_b', 2),
    ('security_invoker view', 'SELECT * FROM sp.orders_v WHERE amount > 20', 5),
    ('inlined SQL function', 'SELECT id FROM sp.big_orders(50)', 3),
    ('text client column', 'SELECT id FROM sp.by_text', 2),
    ('explicit (SELECT current_client_id())', 'SELECT (SELECT dbcore.current_client_id()), count(*) FROM sp.orders', 1),
    ('window function', 'SELECT id, sum(amount) OVER (ORDER BY id) FROM sp.orders', 7),
    ('UPDATE ... RETURNING', 'UPDATE sp.orders SET amount = amount + 1 WHERE id <= 3 RETURNING id, amount', 3),
    ('UPDATE without WHERE', 'UPDATE sp.orders SET note = note || ''!'' RETURNING id, note', 7),
    ('DELETE ... RETURNING', 'DELETE FROM sp.orders WHERE amount > 40 RETURNING id', 3),
    ('INSERT ... RETURNING', 'INSERT INTO sp.orders (id, amount) VALUES (8, 80), (9, 90) RETURNING *', 2),
    ('INSERT ... SELECT', 'INSERT INTO sp.orders (id, amount) SELECT id + 100, amount FROM sp.orders RETURNING id', 7),
    ('ON CONFLICT DO UPDATE', 'INSERT INTO sp.orders (id, amount) VALUES (1, 1), (50, 5) ON CONFLICT (client_id, id) DO UPDATE SET amount = excluded.amount RETURNING id, amount', 2),
    ('ON CONFLICT DO NOTHING', 'INSERT INTO sp.orders (id, amount) VALUES (2, 2), (51, 5) ON CONFLICT DO NOTHING RETURNING id', 1),
    ('UPDATE partitioned, moving partitions', 'UPDATE sp.parted SET kind = ''b'' WHERE kind = ''a'' RETURNING id, kind', 2),
    ('UPDATE ... FROM', 'UPDATE sp.orders o SET amount = 0 FROM sp.parted p WHERE p.id = o.id RETURNING o.id', 4);

SELECT is(sp.rows_of(q, true), sp.rows_of(q, false), 'same rows, both plan forms: ' || label)
  FROM cases ORDER BY n;
SELECT is(cardinality(sp.rows_of(q, true)), nrows, 'row count: ' || label)
  FROM cases ORDER BY n;

------------------------------------------------------------------------------
-- Same data left behind, and same errors
------------------------------------------------------------------------------
SELECT is(sp.after($$MERGE INTO sp.orders o USING (VALUES (1, 5), (60, 6)) v(id, amount) ON o.id = v.id
                     WHEN MATCHED THEN UPDATE SET amount = v.amount
                     WHEN NOT MATCHED THEN INSERT (id, amount) VALUES (v.id, v.amount)$$, true),
          sp.after($$MERGE INTO sp.orders o USING (VALUES (1, 5), (60, 6)) v(id, amount) ON o.id = v.id
                     WHEN MATCHED THEN UPDATE SET amount = v.amount
                     WHEN NOT MATCHED THEN INSERT (id, amount) VALUES (v.id, v.amount)$$, false),
          'MERGE leaves the same rows, both plan forms');
SELECT ok(cardinality(sp.after('MERGE INTO sp.orders o USING (VALUES (60, 6)) v(id, amount) ON o.id = v.id
                                WHEN NOT MATCHED THEN INSERT (id, amount) VALUES (v.id, v.amount)', true)) = 13,
          'MERGE added one row for client A (7 + 1 + 5 rows in all)');
SELECT is(sp.after('DELETE FROM sp.orders', true), sp.after('DELETE FROM sp.orders', false),
          'DELETE without WHERE leaves the same rows, both plan forms');
SELECT ok(sp.after('DELETE FROM sp.orders', true)::text !~ '"\(1,aaaaaaaa' AND
          sp.after('DELETE FROM sp.orders', true)::text ~ '"\(1,bbbbbbbb',
          'DELETE without WHERE removes only the scope''s rows');

CREATE TEMP TABLE error_cases (n serial, label text, q text, err text);
INSERT INTO error_cases (label, q, err) VALUES
    ('INSERT naming another client',
     $$INSERT INTO sp.orders (id, client_id, amount) VALUES (70, 'bbbbbbbb-0000-4000-8000-000000000002', 1) RETURNING id$$,
     '^42501: '),
    ('UPDATE moving a row to another client',
     $$UPDATE sp.orders SET client_id = 'bbbbbbbb-0000-4000-8000-000000000002' WHERE id = 1 RETURNING id$$,
     '^42501: '),
    ('ON CONFLICT DO UPDATE moving a row', 
     $$INSERT INTO sp.orders (id, amount) VALUES (1, 1) ON CONFLICT (client_id, id) DO UPDATE SET client_id = 'bbbbbbbb-0000-4000-8000-000000000002' RETURNING id$$,
     '^42501: '),
    ('bigint table under a uuid scope', 'SELECT id FROM sp.by_bigint', '^22P02: current client id "aaaaaaaa-0000-4000-8000-000000000001" is not a valid bigint');

SELECT is(sp.error_of(q, true), sp.error_of(q, false), 'same error, both plan forms: ' || label)
  FROM error_cases ORDER BY n;
SELECT matches(sp.error_of(q, true), err, 'refused: ' || label)
  FROM error_cases ORDER BY n;

------------------------------------------------------------------------------
-- Other scopes and no scope
------------------------------------------------------------------------------
SELECT dbcore.set_client(42::bigint);
SELECT is(sp.rows_of('SELECT id FROM sp.by_bigint', true), '{(1),(2),(3)}', 'bigint client column, optimized');
SELECT is(sp.rows_of('SELECT id FROM sp.by_bigint', false), '{(1),(2),(3)}', 'bigint client column, as planned by PostgreSQL');
SELECT is(sp.rows_of('SELECT id FROM sp.by_int', true), '{(1),(2)}', 'integer client column, optimized');
SELECT is(sp.rows_of('SELECT id FROM sp.by_int UNION ALL SELECT id FROM sp.by_bigint', true),
          sp.rows_of('SELECT id FROM sp.by_int UNION ALL SELECT id FROM sp.by_bigint', false),
          'integer and bigint scans in one statement, both plan forms');
SELECT is(sp.rows_of('SELECT id FROM sp.by_text', true), '{}', 'text client column: 42 holds no text-keyed rows');

SELECT dbcore.set_client('bbbbbbbb-0000-4000-8000-000000000002');
SELECT is(sp.rows_of('SELECT id FROM sp.by_text', true), '{(3)}', 'text client column, client B');
SELECT is(sp.rows_of('SELECT id FROM sp.orders', true), '{(1),(2),(3),(4),(5)}', 'client B sees its 5 orders, optimized');

RESET ROLE;
SET LOCAL dbcore.client_id = '';
SET ROLE regress_sp_app;
SELECT is(sp.error_of('SELECT id FROM sp.orders', true), sp.error_of('SELECT id FROM sp.orders', false),
          'no scope: same error, both plan forms');
SELECT is(sp.error_of('SELECT id FROM sp.orders', true), '42501: no client scope is set',
          'no scope: the query fails loudly');

------------------------------------------------------------------------------
-- A prepared generic plan reads the scope at every execution
------------------------------------------------------------------------------
SET LOCAL plan_cache_mode = force_generic_plan;
SET LOCAL dbcore.optimize_scope_plans = on;
PREPARE count_orders AS SELECT count(*)::integer FROM sp.orders;
PREPARE bump(integer) AS UPDATE sp.orders SET amount = amount + 1 WHERE id = $1 RETURNING client_id::text, amount;
SELECT dbcore.set_client('aaaaaaaa-0000-4000-8000-000000000001');
SELECT results_eq('count_orders', ARRAY[7], 'generic plan in scope A: 7 orders');
SELECT results_eq('EXECUTE bump(2)', $$VALUES ('aaaaaaaa-0000-4000-8000-000000000001', 21)$$, 'generic UPDATE plan in scope A');
SELECT dbcore.set_client('bbbbbbbb-0000-4000-8000-000000000002');
SELECT results_eq('count_orders', ARRAY[5], 'the same plan in scope B: 5 orders');
SELECT results_eq('EXECUTE bump(2)', $$VALUES ('bbbbbbbb-0000-4000-8000-000000000002', 201)$$, 'the same UPDATE plan in scope B');
SELECT ok(sp.plan_of('EXECUTE bump(2)', true) ~ 'DbcoreClientScope', 'the cached plan uses the DbcoreClientScope node');
DEALLOCATE count_orders;
DEALLOCATE bump;
RESET plan_cache_mode;

------------------------------------------------------------------------------
-- A scrollable cursor, read forwards and backwards
------------------------------------------------------------------------------
SELECT dbcore.set_client('aaaaaaaa-0000-4000-8000-000000000001');
DECLARE c SCROLL CURSOR FOR SELECT id FROM sp.orders ORDER BY id;
SELECT results_eq('FETCH 3 FROM c', ARRAY[1, 2, 3], 'cursor: first three orders');
SELECT results_eq('FETCH BACKWARD 2 FROM c', ARRAY[2, 1], 'cursor: backwards');
SELECT results_eq('FETCH ALL FROM c', ARRAY[2, 3, 4, 5, 6, 7], 'cursor: the rest');
CLOSE c;

------------------------------------------------------------------------------
-- Parallel query: workers see the same scope
------------------------------------------------------------------------------
RESET ROLE;
CREATE TABLE sp.big (id integer, client_id uuid NOT NULL, v integer) WITH (parallel_workers = 2);
ALTER TABLE sp.big OWNER TO regress_sp_app;
SET ROLE regress_sp_app;
SELECT dbcore.enable_tenant_scoping('sp.big');
SELECT dbcore.set_client('aaaaaaaa-0000-4000-8000-000000000001');
INSERT INTO sp.big (id, v) SELECT i, i % 7 FROM generate_series(1, 3000) AS i;
SELECT dbcore.set_client('bbbbbbbb-0000-4000-8000-000000000002');
INSERT INTO sp.big (id, v) SELECT i, i % 5 FROM generate_series(1, 2000) AS i;
RESET ROLE;
ANALYZE sp.big;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_leader_participation = off;
SET ROLE regress_sp_app;
SELECT ok(sp.plan_of('SELECT count(*) FROM sp.big', true) ~ 'Gather' AND
          sp.plan_of('SELECT count(*) FROM sp.big', true) ~ 'DbcoreClientScope',
          'a parallel plan with the DbcoreClientScope node');
SELECT is(sp.rows_of('SELECT count(*), sum(v) FROM sp.big', true), '{"(2000,4000)"}', 'parallel aggregate in scope B, optimized');
SELECT is(sp.rows_of('SELECT count(*), sum(v) FROM sp.big', false), '{"(2000,4000)"}', 'parallel aggregate in scope B, as planned by PostgreSQL');
SELECT is(sp.rows_of('SELECT v, count(*) FROM sp.big b WHERE id IN (SELECT id FROM sp.big WHERE v = 1 LIMIT 50) GROUP BY v', true),
          sp.rows_of('SELECT v, count(*) FROM sp.big b WHERE id IN (SELECT id FROM sp.big WHERE v = 1 LIMIT 50) GROUP BY v', false),
          'parallel plan with a subquery''s init-plan, both plan forms');
SELECT dbcore.set_client('aaaaaaaa-0000-4000-8000-000000000001');
SELECT is(sp.rows_of('SELECT count(*), sum(v) FROM sp.big', true), '{"(3000,8998)"}', 'parallel aggregate in scope A, optimized');
RESET ROLE;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;
SET ROLE regress_sp_app;

------------------------------------------------------------------------------
-- The plan itself
------------------------------------------------------------------------------
SELECT ok(sp.plan_of('UPDATE sp.orders SET amount = 1 WHERE id = 1', true) ~ (sp.initplan(1, '\$0,\$1') || '\n *->  Custom Scan \(DbcoreClientScope\)')
          AND (current_setting('server_version_num')::int < 170000
               OR sp.plan_of('UPDATE sp.orders SET amount = 1 WHERE id = 1', true) ~ '\(InitPlan 1\)\.col2'),
          'UPDATE: the USING and WITH CHECK init-plans are one DbcoreClientScope node');
SELECT ok(sp.plan_of('UPDATE sp.orders SET amount = 1 WHERE id = 1', true) !~ 'InitPlan 2',
          'UPDATE: no second init-plan');
SELECT ok(sp.plan_of('UPDATE sp.orders SET amount = 1 WHERE id = 1', false) ~ (sp.initplan(2, '\$1') || '\n *->  Result'),
          'UPDATE as planned by PostgreSQL: two Result init-plans');
SELECT ok(sp.plan_of('SELECT * FROM sp.orders', false) !~ 'DbcoreClientScope',
          'optimize_scope_plans off: no DbcoreClientScope node');
SELECT ok(sp.plan_of('SELECT (SELECT now()), (SELECT sp.current_client_id()), count(*) FROM sp.orders', true)
              ~ (sp.initplan(1, '\$0') || '\n *->  Result\n *' || sp.initplan(2, '\$1') || '\n *->  Result\n'),
          'init-plans of other functions, and of a function that only has the same name, stay Result nodes');
SELECT is(sp.rows_of('SELECT (SELECT sp.current_client_id()) = (SELECT dbcore.current_client_id()), count(*) FROM sp.orders', true),
          '{"(t,7)"}', 'dbcore''s and the look-alike function in one statement');

------------------------------------------------------------------------------
-- EXECUTE privilege on the client function is still checked
------------------------------------------------------------------------------
RESET ROLE;
REVOKE EXECUTE ON FUNCTION dbcore.current_client_id() FROM PUBLIC;
SET ROLE regress_sp_app;
SELECT is(sp.error_of('SELECT id FROM sp.orders', true), sp.error_of('SELECT id FROM sp.orders', false),
          'EXECUTE revoked: same error, both plan forms');
SELECT is(sp.error_of('SELECT id FROM sp.orders', true), '42501: permission denied for function current_client_id',
          'EXECUTE revoked: permission denied');
RESET ROLE;
GRANT EXECUTE ON FUNCTION dbcore.current_client_id() TO regress_sp_app;
SET ROLE regress_sp_app;
SELECT is(sp.rows_of('SELECT count(*) FROM sp.orders', true), '{(7)}', 'EXECUTE granted to the role: reads again');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
