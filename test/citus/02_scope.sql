-- 02_scope.sql: the client scope reaches every worker: set_client_token(),
-- SET LOCAL and set_config(), on connections Citus opened before and after
-- the scope was set, across savepoints; no scope, a forged or an expired
-- token are refused on the workers as on one node (42501);
-- dbcore.session_scope is refused on Citus.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SELECT plan(28);

SET ROLE tenant_owner;
CREATE TABLE s2_items (id bigint NOT NULL, client_id uuid NOT NULL, v text,
                       PRIMARY KEY (client_id, id));
SELECT dbcore.enable_tenant_scoping('s2_items');
GRANT SELECT, INSERT, UPDATE, DELETE ON s2_items TO app;
RESET ROLE;
SET citus.enable_unsafe_triggers = on;
SELECT create_distributed_table('s2_items', 'client_id');
RESET citus.enable_unsafe_triggers;

-- Client A's rows are on the first worker, B's on the second: a query for
-- B opens a connection that a query for A did not.
SELECT citus_test.client_on('s2_items', :w1_port) AS a,
       citus_test.client_on('s2_items', :w2_port) AS b \gset
SELECT dbcore.mint_client_token(:'a', '1 hour') AS ta,
       dbcore.mint_client_token(:'b', '1 hour') AS tb \gset
INSERT INTO s2_items SELECT g, :'a', 'a' FROM generate_series(1, 3) g;
INSERT INTO s2_items SELECT g, :'b', 'b' FROM generate_series(1, 2) g;

SET ROLE app;

-- set_client_token(), then connections opened after it.
BEGIN;
SELECT is(dbcore.set_client_token(:'ta'), :'a', 'set_client_token() enters A''s scope');
SELECT is(citus_test.q('SELECT count(*) FROM s2_items')::bigint, 3::bigint,
          'a connection opened after it shows A''s rows');
SELECT is(current_setting('citus.propagate_set_commands'), 'none',
          'the caller''s citus.propagate_set_commands is left as it was');
-- B's worker gets a new connection; A's has one from before.
SELECT is(dbcore.set_client_token(:'tb'), :'b', 'then B''s scope');
SELECT is(citus_test.q('SELECT count(*) FROM s2_items')::bigint, 2::bigint, 'B''s rows, through a new connection');
SELECT dbcore.set_client_token(:'ta');
SELECT is(citus_test.q($$SELECT string_agg(DISTINCT v, ',') FROM s2_items$$), 'a',
          'back to A: the connection opened before the call has the new scope');
COMMIT;

-- The scope ends with the transaction, on the workers too.
BEGIN;
SELECT throws_ok($$SELECT count(*) FROM s2_items$$, '42501', 'no client scope is set',
                 'the next transaction has no scope on any node');
COMMIT;

-- SET LOCAL dbcore.client_id, as an application or a pooler would.
BEGIN;
SET LOCAL dbcore.client_id = :'tb';
SELECT is(citus_test.q($$SELECT string_agg(DISTINCT v, ',') FROM s2_items$$), 'b', 'SET LOCAL reaches the workers');
SELECT is(current_setting('citus.propagate_set_commands'), 'none',
          'without the caller setting citus.propagate_set_commands');
COMMIT;

-- set_config(..., true): not a SQL command, sent before the next statement.
BEGIN;
SELECT set_config('dbcore.client_id', :'ta', true) IS NOT NULL AS set \gset
SELECT is(citus_test.q($$SELECT string_agg(DISTINCT v, ',') FROM s2_items$$), 'a', 'set_config() reaches the workers');
COMMIT;

-- Savepoints: a rolled-back scope change is undone on the workers.
BEGIN;
SELECT dbcore.set_client_token(:'ta');
SELECT is(citus_test.q('SELECT count(*) FROM s2_items')::bigint, 3::bigint, 'A before the savepoint');
SAVEPOINT s;
SELECT dbcore.set_client_token(:'tb');
SELECT is(citus_test.q($$SELECT string_agg(DISTINCT v, ',') FROM s2_items$$), 'b', 'B inside it');
ROLLBACK TO SAVEPOINT s;
SELECT is(dbcore.current_client_id(), :'a'::uuid, 'after ROLLBACK TO, A on the coordinator');
SELECT is(citus_test.q($$SELECT string_agg(DISTINCT v, ',') FROM s2_items$$), 'a', 'and on the workers');
COMMIT;

-- A scope set in a released savepoint: Citus forgets the SET LOCAL for the
-- connections it opens later; dbcore sends it again.
BEGIN;
SELECT dbcore.set_client_token(:'tb');
SAVEPOINT s;
SELECT dbcore.set_client_token(:'ta');
RELEASE SAVEPOINT s;
SELECT is(citus_test.q($$SELECT string_agg(DISTINCT v, ',') FROM s2_items$$), 'a',
          'after RELEASE, a connection opened later has the scope set in the savepoint');
COMMIT;
-- The same through a PL/pgSQL block with an exception handler (a
-- subtransaction that commits).
BEGIN;
SELECT set_config('citus_test.ta', :'ta', true) IS NOT NULL AS set \gset
SELECT dbcore.set_client_token(:'tb');
DO $$
BEGIN
    PERFORM dbcore.set_client_token(current_setting('citus_test.ta'));
EXCEPTION WHEN OTHERS THEN
    RAISE;
END;
$$;
SELECT is(citus_test.q($$SELECT string_agg(DISTINCT v, ',') FROM s2_items$$), 'a',
          'a scope set in an exception block reaches a connection opened after it');
COMMIT;
-- Clearing the scope in a released savepoint clears it on the workers.
BEGIN;
SELECT dbcore.set_client_token(:'ta');
SELECT is(citus_test.q('SELECT count(*) FROM s2_items')::bigint, 3::bigint, 'A, one connection open');
SAVEPOINT s;
SELECT set_config('dbcore.client_id', '', true) IS NOT NULL AS set \gset
RELEASE SAVEPOINT s;
SELECT throws_ok($$SELECT count(*) FROM s2_items$$, '42501', 'no client scope is set',
                 'a cleared scope is cleared on every worker');
COMMIT;

-- No scope at all.
BEGIN;
SELECT throws_ok($$SELECT count(*) FROM s2_items$$, '42501', 'no client scope is set',
                 'no scope: the workers refuse the query');
SELECT throws_ok($$UPDATE s2_items SET v = 'x'$$, '42501', 'no client scope is set',
                 'and the update');
COMMIT;

-- Forged and expired tokens: refused by the coordinator, and by a worker
-- reached directly.
-- (B's client id under A's signature)
SELECT concat_ws('.', split_part(:'ta', '.', 1), split_part(:'ta', '.', 2), split_part(:'tb', '.', 3),
                 split_part(:'ta', '.', 4), split_part(:'ta', '.', 5)) AS forged \gset
RESET ROLE;
SELECT dbcore.mint_client_token(:'a', '1 second') AS short \gset
SELECT pg_sleep(1.2);
SET ROLE app;
SELECT throws_ok(format('SELECT dbcore.set_client_token(%L)', :'forged'), '42501',
                 'invalid client token signature', 'a forged token is refused');
SELECT throws_ok(format('SELECT dbcore.set_client_token(%L)', :'short'), '42501', NULL,
                 'an expired token is refused');
RESET ROLE;
SELECT shard_name AS a_shard FROM citus_shards
 WHERE shardid = get_shard_id_for_distribution_column('s2_items', :'a') AND nodeport = :w1_port \gset
SELECT alike(citus_test.on_node(:w1_port, 'app',
              format('BEGIN; SET LOCAL dbcore.client_id = %L; SELECT count(*) FROM %s', :'forged', :'a_shard')),
            'ERROR 42501: invalid client token signature%',
            'a worker reached directly refuses a forged token');
SELECT alike(citus_test.on_node(:w1_port, 'app',
              format('BEGIN; SET LOCAL dbcore.client_id = %L; SELECT count(*) FROM %s', :'short', :'a_shard')),
            'ERROR 42501: %', 'and an expired one');
SELECT is(citus_test.on_node(:w1_port, 'app',
              format('BEGIN; SET LOCAL dbcore.client_id = %L; SELECT count(*) FROM %s', :'ta', :'a_shard')),
          '3', 'and accepts a valid one');

-- A function that sets the scope and reads, called as a statement of its
-- own outside a transaction block: Citus forwards nothing there, and the
-- workers refuse (nothing is shown without the scope).
CREATE FUNCTION s2_count(token text) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    PERFORM dbcore.set_client_token(token);
    RETURN citus_test.q('SELECT count(*) FROM s2_items')::bigint;
END;
$$;
SELECT alike(citus_test.on_node(:coord_port, 'app', format('SELECT s2_count(%L)', :'ta')),
            'ERROR 42501: no client scope is set%',
            'a scope set in a one-statement transaction does not reach the workers: refused');
SELECT is(citus_test.on_node(:coord_port, 'app', format('BEGIN; SELECT s2_count(%L)', :'ta')),
          '3', 'the same function in a transaction block works');

-- Session scope is refused.
SELECT throws_ok($$SET dbcore.session_scope = on$$, '0A000',
                 'dbcore.session_scope cannot be used with Citus',
                 'dbcore.session_scope is refused on Citus');

DROP FUNCTION s2_count(text);
SELECT * FROM finish();
