-- pgTAP: the tenant attack suite.
--
-- An ordinary application role, regress_attack_app, owns tenant-scoped
-- tables and has nothing but USAGE on schema dbcore.  Client A
-- (aaaaaaaa-...) is the attacker's own client; client B (bbbbbbbb-...) is
-- the victim, whose rows are all present.  Every assertion tagged through
-- pg_temp.attack() is one attack, stated as what must happen: refused with
-- its SQLSTATE, or only client A's rows seen or changed.  Client B's
-- secrets all contain "B-SECRET", so any outcome that shows that string has
-- leaked.  The last line says how many attacks were tried and how many
-- succeeded.
--
-- Attacks that need COMMIT (scopes that must not survive a transaction)
-- cannot run inside one, so this file does not wrap itself in a
-- transaction: it drops whatever an interrupted earlier run left behind
-- first, and its own roles, schema and settings at the end.  Assertions
-- inside BEGIN ... COMMIT blocks are always committed, never rolled back
-- (pgTAP keeps its counters in tables).
--
-- The session is a superuser's: the roles are entered with SET SESSION
-- AUTHORIZATION, so that SET ROLE is checked against the application role
-- itself.  (RESET SESSION AUTHORIZATION works only because the connection
-- was authenticated as a superuser; a real application connection logs in
-- as the role, as the fresh sessions of section 14 do, through dblink.)
--
-- Strict mode is switched on with a superuser's SET for the test.  The
-- documented place is postgresql.conf or ALTER SYSTEM (with
-- shared_preload_libraries = 'dbcore'); see the RESET ALL caveat below.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;

-- A superuser, a BYPASSRLS role, the application role.
\set su 'RESET SESSION AUTHORIZATION'
\set sys 'SET SESSION AUTHORIZATION regress_attack_sys'
\set app 'SET SESSION AUTHORIZATION regress_attack_app'
\set enter_a 'DO $$BEGIN PERFORM dbcore.set_client(''aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa''::uuid); END$$'
\set enter_b 'DO $$BEGIN PERFORM dbcore.set_client(''bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb''::uuid); END$$'

CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'dbcore') AS created_dbcore \gset
CREATE EXTENSION IF NOT EXISTS dbcore;
LOAD 'dbcore';   -- defines the dbcore.* settings even when the extension already existed

------------------------------------------------------------------------------
-- Leftovers of an interrupted run
------------------------------------------------------------------------------
DROP SCHEMA IF EXISTS tenant_attack CASCADE;
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['regress_attack_app', 'regress_attack_sys'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('DROP OWNED BY %I', r);
            EXECUTE format('DROP ROLE %I', r);
        END IF;
    END LOOP;
END
$$;

------------------------------------------------------------------------------
-- Roles, tables and data
------------------------------------------------------------------------------
CREATE ROLE regress_attack_app LOGIN;   -- LOGIN for the fresh sessions of section 14
CREATE ROLE regress_attack_sys BYPASSRLS IN ROLE regress_attack_app;
GRANT USAGE ON SCHEMA dbcore TO regress_attack_app, regress_attack_sys;
CREATE SCHEMA tenant_attack AUTHORIZATION regress_attack_app;
SET search_path = tenant_attack, public;

:app;
CREATE TABLE orders (
    id        int NOT NULL,
    client_id uuid NOT NULL,
    item      text,
    secret    text,
    amount    int,
    PRIMARY KEY (client_id, id)
);
SELECT dbcore.enable_tenant_scoping('orders') \gset
-- code alone is unique: a key of client B blocks client A (the audit reports it)
CREATE TABLE kv (id int, client_id uuid NOT NULL, code text UNIQUE, v text, PRIMARY KEY (client_id, id));
-- the recommended form: unique per client
CREATE TABLE kv2 (id int, client_id uuid NOT NULL, code text, v text,
                  PRIMARY KEY (client_id, id), UNIQUE (client_id, code));
CREATE TABLE events (client_id uuid NOT NULL, at int NOT NULL, what text) PARTITION BY RANGE (at);
CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (0) TO (100);
SELECT dbcore.enable_tenant_scoping('kv'), dbcore.enable_tenant_scoping('kv2'),
       dbcore.enable_tenant_scoping('events') \gset
CREATE INDEX ON kv (client_id);

-- A leaky function: not LEAKPROOF, raises an error naming its argument as
-- soon as it is shown a value of client B.  Labelled IMMUTABLE (nothing
-- stops the owner) so that it can go into an index expression too.
CREATE FUNCTION tattle(val text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF val LIKE '%B-SECRET%' THEN
        RAISE EXCEPTION 'tattle saw %', val USING ERRCODE = 'ZZ001';
    END IF;
    RETURN val;
END
$$;
-- The same, priced so low that the planner would like to run it first.
CREATE FUNCTION tattle_cheap(val text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE COST 0.0001 AS $$
BEGIN
    IF val LIKE '%B-SECRET%' THEN
        RAISE EXCEPTION 'tattle_cheap saw %', val USING ERRCODE = 'ZZ001';
    END IF;
    RETURN true;
END
$$;
:su;
GRANT USAGE ON SCHEMA tenant_attack TO regress_attack_sys;

-- The baseline data, written by a superuser (which bypasses the policies).
CREATE FUNCTION pg_temp.reset_data() RETURNS void LANGUAGE sql AS $$
    DELETE FROM tenant_attack.orders;
    INSERT INTO tenant_attack.orders VALUES
        (1, 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'a-item-1', '101', 10),
        (2, 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'a-item-2', '102', 20),
        (3, 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'b-item-1', 'B-SECRET-1', 300),
        (4, 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'b-item-2', 'B-SECRET-2', 400);
    DELETE FROM tenant_attack.kv;
    INSERT INTO tenant_attack.kv VALUES
        (1, 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'K-A', 'a-value'),
        (2, 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'K-B', 'B-SECRET-kv');
    DELETE FROM tenant_attack.kv2;
    INSERT INTO tenant_attack.kv2 VALUES
        (1, 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'K-A', 'a-value'),
        (2, 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'K-B', 'B-SECRET-kv2');
    DELETE FROM tenant_attack.events;
    INSERT INTO tenant_attack.events VALUES
        ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 1, 'a-ev-1'),
        ('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 2, 'B-SECRET-ev-1');
$$;
SELECT pg_temp.reset_data() \gset

-- Client B's rows in every table, as a superuser sees them.  SECURITY
-- DEFINER so that a probe run by the application role inside an attack (see
-- pg_temp.outcome) can tell whether B's rows were changed.
CREATE FUNCTION pg_temp.b_rows() RETURNS text LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS $$
    SELECT concat_ws(' | ',
        (SELECT string_agg(concat_ws(':', id, item, secret, amount), ',' ORDER BY id)
           FROM tenant_attack.orders WHERE client_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'),
        (SELECT string_agg(concat_ws(':', id, code, v), ',' ORDER BY id)
           FROM tenant_attack.kv WHERE client_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'),
        (SELECT string_agg(concat_ws(':', id, code, v), ',' ORDER BY id)
           FROM tenant_attack.kv2 WHERE client_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'),
        (SELECT string_agg(concat_ws(':', at, what), ',' ORDER BY at, what)
           FROM tenant_attack.events WHERE client_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'))
$$;
-- What client B's rows should be; pg_temp.b_intact() compares.
CREATE TEMP TABLE b_baseline (rows text);
INSERT INTO b_baseline SELECT pg_temp.b_rows();
GRANT SELECT ON TABLE pg_temp.b_baseline TO PUBLIC;
CREATE FUNCTION pg_temp.b_snapshot() RETURNS void LANGUAGE sql AS $$
    UPDATE pg_temp.b_baseline SET rows = pg_temp.b_rows()
$$;
CREATE FUNCTION pg_temp.b_intact() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN pg_temp.b_rows() = (SELECT b.rows FROM pg_temp.b_baseline b) THEN 'client B intact'
                ELSE 'ATTACK SUCCEEDED: client B now has ' || pg_temp.b_rows() END
$$;

-- Runs an attack, then a probe, as the current role, and undoes both (they
-- run in a subtransaction that is always rolled back).  Returns the probe's
-- result, or the error the attack or the probe raised, with its detail.
CREATE FUNCTION pg_temp.outcome(attack text, probe text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    result text;
    detail text;
BEGIN
    BEGIN
        BEGIN
            IF attack IS NOT NULL THEN
                EXECUTE attack;
            END IF;
            EXECUTE probe INTO result;
            result := coalesce(result, '(null)');
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
            result := format('error %s: %s', SQLSTATE, SQLERRM)
                      || CASE WHEN coalesce(detail, '') <> '' THEN ' (' || detail || ')' ELSE '' END;
        END;
        RAISE EXCEPTION 'undo' USING ERRCODE = 'ZZ999';
    EXCEPTION WHEN SQLSTATE 'ZZ999' THEN
        NULL;
    END;
    RETURN result;
END
$$;
CREATE FUNCTION pg_temp.q(probe text) RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.outcome(NULL, probe)
$$;

-- An attack is safe when its outcome shows none of client B's data and
-- does not report success.
CREATE FUNCTION pg_temp.safe(outcome text, description text) RETURNS text LANGUAGE sql AS $$
    SELECT ok(outcome NOT LIKE '%B-SECRET%' AND outcome NOT LIKE '%ATTACK SUCCEEDED%', description)
           || CASE WHEN outcome LIKE '%B-SECRET%' OR outcome LIKE '%ATTACK SUCCEEDED%'
                   THEN E'\n' || diag('    outcome: ' || outcome) ELSE '' END
$$;

-- Every attack's TAP line goes through here to be counted.
CREATE TEMP TABLE attack_log (n serial, line text NOT NULL);
GRANT ALL ON TABLE pg_temp.attack_log, pg_temp.attack_log_n_seq TO PUBLIC;
CREATE FUNCTION pg_temp.attack(tap text) RETURNS text LANGUAGE sql AS $$
    INSERT INTO pg_temp.attack_log (line) VALUES (tap) RETURNING line
$$;

-- Tokens: base64url and HMAC-SHA-256 in plain SQL, to build tokens with any
-- key, client and expiry (see "Token format" in doc/tenant-scoping.md).
CREATE FUNCTION pg_temp.b64url(b bytea) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT translate(rtrim(replace(encode(b, 'base64'), E'\n', ''), '='), '+/', '-_')
$$;
CREATE FUNCTION pg_temp.hmac_sha256(key bytea, msg bytea) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    WITH k AS (SELECT key || decode(repeat('00', 64 - length(key)), 'hex') AS k),
         pads AS (SELECT decode(string_agg(lpad(to_hex(get_byte(k.k, i) # 54), 2, '0'), '' ORDER BY i), 'hex') AS ipad,
                         decode(string_agg(lpad(to_hex(get_byte(k.k, i) # 92), 2, '0'), '' ORDER BY i), 'hex') AS opad
                    FROM k, generate_series(0, 63) AS i)
    SELECT sha256(opad || sha256(ipad || msg)) FROM pads
$$;
CREATE FUNCTION pg_temp.hand_token(kid text, secret_b64 text, client text, expires bigint)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT m || '.' || pg_temp.b64url(pg_temp.hmac_sha256(decode(secret_b64, 'base64'), convert_to(m, 'UTF8')))
      FROM (SELECT 'v1.' || kid || '.' || pg_temp.b64url(convert_to(client, 'UTF8')) || '.' || expires AS m) s
$$;
CREATE FUNCTION pg_temp.in_secs(secs int) RETURNS bigint LANGUAGE sql VOLATILE AS $$
    SELECT floor(extract(epoch FROM clock_timestamp()))::bigint + secs
$$;

-- Fresh sessions of the application role, through dblink: a new backend in
-- which dbcore's library is not loaded yet (as on any server without
-- shared_preload_libraries = 'dbcore').  Runs the statements in turn, going
-- on after errors, and returns what the last one (a query of one text
-- column) returned, or its error.
CREATE FUNCTION pg_temp.fresh_session(conn text, steps text[]) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n int := array_length(steps, 1);
    result text;
BEGIN
    PERFORM dblink_connect('tenant_attack_fresh', conn);
    FOR i IN 1 .. n - 1 LOOP
        -- (a command's status, or a query's one text column; nothing on error)
        PERFORM 1 FROM dblink('tenant_attack_fresh', steps[i], false) AS r(x text);
    END LOOP;
    SELECT r.x INTO result FROM dblink('tenant_attack_fresh', steps[n], false) AS r(x text);
    result := coalesce(result, 'error: ' || dblink_error_message('tenant_attack_fresh'));
    PERFORM dblink_disconnect('tenant_attack_fresh');
    RETURN result;
END
$$;
CREATE FUNCTION pg_temp.can_connect(conn text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RETURN pg_temp.fresh_session(conn, ARRAY['SELECT current_user::text']) = 'regress_attack_app';
EXCEPTION WHEN OTHERS THEN
    RETURN false;
END
$$;
-- A fresh session's read must fail with "no client scope is set".
CREATE FUNCTION pg_temp.unscoped(outcome text, description text) RETURNS text LANGUAGE sql AS $$
    SELECT ok(outcome LIKE 'error: ERROR:  no client scope is set%', description)
           || CASE WHEN outcome NOT LIKE 'error: ERROR:  no client scope is set%'
                   THEN E'\n' || diag('    outcome: ' || outcome) ELSE '' END
$$;

SELECT plan(215);

------------------------------------------------------------------------------
-- 1. No scope: nothing to read or write
------------------------------------------------------------------------------
:app;
SELECT pg_temp.attack(throws_ok($$SELECT * FROM orders$$, '42501', 'no client scope is set',
    'attack: SELECT without a scope fails instead of showing every client'));
SELECT pg_temp.attack(throws_ok($$SELECT count(*) FROM orders$$, '42501', 'no client scope is set',
    'attack: count(*) without a scope'));
SELECT pg_temp.attack(throws_ok($$UPDATE orders SET amount = 0$$, '42501', 'no client scope is set',
    'attack: UPDATE without a scope'));
SELECT pg_temp.attack(throws_ok($$DELETE FROM orders$$, '42501', 'no client scope is set',
    'attack: DELETE without a scope'));
SELECT pg_temp.attack(throws_ok(
    $$INSERT INTO orders VALUES (9, 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'x', 'x', 0)$$, '42501', NULL,
    'attack: INSERT of a row of client B without a scope'));

------------------------------------------------------------------------------
-- 2. Reading in scope A
--
-- With sequential scans only: an index scan on (client_id, ...) would apply
-- the policy in the index condition, and the leaky functions below would
-- not be put to the test.
------------------------------------------------------------------------------
BEGIN;
:enter_a;
SET LOCAL enable_indexscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT pg_temp.attack(results_eq($$SELECT secret FROM orders ORDER BY id$$, ARRAY['101', '102'],
    'attack: plain SELECT shows client A''s rows only'));
SELECT pg_temp.attack(is_empty(
    $$SELECT * FROM orders WHERE client_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'$$,
    'attack: WHERE client_id = <client B> finds nothing'));
SELECT pg_temp.attack(results_eq(
    $$SELECT secret FROM orders
       WHERE client_id IN ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb')
          OR id IN (3, 4) OR true
       ORDER BY id$$,
    ARRAY['101', '102'], 'attack: an OR-ed filter naming client B widens nothing'));
SELECT pg_temp.attack(results_eq(
    $$SELECT count(*), sum(amount), max(secret), string_agg(item, ',' ORDER BY id) FROM orders$$,
    $$VALUES (2::bigint, 30::bigint, '102'::text, 'a-item-1,a-item-2'::text)$$,
    'attack: count(*), sum(), max() and string_agg() cover client A only'));
SELECT pg_temp.attack(results_eq(
    $$SELECT client_id, count(*) FROM orders GROUP BY client_id$$,
    $$VALUES ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'::uuid, 2::bigint)$$,
    'attack: GROUP BY client_id shows one group'));
SELECT pg_temp.attack(results_eq(
    $$SELECT (SELECT count(*) FROM orders o2 WHERE o2.client_id <> o.client_id), count(*) OVER ()
        FROM orders o ORDER BY id$$,
    $$VALUES (0::bigint, 2::bigint), (0::bigint, 2::bigint)$$,
    'attack: correlated subqueries and window functions see client A only'));
SELECT pg_temp.attack(results_eq($$SELECT secret FROM ONLY orders TABLESAMPLE SYSTEM (100) ORDER BY id$$,
    ARRAY['101', '102'], 'attack: ONLY and TABLESAMPLE'));
SELECT pg_temp.attack(is_empty($$SELECT * FROM orders WHERE id = 3 FOR UPDATE$$,
    'attack: SELECT ... FOR UPDATE cannot lock a row of client B'));
-- Non-LEAKPROOF code in the query runs after the policy, whatever it costs.
SELECT pg_temp.attack(is(pg_temp.q($$SELECT string_agg(secret, ',' ORDER BY id) FROM orders WHERE tattle(secret) IS NOT NULL$$),
    '101,102', 'attack: a leaky function in WHERE never sees client B''s rows'));
SELECT pg_temp.attack(is(pg_temp.q($$SELECT string_agg(secret, ',' ORDER BY id) FROM orders WHERE tattle_cheap(secret)$$),
    '101,102', 'attack: a leaky function priced to run first still runs after the policy'));
SELECT pg_temp.attack(is(pg_temp.q(
    $$SELECT string_agg(o.secret, ',' ORDER BY o.id) FROM orders o JOIN (VALUES (1)) v(x) ON tattle(o.secret) IS NOT NULL$$),
    '101,102', 'attack: a leaky function in a JOIN condition'));
SELECT pg_temp.attack(is(pg_temp.q(
    $$SELECT string_agg(s, ',') FROM (SELECT secret AS s FROM orders ORDER BY tattle(secret)) x$$),
    '101,102', 'attack: a leaky function in ORDER BY'));
SELECT pg_temp.attack(is(pg_temp.q(
    $$SELECT EXISTS (SELECT 1 FROM orders WHERE tattle(secret) = 'nothing')::text$$),
    'false', 'attack: a leaky function in an EXISTS subquery'));
-- Errors whose message would print another client's value.
SELECT pg_temp.attack(is(pg_temp.q($$SELECT count(*)::text FROM orders WHERE secret::int > 0$$),
    '2', 'attack: WHERE secret::int > 0 raises no error about client B''s text'));
SELECT pg_temp.attack(is(pg_temp.q($$SELECT count(*)::text FROM orders WHERE 1 / (amount - 300) IS NOT NULL$$),
    '2', 'attack: division by zero cannot probe for client B''s amount'));
COMMIT;

------------------------------------------------------------------------------
-- 3. Writing in scope A
------------------------------------------------------------------------------
BEGIN;
:enter_a;
SELECT pg_temp.attack(throws_ok(
    $$INSERT INTO orders VALUES (9, 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'x', 'x', 0)$$,
    '42501', 'new row for relation "orders" belongs to another client',
    'attack: INSERT naming client B'));
SELECT pg_temp.attack(throws_ok(
    $$INSERT INTO orders (id, client_id, item)
      SELECT 9, 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'::uuid, 'x'
      UNION ALL SELECT 10, 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'::uuid, 'x'$$,
    '42501', 'new row for relation "orders" belongs to another client',
    'attack: INSERT ... SELECT mixing a row of client B into rows of client A'));
SELECT pg_temp.attack(throws_ok(
    $$UPDATE orders SET client_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb' WHERE id = 1$$,
    '42501', 'cannot change client column "client_id" of relation "orders"',
    'attack: UPDATE moving a row to client B'));
SELECT pg_temp.attack(is_empty(
    $$UPDATE orders SET secret = 'overwritten' WHERE client_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb' RETURNING *$$,
    'attack: UPDATE ... WHERE client_id = <client B> RETURNING finds nothing'));
SELECT pg_temp.attack(is_empty($$DELETE FROM orders WHERE id IN (3, 4) RETURNING *$$,
    'attack: DELETE of client B''s ids RETURNING finds nothing'));
SELECT pg_temp.attack(results_eq(
    $$WITH d AS (DELETE FROM orders WHERE client_id <> 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa' RETURNING id),
          u AS (UPDATE orders SET item = item || '!' RETURNING client_id)
      SELECT (SELECT count(*) FROM d), (SELECT count(DISTINCT client_id) FROM u)$$,
    $$VALUES (0::bigint, 1::bigint)$$,
    'attack: writable CTEs delete nothing of client B and update client A only'));
SELECT pg_temp.attack(results_eq($$UPDATE orders SET amount = amount + 1 RETURNING secret$$,
    ARRAY['101', '102'], 'attack: UPDATE without WHERE returns client A''s rows only'));
SELECT pg_temp.attack(results_eq($$DELETE FROM orders RETURNING secret$$,
    ARRAY['101', '102'], 'attack: DELETE without WHERE returns client A''s rows only'));
COMMIT;
:sys;
SELECT pg_temp.attack(results_eq(
    $$SELECT id, item, secret, amount FROM orders WHERE client_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb' ORDER BY id$$,
    $$VALUES (3, 'b-item-1', 'B-SECRET-1', 300), (4, 'b-item-2', 'B-SECRET-2', 400)$$,
    'attack: after UPDATE and DELETE without WHERE client B''s rows are intact (checked with BYPASSRLS)'));
SELECT is((SELECT count(*)::int FROM orders WHERE client_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'),
    0, '... while client A''s rows are gone (the DELETE did run)');
:su;
SELECT pg_temp.reset_data() \gset

-- A trigger of the owner's own that rewrites the client column, named so
-- that it fires after dbcore's guard (triggers fire in name order).  The
-- policies' WITH CHECK still applies after every BEFORE trigger.
:app;
CREATE FUNCTION to_client_b() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.client_id := 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
    RETURN NEW;
END
$$;
CREATE TRIGGER zz_to_client_b BEFORE INSERT OR UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION to_client_b();
BEGIN;
:enter_a;
SELECT pg_temp.attack(throws_ok($$INSERT INTO orders (id, item) VALUES (9, 'planted')$$, '42501',
    'new row violates row-level security policy "dbcore_tenant_isolation" for table "orders"',
    'attack: an own BEFORE INSERT trigger running after the guard cannot plant a row for client B'));
SELECT pg_temp.attack(throws_ok($$UPDATE orders SET item = 'moved' WHERE id = 1$$, '42501',
    'new row violates row-level security policy "dbcore_tenant_isolation" for table "orders"',
    'attack: an own BEFORE UPDATE trigger running after the guard cannot move a row to client B'));
COMMIT;
DROP TRIGGER zz_to_client_b ON orders;

-- INSERT ... ON CONFLICT and MERGE
BEGIN;
:enter_a;
SELECT pg_temp.attack(throws_ok(
    $$INSERT INTO kv VALUES (3, NULL, 'K-B', 'hijacked') ON CONFLICT (code) DO UPDATE SET v = 'hijacked' RETURNING *$$,
    '42501', 'new row violates row-level security policy "dbcore_tenant_isolation" (USING expression) for table "kv"',
    'attack: ON CONFLICT DO UPDATE onto client B''s key (key without client column) is refused'));
-- The side channel of a unique key without the client column: client A can
-- tell that the key exists.  Documented; tenant_audit reports such keys.
SELECT is_empty($$INSERT INTO kv VALUES (3, NULL, 'K-B', 'probe') ON CONFLICT (code) DO NOTHING RETURNING id$$,
    'side channel (documented): with a key without the client column, ON CONFLICT DO NOTHING shows that client B has K-B');
SELECT ok(EXISTS (SELECT 1 FROM dbcore.tenant_audit()
                   WHERE problem = 'unique key without client column' AND object = 'tenant_attack.kv'),
          'tenant_audit reports that unique key');
SELECT ok(NOT EXISTS (SELECT 1 FROM dbcore.tenant_audit() WHERE object = 'tenant_attack.kv2'),
          'tenant_audit has nothing to say about the (client_id, code) form');
SELECT pg_temp.attack(results_eq(
    $$INSERT INTO kv2 VALUES (3, NULL, 'K-B', 'a-own') ON CONFLICT (client_id, code) DO UPDATE SET v = 'hijacked'
      RETURNING client_id, v$$,
    $$VALUES ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'::uuid, 'a-own'::text)$$,
    'attack: with UNIQUE (client_id, code), client B''s key is no conflict: client A gets a row of its own'));
SELECT pg_temp.attack(results_eq(
    $$INSERT INTO kv2 VALUES (4, NULL, 'K-B', 'again') ON CONFLICT (client_id, code) DO UPDATE SET v = 'updated'
      RETURNING client_id, v$$,
    $$VALUES ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'::uuid, 'updated'::text)$$,
    'attack: ... and ON CONFLICT DO UPDATE updates that own row'));
COMMIT;
:su;
SELECT pg_temp.reset_data() \gset
:app;

BEGIN;
:enter_a;
SET LOCAL enable_indexscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT pg_temp.attack(is(pg_temp.outcome(
    $$MERGE INTO kv2 t USING (VALUES ('K-A'), ('K-B')) s(code) ON t.code = s.code
      WHEN MATCHED THEN UPDATE SET v = 'merged'
      WHEN NOT MATCHED THEN INSERT (id, code, v) VALUES (7, s.code, 'merged-new')$$,
    $$SELECT string_agg(code || '=' || v, ',' ORDER BY code) || ' / ' || pg_temp.b_intact() FROM kv2$$),
    'K-A=merged,K-B=merged-new / client B intact',
    'attack: MERGE matching client B''s key updates nothing of client B (it inserts a row of client A)'));
SELECT pg_temp.attack(is(pg_temp.outcome(
    $$MERGE INTO kv2 t USING (VALUES (1), (2), (3), (4)) s(id) ON t.id = s.id WHEN MATCHED THEN DELETE$$,
    $$SELECT count(*) || ' left / ' || pg_temp.b_intact() FROM kv2$$),
    '0 left / client B intact', 'attack: MERGE ... WHEN MATCHED THEN DELETE naming every id deletes client A''s rows only'));
-- (With a constant-true join condition PostgreSQL 15 scans the target
-- without the policy's filter; the DELETE's USING check then refuses the
-- statement instead of deleting client B's rows.)
SELECT pg_temp.attack(pg_temp.safe(pg_temp.outcome(
    $$MERGE INTO kv2 t USING (VALUES (1)) s(x) ON true WHEN MATCHED THEN DELETE$$,
    $$SELECT pg_temp.b_intact()$$),
    'attack: MERGE ... ON true WHEN MATCHED THEN DELETE'));
SELECT pg_temp.attack(is(pg_temp.outcome(
    $$MERGE INTO kv2 t USING (VALUES (1)) s(x) ON true WHEN MATCHED AND tattle(t.v) IS NULL THEN DELETE$$,
    $$SELECT pg_temp.b_intact()$$),
    'client B intact', 'attack: a leaky WHEN condition of MERGE ... ON true never sees client B''s rows'));
SELECT pg_temp.attack(throws_ok(
    $$MERGE INTO kv2 t USING (VALUES ('K-X')) s(code) ON t.code = s.code
      WHEN NOT MATCHED THEN INSERT (id, client_id, code, v) VALUES (8, 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', s.code, 'planted')$$,
    '42501', 'new row for relation "kv2" belongs to another client', 'attack: MERGE inserting a row of client B'));
COMMIT;
:su;
SELECT pg_temp.reset_data() \gset

------------------------------------------------------------------------------
-- 4. COPY (checked through the row count psql reports; the rows go nowhere)
------------------------------------------------------------------------------
:app;
BEGIN;
:enter_a;
COPY orders TO STDOUT \g /dev/null
SELECT pg_temp.attack(is(:ROW_COUNT, 2, 'attack: COPY orders TO STDOUT exports client A''s rows only'));
COPY (SELECT * FROM orders) TO STDOUT \g /dev/null
SELECT pg_temp.attack(is(:ROW_COUNT, 2, 'attack: COPY (SELECT * FROM orders) TO STDOUT exports client A''s rows only'));
COPY (SELECT * FROM orders WHERE client_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb') TO STDOUT \g /dev/null
SELECT pg_temp.attack(is(:ROW_COUNT, 0, 'attack: COPY of client B''s rows exports nothing'));
COMMIT;
-- COPY FROM ignores row level security, so PostgreSQL refuses it on such a
-- table.  From a server file (the role gets the right to read one for
-- this), since a COPY FROM STDIN cannot run inside a pgTAP function.
:su;
GRANT pg_read_server_files TO regress_attack_app;
:app;
BEGIN;
:enter_a;
SELECT pg_temp.attack(throws_ok($$COPY orders FROM '/dev/null'$$, '0A000',
    'COPY FROM not supported with row-level security', 'attack: COPY FROM into a scoped table is refused'));
COMMIT;
:su;
REVOKE pg_read_server_files FROM regress_attack_app;

------------------------------------------------------------------------------
-- 5. Plans reused across scopes
------------------------------------------------------------------------------
:app;
SET plan_cache_mode = force_generic_plan;
CREATE FUNCTION cached_secrets() RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT string_agg(secret, ',' ORDER BY id) FROM tenant_attack.orders);
END
$$;
BEGIN;
:enter_a;
PREPARE own_secrets AS SELECT secret FROM orders ORDER BY id;
PREPARE secrets_of(uuid) AS SELECT secret FROM orders WHERE client_id = $1 ORDER BY id;
SELECT pg_temp.attack(results_eq('own_secrets', ARRAY['101', '102'],
    'attack: a generic plan prepared in scope A shows client A''s rows'));
SELECT pg_temp.attack(is_empty($$EXECUTE secrets_of('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb')$$,
    'attack: a prepared statement given client B as its parameter finds nothing'));
SELECT pg_temp.attack(is(cached_secrets(), '101,102', 'attack: a PL/pgSQL function shows client A''s rows in scope A'));
COMMIT;
BEGIN;
:enter_b;
SELECT pg_temp.attack(results_eq('own_secrets', ARRAY['B-SECRET-1', 'B-SECRET-2'],
    'attack: the same generic plan, executed in scope B, shows client B''s rows, not client A''s'));
SELECT pg_temp.attack(is(cached_secrets(), 'B-SECRET-1,B-SECRET-2',
    'attack: the PL/pgSQL function''s cached plan follows the scope too'));
COMMIT;
SELECT pg_temp.attack(throws_ok('EXECUTE own_secrets', '42501', 'no client scope is set',
    'attack: ... and without a scope it fails'));
-- The plan form is the application's to choose (dbcore.optimize_scope_plans
-- is a user setting): a plan made in either form follows the scope in the
-- other, and a generic UPDATE plan, whose USING and WITH CHECK scopes are
-- one merged init-plan, still cannot move rows to another client.
SET dbcore.optimize_scope_plans = off;
BEGIN;
:enter_a;
PREPARE own_secrets_off AS SELECT secret FROM orders ORDER BY id;
PREPARE move_to(uuid) AS UPDATE orders SET client_id = $1 RETURNING secret;
COMMIT;
SET dbcore.optimize_scope_plans = on;
PREPARE move_to_on(uuid) AS UPDATE orders SET client_id = $1 RETURNING secret;
BEGIN;
:enter_b;
SELECT pg_temp.attack(results_eq('own_secrets_off', ARRAY['B-SECRET-1', 'B-SECRET-2'],
    'attack: a generic plan made with dbcore.optimize_scope_plans off in scope A shows client B''s rows in scope B'));
SELECT pg_temp.attack(throws_ok($$EXECUTE move_to_on('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa')$$, '42501', NULL,
    'attack: a generic UPDATE plan (one merged scope init-plan) cannot move client B''s rows to client A'));
SELECT pg_temp.attack(throws_ok($$EXECUTE move_to('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa')$$, '42501', NULL,
    'attack: ... nor can the same plan made in PostgreSQL''s form'));
COMMIT;
SELECT pg_temp.attack(is(pg_temp.b_intact(), 'client B intact',
    'attack: after the plan-form attacks client B''s rows are intact'));
DEALLOCATE own_secrets;
DEALLOCATE own_secrets_off;
DEALLOCATE move_to;
DEALLOCATE move_to_on;
DEALLOCATE secrets_of;
RESET plan_cache_mode;

------------------------------------------------------------------------------
-- 6. Scope lifetime: SET, RESET, COMMIT, ROLLBACK, savepoints
------------------------------------------------------------------------------
SET dbcore.client_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
SELECT pg_temp.attack(throws_ok($$SELECT * FROM orders$$, '42501', 'no client scope is set',
    'attack: a plain SET in autocommit mode is no scope for the next statement'));
BEGIN;
SET SESSION dbcore.client_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
COMMIT;
SELECT pg_temp.attack(throws_ok($$SELECT * FROM orders$$, '42501', 'no client scope is set',
    'attack: SET SESSION in a committed transaction is gone in the next one'));
BEGIN;
SELECT set_config('dbcore.client_id', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', false) \gset
COMMIT;
SELECT pg_temp.attack(throws_ok($$SELECT * FROM orders$$, '42501', 'no client scope is set',
    'attack: set_config(..., is_local => false) in a committed transaction is gone in the next one'));
BEGIN;
SET dbcore.client_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
ROLLBACK;
SELECT pg_temp.attack(throws_ok($$SELECT * FROM orders$$, '42501', 'no client scope is set',
    'attack: a SET of a rolled back transaction is gone'));
BEGIN;
:enter_a;
COMMIT AND CHAIN;
SELECT pg_temp.attack(throws_ok($$SELECT * FROM orders$$, '42501', 'no client scope is set',
    'attack: COMMIT AND CHAIN does not carry the scope into the chained transaction'));
COMMIT;
BEGIN;
:enter_a;
RESET dbcore.client_id;
SELECT pg_temp.attack(throws_ok($$SELECT * FROM orders$$, '42501', 'no client scope is set',
    'attack: RESET dbcore.client_id in a scope means no scope, not every client'));
:enter_a;
SET LOCAL dbcore.client_id = '';
SELECT pg_temp.attack(throws_ok($$SELECT * FROM orders$$, '42501', 'no client scope is set',
    'attack: SET dbcore.client_id = '''' in a scope'));
:enter_a;
SET LOCAL dbcore.client_id TO DEFAULT;
SELECT pg_temp.attack(throws_ok($$SELECT * FROM orders$$, '42501', 'no client scope is set',
    'attack: SET dbcore.client_id TO DEFAULT in a scope'));
SET LOCAL dbcore.client_id = 'not-a-uuid';
SELECT pg_temp.attack(throws_ok($$SELECT * FROM orders$$, '22P02',
    'current client id "not-a-uuid" is not a valid uuid', 'attack: a malformed client id'));
COMMIT;
BEGIN;
:enter_a;
SAVEPOINT s;
:enter_b;
ROLLBACK TO SAVEPOINT s;
SELECT pg_temp.attack(results_eq($$SELECT secret FROM orders ORDER BY id$$, ARRAY['101', '102'],
    'attack: ROLLBACK TO SAVEPOINT restores client A, no trace of client B''s scope'));
COMMIT;
SELECT pg_temp.attack(throws_ok($$SELECT dbcore.set_client(NULL::uuid)$$, '22004', 'client id must not be null',
    'attack: set_client(NULL) is an error, not a silent change of scope'));
SELECT pg_temp.attack(throws_ok($$SELECT dbcore.set_client('')$$, '22023', 'client id must not be empty',
    'attack: set_client('''') is an error'));
SELECT pg_temp.attack(throws_ok($$SET dbcore.client_id = 'v1.k1.forged'$$, '22023', 'malformed client token',
    'attack: a made-up token is refused even outside strict mode'));
SELECT pg_temp.attack(throws_ok($$SET dbcore.session_scope = on$$, '42501',
    'permission denied to set parameter "dbcore.session_scope"', 'attack: session mode is for superusers'));
SELECT pg_temp.attack(throws_ok(
    $$ALTER ROLE regress_attack_app SET dbcore.client_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'$$, '42501',
    'dbcore.client_id cannot be set as a role, database or function default',
    'attack: ALTER ROLE ... SET dbcore.client_id (a scope for every session)'));
SELECT pg_temp.attack(throws_ok($$ALTER ROLE regress_attack_app SET dbcore.session_scope = on$$, '42501', NULL,
    'attack: ALTER ROLE ... SET dbcore.session_scope'));
SELECT pg_temp.attack(throws_ok(
    $$CREATE FUNCTION fixed_client() RETURNS int LANGUAGE sql
      SET dbcore.client_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb' AS 'SELECT 1'$$, '42501',
    'dbcore.client_id cannot be set as a role, database or function default',
    'attack: CREATE FUNCTION ... SET dbcore.client_id'));
:su;
SELECT pg_temp.attack(throws_ok(
    $sql$DO $d$ BEGIN
        EXECUTE format('ALTER DATABASE %I SET dbcore.client_id = %L', current_database(),
                       'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
    END $d$$sql$, '42501', 'dbcore.client_id cannot be set as a role, database or function default',
    'attack: ALTER DATABASE ... SET dbcore.client_id, even by a superuser'));
SELECT is((SELECT count(*)::int FROM pg_db_role_setting s, unnest(s.setconfig) c WHERE c LIKE 'dbcore.%'), 0,
          'no dbcore setting was stored for any role or database');

------------------------------------------------------------------------------
-- 7. Privileges: becoming someone else, or switching the machinery off
------------------------------------------------------------------------------
:app;
SELECT pg_temp.attack(throws_ok($$SET ROLE regress_attack_sys$$, '42501',
    'permission denied to set role "regress_attack_sys"', 'attack: SET ROLE to a BYPASSRLS role'));
SELECT pg_temp.attack(throws_ok($$SET ROLE postgres$$, '42501', 'permission denied to set role "postgres"',
    'attack: SET ROLE to a superuser'));
SELECT pg_temp.attack(throws_ok($$GRANT regress_attack_sys TO regress_attack_app$$, '42501', NULL,
    'attack: granting oneself a BYPASSRLS role'));
SELECT pg_temp.attack(throws_ok($$ALTER ROLE regress_attack_app BYPASSRLS$$, '42501', NULL,
    'attack: ALTER ROLE ... BYPASSRLS'));
SELECT pg_temp.attack(throws_ok($$ALTER TABLE orders OWNER TO regress_attack_sys$$, '42501', NULL,
    'attack: handing the table to a BYPASSRLS owner'));
SELECT pg_temp.attack(throws_ok($$SET session_replication_role = replica$$, '42501', NULL,
    'attack: session_replication_role = replica (would silence the row guard)'));
BEGIN;
:enter_a;
SET LOCAL row_security = off;
SELECT pg_temp.attack(throws_ok($$SELECT * FROM orders$$, '42501',
    'query would be affected by row-level security policy for table "orders"', 'attack: SET row_security = off'));
COMMIT;
SELECT pg_temp.attack(throws_ok($$ALTER EVENT TRIGGER dbcore_tenant_ddl_end DISABLE$$, '42501', NULL,
    'attack: disabling dbcore''s guard-rail event trigger'));
SELECT pg_temp.attack(throws_ok($$DROP EXTENSION dbcore CASCADE$$, '42501', NULL,
    'attack: dropping the extension'));
SELECT pg_temp.attack(throws_ok(
    $$CREATE OR REPLACE FUNCTION dbcore.current_client_id() RETURNS uuid LANGUAGE sql AS 'SELECT NULL::uuid'$$,
    '42501', NULL, 'attack: replacing dbcore.current_client_id()'));
SELECT pg_temp.attack(throws_ok($$DELETE FROM dbcore.tenant_tables$$, '42501', 'permission denied for table tenant_tables',
    'attack: emptying the registry of scoped tables'));
SELECT pg_temp.attack(throws_ok($$SELECT dbcore._tenant_unregister('orders')$$, '42501', NULL,
    'attack: unregistering the table'));
SELECT pg_temp.attack(throws_ok($$SELECT dbcore.disable_tenant_scoping('orders')$$, '42501',
    'permission denied to disable tenant scoping of table "orders"', 'attack: disable_tenant_scoping() as the owner'));

------------------------------------------------------------------------------
-- 8. Guard rails: the owner's DDL
------------------------------------------------------------------------------
CREATE TABLE notes (client_id uuid NOT NULL, body text);
SELECT dbcore.enable_tenant_scoping('notes') \gset
SELECT pg_temp.attack(throws_ok($$ALTER TABLE orders DISABLE ROW LEVEL SECURITY$$, '42501',
    'permission denied to weaken tenant scoping of table "tenant_attack.orders"', 'attack: DISABLE ROW LEVEL SECURITY'));
SELECT pg_temp.attack(throws_ok($$ALTER TABLE orders NO FORCE ROW LEVEL SECURITY$$, '42501',
    'permission denied to weaken tenant scoping of table "tenant_attack.orders"', 'attack: NO FORCE ROW LEVEL SECURITY'));
SELECT pg_temp.attack(throws_ok($$DROP POLICY dbcore_tenant_isolation ON orders$$, '42501',
    'permission denied to weaken tenant scoping of table "tenant_attack.orders"', 'attack: DROP POLICY'));
SELECT pg_temp.attack(throws_ok($$ALTER POLICY dbcore_tenant_isolation ON orders USING (true)$$, '42501',
    'permission denied to weaken tenant scoping of table "tenant_attack.orders"', 'attack: ALTER POLICY ... USING (true)'));
SELECT pg_temp.attack(throws_ok($$ALTER POLICY dbcore_tenant_access ON orders TO regress_attack_sys$$, '42501',
    'permission denied to weaken tenant scoping of table "tenant_attack.orders"', 'attack: ALTER POLICY ... TO another role'));
SELECT pg_temp.attack(throws_ok($$ALTER POLICY dbcore_tenant_isolation ON orders RENAME TO zz_last$$, '42501',
    'permission denied to weaken tenant scoping of table "tenant_attack.orders"', 'attack: renaming dbcore''s policy'));
SELECT pg_temp.attack(throws_ok($$DROP TRIGGER dbcore_tenant_guard ON orders$$, '42501',
    'permission denied to weaken tenant scoping of table "tenant_attack.orders"', 'attack: DROP TRIGGER (row guard)'));
SELECT pg_temp.attack(throws_ok($$DROP TRIGGER dbcore_tenant_truncate_guard ON orders$$, '42501',
    'permission denied to weaken tenant scoping of table "tenant_attack.orders"', 'attack: DROP TRIGGER (TRUNCATE guard)'));
SELECT pg_temp.attack(throws_ok($$ALTER TABLE orders DISABLE TRIGGER dbcore_tenant_guard$$, '42501',
    'permission denied to weaken tenant scoping of table "tenant_attack.orders"', 'attack: DISABLE TRIGGER'));
SELECT pg_temp.attack(throws_ok($$ALTER TABLE orders DISABLE TRIGGER ALL$$, '42501',
    'permission denied to weaken tenant scoping of table "tenant_attack.orders"', 'attack: DISABLE TRIGGER ALL'));
SELECT pg_temp.attack(throws_ok($$ALTER TABLE orders ENABLE REPLICA TRIGGER dbcore_tenant_guard$$, '42501',
    'permission denied to weaken tenant scoping of table "tenant_attack.orders"', 'attack: ENABLE REPLICA TRIGGER'));
SELECT pg_temp.attack(throws_ok(
    $$CREATE OR REPLACE TRIGGER dbcore_tenant_guard BEFORE INSERT ON orders
      FOR EACH ROW EXECUTE FUNCTION dbcore.tenant_row_guard('client_id')$$, '42501',
    'permission denied to weaken tenant scoping of table "tenant_attack.orders"', 'attack: redefining the row guard without UPDATE'));
SELECT pg_temp.attack(throws_ok($$TRUNCATE orders$$, '42501',
    'permission denied to truncate tenant-scoped table "orders"', 'attack: TRUNCATE'));
SELECT pg_temp.attack(throws_ok($$ALTER TABLE notes DROP COLUMN client_id CASCADE$$, '42501',
    'permission denied to weaken tenant scoping of table "tenant_attack.notes"', 'attack: DROP COLUMN client_id CASCADE'));
SELECT pg_temp.attack(throws_ok($$ALTER TABLE notes ALTER COLUMN client_id DROP NOT NULL$$, '42501',
    'permission denied to weaken tenant scoping of table "tenant_attack.notes"', 'attack: ALTER COLUMN client_id DROP NOT NULL'));
SELECT pg_temp.attack(throws_ok($$ALTER TABLE notes RENAME COLUMN client_id TO cid$$, '42501',
    'permission denied to weaken tenant scoping of table "tenant_attack.notes"', 'attack: RENAME COLUMN client_id'));
-- (PostgreSQL itself refuses this one: the policies use the column.)
SELECT pg_temp.attack(throws_ok($$ALTER TABLE notes ALTER COLUMN client_id TYPE text$$, '0A000',
    'cannot alter type of a column used in a policy definition', 'attack: ALTER COLUMN client_id TYPE text'));
ALTER TABLE notes ALTER COLUMN client_id SET DEFAULT 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
BEGIN;
:enter_a;
SELECT pg_temp.attack(throws_ok($$INSERT INTO notes (body) VALUES ('planted')$$, '42501',
    'new row for relation "notes" belongs to another client', 'attack: a column DEFAULT of client B'));
COMMIT;
ALTER TABLE notes ALTER COLUMN client_id DROP DEFAULT;
-- Policies of the owner's own can narrow, never widen.
BEGIN;
:enter_a;
SELECT pg_temp.attack(pg_temp.safe(pg_temp.outcome(
    $$CREATE POLICY wide_open ON tenant_attack.orders USING (true) WITH CHECK (true)$$,
    $$SELECT string_agg(secret, ',' ORDER BY id) FROM tenant_attack.orders$$),
    'attack: CREATE POLICY ... USING (true) does not widen'));
SELECT pg_temp.attack(pg_temp.safe(pg_temp.outcome(
    $$CREATE POLICY show_b ON tenant_attack.orders FOR SELECT
        USING (client_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb')$$,
    $$SELECT string_agg(secret, ',' ORDER BY id) FROM tenant_attack.orders$$),
    'attack: a permissive policy naming client B does not widen'));
SELECT pg_temp.attack(pg_temp.safe(pg_temp.outcome(
    $$CREATE POLICY write_any ON tenant_attack.orders FOR INSERT WITH CHECK (true);
      INSERT INTO tenant_attack.orders VALUES (9, 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'x', 'planted', 0)$$,
    $$SELECT pg_temp.b_intact()$$),
    'attack: a permissive WITH CHECK (true) policy does not let a row of client B in'));
COMMIT;

------------------------------------------------------------------------------
-- 9. The owner's DDL
--
-- Each attack runs in client A's scope inside pg_temp.outcome(), which
-- rolls it back.  The guard rails refuse the first five (an unscoped parent,
-- a restrictive policy evaluated before dbcore's, a cascading foreign key to
-- an unscoped table).  The rest are DDL that evaluates or rewrites every
-- row, which PostgreSQL lets a table's owner do, a reference from an
-- unscoped table (foreign-key checks ignore row level security) and a
-- partition filled beforehand: dbcore refuses them at ddl_command_start to
-- roles without system-level authorization, while the table holds rows.
------------------------------------------------------------------------------
:app;
BEGIN;
:enter_a;
SELECT pg_temp.attack(pg_temp.safe(pg_temp.outcome(
    $$CREATE TABLE tenant_attack.spy (secret text);
      ALTER TABLE tenant_attack.orders INHERIT tenant_attack.spy$$,
    $$SELECT string_agg(secret, ',' ORDER BY secret) FROM tenant_attack.spy$$),
    'attack: ALTER TABLE ... INHERIT an unscoped parent, read every client through the parent'));
SELECT pg_temp.attack(pg_temp.safe(pg_temp.outcome(
    $$CREATE TABLE tenant_attack.spy (secret text);
      ALTER TABLE tenant_attack.orders INHERIT tenant_attack.spy;
      DELETE FROM tenant_attack.spy$$,
    $$SELECT pg_temp.b_intact()$$),
    'attack: ... and DELETE every client''s rows through it'));
SELECT pg_temp.attack(pg_temp.safe(pg_temp.outcome(
    $$CREATE TABLE tenant_attack.spy_parent (LIKE tenant_attack.orders) PARTITION BY LIST (client_id);
      ALTER TABLE tenant_attack.spy_parent ATTACH PARTITION tenant_attack.orders DEFAULT$$,
    $$SELECT string_agg(secret, ',' ORDER BY secret) FROM tenant_attack.spy_parent$$),
    'attack: ATTACH the scoped table as a partition of an unscoped table, read every client through it'));
SELECT pg_temp.attack(pg_temp.safe(pg_temp.outcome(
    $$CREATE POLICY "0_first" ON tenant_attack.orders AS RESTRICTIVE FOR SELECT USING (tenant_attack.tattle_cheap(secret));
      SET LOCAL enable_indexscan = off;
      SET LOCAL enable_bitmapscan = off$$,
    $$SELECT string_agg(secret, ',' ORDER BY id) FROM tenant_attack.orders$$),
    'attack: an own RESTRICTIVE policy whose name sorts before dbcore_tenant_isolation runs first, on every client''s rows'));
SELECT pg_temp.attack(pg_temp.safe(pg_temp.outcome(
    $$CREATE TABLE tenant_attack.doomsday (c uuid PRIMARY KEY);
      ALTER TABLE tenant_attack.orders ADD CONSTRAINT doom FOREIGN KEY (client_id)
          REFERENCES tenant_attack.doomsday (c) ON DELETE CASCADE NOT VALID;
      INSERT INTO tenant_attack.doomsday VALUES ('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb');
      DELETE FROM tenant_attack.doomsday$$,
    $$SELECT pg_temp.b_intact()$$),
    'attack: ON DELETE CASCADE from an unscoped table deletes client B''s rows'));
SELECT pg_temp.attack(pg_temp.safe(pg_temp.outcome(
    $$CREATE TABLE tenant_attack.planted (client_id uuid NOT NULL, at int NOT NULL, what text);
      INSERT INTO tenant_attack.planted VALUES ('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 301, 'planted by client A');
      ALTER TABLE tenant_attack.events ATTACH PARTITION tenant_attack.planted FOR VALUES FROM (300) TO (400)$$,
    $$SELECT pg_temp.b_intact()$$),
    'attack: ATTACH a table filled beforehand plants rows for client B'));
SELECT pg_temp.attack(pg_temp.safe(pg_temp.outcome(
    $$ALTER TABLE tenant_attack.orders ALTER COLUMN item TYPE text USING item || ' (rewritten by client A)'$$,
    $$SELECT pg_temp.b_intact()$$),
    'attack: ALTER COLUMN ... TYPE ... USING rewrites every client''s rows'));
SELECT pg_temp.attack(pg_temp.safe(pg_temp.outcome(
    $$ALTER TABLE tenant_attack.orders ALTER COLUMN secret TYPE int USING secret::int$$,
    $$SELECT 'converted'$$),
    'attack: ALTER COLUMN ... TYPE: the conversion error prints another client''s value'));
SELECT pg_temp.attack(pg_temp.safe(pg_temp.outcome(
    $$CREATE INDEX orders_tattle_idx ON tenant_attack.orders (tenant_attack.tattle(secret))$$,
    $$SELECT 'index built'$$),
    'attack: an index expression with a leaky function is evaluated on every client''s rows'));
SELECT pg_temp.attack(pg_temp.safe(pg_temp.outcome(
    $sql$DO $d$ BEGIN
        ALTER TABLE tenant_attack.orders ADD CONSTRAINT probe CHECK (secret <> 'B-SECRET-1');
    EXCEPTION WHEN check_violation THEN
        RAISE EXCEPTION 'ATTACK SUCCEEDED: a CHECK constraint confirmed a value of another client''s row';
    END $d$$sql$,
    $$SELECT 'no oracle'$$),
    'attack: a CHECK constraint is an oracle over every client''s rows'));
SELECT pg_temp.attack(pg_temp.safe(pg_temp.outcome(
    $$CREATE UNIQUE INDEX orders_probe_key ON tenant_attack.orders (client_id, secret);
      CREATE TABLE tenant_attack.probe (c uuid, k text, FOREIGN KEY (c, k) REFERENCES tenant_attack.orders (client_id, secret));
      INSERT INTO tenant_attack.probe VALUES ('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'B-SECRET-1')$$,
    $$SELECT 'ATTACK SUCCEEDED: a foreign key from an unscoped table confirmed a value of client B''s row'$$),
    'attack: a foreign key (with the client column) from an unscoped table probes client B''s rows'));
SELECT pg_temp.attack(pg_temp.safe(pg_temp.outcome(
    $$ALTER TABLE tenant_attack.orders ADD COLUMN leak text GENERATED ALWAYS AS (tenant_attack.tattle(secret)) STORED$$,
    $$SELECT 'column added'$$),
    'attack: a generated column evaluates a leaky function on every client''s rows'));
SELECT pg_temp.attack(pg_temp.safe(pg_temp.outcome(
    $$CREATE INDEX orders_tattle_partial ON tenant_attack.orders (id) WHERE tenant_attack.tattle_cheap(secret)$$,
    $$SELECT 'index built'$$),
    'attack: a partial index''s WHERE clause evaluates a leaky function on every client''s rows'));
SELECT pg_temp.attack(pg_temp.safe(pg_temp.outcome(
    $$ALTER TABLE tenant_attack.orders ADD CONSTRAINT later CHECK (tenant_attack.tattle_cheap(secret)) NOT VALID;
      ALTER TABLE tenant_attack.orders VALIDATE CONSTRAINT later$$,
    $$SELECT 'validated'$$),
    'attack: VALIDATE CONSTRAINT of a NOT VALID check evaluates it on every client''s rows'));
SELECT pg_temp.attack(pg_temp.safe(pg_temp.outcome(
    $$INSERT INTO tenant_attack.orders (id, item, secret, amount) VALUES (90, 'dup', 'B-SECRET-1', 1);
      CREATE UNIQUE INDEX orders_secret_key ON tenant_attack.orders (secret)$$,
    $$SELECT 'index built'$$),
    'attack: building a unique index without the client column prints client B''s duplicate value'));
SELECT pg_temp.attack(pg_temp.safe(pg_temp.outcome(
    $$CREATE STATISTICS tenant_attack.orders_tattle_stats ON (tenant_attack.tattle(secret)), id FROM tenant_attack.orders;
      ANALYZE tenant_attack.orders$$,
    $$SELECT 'analyzed'$$),
    'attack: extended statistics on a leaky expression are computed over every client''s rows'));
SELECT pg_temp.attack(pg_temp.safe(pg_temp.outcome(
    $$CREATE TABLE tenant_attack.known (s text PRIMARY KEY);
      INSERT INTO tenant_attack.known SELECT secret FROM tenant_attack.orders;
      ALTER TABLE tenant_attack.orders ADD FOREIGN KEY (secret) REFERENCES tenant_attack.known (s)$$,
    $$SELECT 'key added'$$),
    'attack: validating a new foreign key prints the key of client B''s row it cannot find'));
COMMIT;

------------------------------------------------------------------------------
-- 10. Partitions: queried directly, created, attached and detached later
------------------------------------------------------------------------------
BEGIN;
:enter_a;
SELECT pg_temp.attack(results_eq($$SELECT what FROM events_1$$, ARRAY['a-ev-1'],
    'attack: a partition queried directly shows client A''s rows only'));
SELECT pg_temp.attack(results_eq($$UPDATE events_1 SET what = what || '!' RETURNING what$$, ARRAY['a-ev-1!'],
    'attack: UPDATE of a partition directly, without WHERE, changes client A''s rows only'));
SELECT pg_temp.attack(throws_ok(
    $$INSERT INTO events_1 VALUES ('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 3, 'planted')$$, '42501',
    'new row for relation "events_1" belongs to another client', 'attack: INSERT of a row of client B into a partition'));
SELECT pg_temp.attack(throws_ok($$TRUNCATE events_1$$, '42501',
    'permission denied to truncate tenant-scoped table "events_1"', 'attack: TRUNCATE of a partition'));
SELECT pg_temp.attack(throws_ok($$ALTER TABLE events_1 NO FORCE ROW LEVEL SECURITY$$, '42501',
    'permission denied to weaken tenant scoping of table "tenant_attack.events_1"',
    'attack: NO FORCE ROW LEVEL SECURITY on a partition'));
SELECT pg_temp.attack(is(pg_temp.b_intact(), 'client B intact', 'attack: client B''s partition rows are intact'));
COMMIT;
CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM (100) TO (200);
CREATE TABLE events_3 (client_id uuid NOT NULL, at int NOT NULL, what text);
ALTER TABLE events ATTACH PARTITION events_3 FOR VALUES FROM (200) TO (300);
:su;
INSERT INTO events VALUES
    ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 101, 'a-ev-101'), ('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 102, 'B-SECRET-ev-102'),
    ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 201, 'a-ev-201'), ('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 202, 'B-SECRET-ev-202');
:app;
BEGIN;
:enter_a;
SELECT pg_temp.attack(results_eq($$SELECT what FROM events_2$$, ARRAY['a-ev-101'],
    'attack: a partition created later is scoped when queried directly'));
SELECT pg_temp.attack(results_eq($$SELECT what FROM events_3$$, ARRAY['a-ev-201'],
    'attack: a table attached later is scoped when queried directly'));
SELECT pg_temp.attack(throws_ok($$DROP POLICY dbcore_tenant_isolation ON events_2$$, '42501',
    'permission denied to weaken tenant scoping of table "tenant_attack.events_2"',
    'attack: DROP POLICY on a partition created later'));
COMMIT;
ALTER TABLE events DETACH PARTITION events_3;
BEGIN;
:enter_a;
SELECT pg_temp.attack(results_eq($$SELECT what FROM events_3$$, ARRAY['a-ev-201'],
    'attack: a detached partition stays scoped'));
COMMIT;
DROP TABLE events_3;
:su;
SELECT pg_temp.b_snapshot() \gset

------------------------------------------------------------------------------
-- 11. Views and functions
------------------------------------------------------------------------------
:app;
CREATE VIEW v_orders AS SELECT * FROM orders;
CREATE VIEW v_barrier WITH (security_barrier) AS SELECT * FROM orders WHERE amount >= 0;
CREATE VIEW v_leaky AS SELECT * FROM orders WHERE tattle(secret) IS NOT NULL;
CREATE FUNCTION definer_secrets() RETURNS text LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT string_agg(secret, ',' ORDER BY id) FROM tenant_attack.orders $$;
CREATE MATERIALIZED VIEW mv_orders AS SELECT id FROM orders WITH NO DATA;
:su;
-- Objects of roles with system-level authorization read across clients:
-- the documented exception.
CREATE FUNCTION tenant_attack.su_secrets() RETURNS text LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT string_agg(secret, ',' ORDER BY id) FROM tenant_attack.orders $$;
CREATE VIEW tenant_attack.v_bypass AS SELECT id, secret FROM tenant_attack.orders;
CREATE VIEW tenant_attack.v_bypass_invoker WITH (security_invoker) AS SELECT id, secret FROM tenant_attack.orders;
ALTER VIEW tenant_attack.v_bypass OWNER TO regress_attack_sys;
ALTER VIEW tenant_attack.v_bypass_invoker OWNER TO regress_attack_sys;
GRANT SELECT ON tenant_attack.v_bypass, tenant_attack.v_bypass_invoker TO regress_attack_app;
:app;
BEGIN;
:enter_a;
SET LOCAL enable_indexscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT pg_temp.attack(is(pg_temp.q($$SELECT string_agg(secret, ',' ORDER BY id) FROM v_orders$$), '101,102',
    'attack: a view owned by the application role is scoped'));
SELECT pg_temp.attack(is(pg_temp.q($$SELECT string_agg(secret, ',' ORDER BY id) FROM v_barrier WHERE tattle(secret) IS NOT NULL$$),
    '101,102', 'attack: a leaky function over a security_barrier view'));
SELECT pg_temp.attack(is(pg_temp.q($$SELECT string_agg(secret, ',' ORDER BY id) FROM v_leaky$$), '101,102',
    'attack: a leaky function in a view''s own WHERE'));
SELECT pg_temp.attack(is(pg_temp.q($$SELECT definer_secrets()$$), '101,102',
    'attack: a SECURITY DEFINER function owned by the application role is still scoped'));
SELECT pg_temp.attack(is(pg_temp.q($$SELECT string_agg(secret, ',' ORDER BY id) FROM v_bypass_invoker$$), '101,102',
    'attack: a security_invoker view owned by a BYPASSRLS role is scoped for its caller'));
SELECT is(su_secrets(), '101,102,B-SECRET-1,B-SECRET-2',
    'documented exception: a SECURITY DEFINER function owned by a superuser reads across clients');
SELECT is((SELECT count(*)::int FROM v_bypass), 4,
    'documented exception: so does a view owned by a BYPASSRLS role ...');
SELECT ok(EXISTS (SELECT 1 FROM dbcore.tenant_audit()
                   WHERE problem = 'view bypasses row level security' AND object = 'tenant_attack.v_bypass'),
          '... which tenant_audit reports');
SELECT ok(NOT EXISTS (SELECT 1 FROM dbcore.tenant_audit() WHERE object LIKE 'tenant_attack.v\_%' AND object <> 'tenant_attack.v_bypass'),
          'tenant_audit does not report the security_invoker view, nor the application''s own views');
SELECT ok(EXISTS (SELECT 1 FROM dbcore.tenant_audit()
                   WHERE problem = 'materialized view over scoped table' AND object = 'tenant_attack.mv_orders'),
          'tenant_audit reports a materialized view over a scoped table');
COMMIT;
SELECT pg_temp.attack(throws_ok($$SELECT * FROM v_orders$$, '42501', 'no client scope is set',
    'attack: a view without a scope'));

------------------------------------------------------------------------------
-- 12. Statistics
------------------------------------------------------------------------------
CREATE STATISTICS orders_stats (mcv) ON client_id, secret FROM orders;
:su;
ANALYZE tenant_attack.orders;
SELECT ok(EXISTS (SELECT 1 FROM pg_stats WHERE schemaname = 'tenant_attack' AND tablename = 'orders'
                   AND attname = 'secret' AND histogram_bounds::text LIKE '%B-SECRET%'),
          'precondition: ANALYZE put client B''s values into the statistics (as a superuser sees them)');
SELECT ok(EXISTS (SELECT 1 FROM pg_stats_ext WHERE statistics_name = 'orders_stats'
                   AND most_common_vals::text LIKE '%B-SECRET%'),
          'precondition: ... and into the extended statistics');
:app;
SELECT pg_temp.attack(is_empty($$SELECT * FROM pg_stats WHERE schemaname = 'tenant_attack' AND tablename = 'orders'$$,
    'attack: pg_stats hides the scoped table''s statistics from its owner'));
SELECT pg_temp.attack(is_empty($$SELECT * FROM pg_stats_ext WHERE statistics_name = 'orders_stats'$$,
    'attack: pg_stats_ext hides the owner''s own extended statistics of the scoped table'));
SELECT pg_temp.attack(throws_ok($$SELECT * FROM pg_statistic$$, '42501', 'permission denied for table pg_statistic',
    'attack: pg_statistic'));
SELECT pg_temp.attack(throws_ok($$SELECT * FROM pg_statistic_ext_data$$, '42501',
    'permission denied for table pg_statistic_ext_data', 'attack: pg_statistic_ext_data'));

------------------------------------------------------------------------------
-- 13. Strict mode (signed client tokens)
------------------------------------------------------------------------------
:su;
SET dbcore.signing_keys = 'k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=';
SELECT dbcore.mint_client_token('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa') AS tok_a \gset
SELECT format('%s.%s.%s.%s.%s', p[1], p[2],
              pg_temp.b64url(convert_to('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'UTF8')), p[4], p[5]) AS tok_a_as_b,
       format('%s.%s.%s.%s.%s', p[1], p[2], p[3], p[4]::bigint + 60, p[5]) AS tok_a_later
  FROM (SELECT string_to_array(:'tok_a', '.') AS p) s \gset
SELECT is(split_part(pg_temp.hand_token('k1', 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=',
                                        'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', split_part(:'tok_a', '.', 4)::bigint), '.', 5),
          split_part(:'tok_a', '.', 5),
          'this file''s HMAC signs tokens exactly as dbcore does (so the hand-made tokens below test what they say)');
:app;
SELECT pg_temp.attack(throws_ok($$SET dbcore.client_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'$$, '42501',
    'a signed client token is required to set dbcore.client_id', 'attack: strict mode: a plain SET'));
SELECT pg_temp.attack(throws_ok($$SELECT dbcore.set_client('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'::uuid)$$, '42501',
    'a signed client token is required to set dbcore.client_id', 'attack: strict mode: set_client() with a plain id'));
SELECT pg_temp.attack(throws_ok($$SELECT set_config('dbcore.client_id', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', true)$$,
    '42501', 'a signed client token is required to set dbcore.client_id', 'attack: strict mode: set_config()'));
SELECT pg_temp.attack(throws_ok(format('SELECT dbcore.set_client_token(%L)', :'tok_a_as_b'), '42501',
    'invalid client token signature', 'attack: strict mode: client A''s token altered to name client B'));
SELECT pg_temp.attack(throws_ok(format('SELECT dbcore.set_client_token(%L)', :'tok_a_later'), '42501',
    'invalid client token signature', 'attack: strict mode: client A''s token with a later expiry'));
SELECT pg_temp.attack(throws_ok(
    $$SELECT dbcore.set_client_token(pg_temp.hand_token('k1', 'QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=',
                                                        'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', pg_temp.in_secs(60)))$$,
    '42501', 'invalid client token signature', 'attack: strict mode: a token signed with the attacker''s own secret'));
SELECT pg_temp.attack(throws_ok(
    $$SELECT dbcore.set_client_token(pg_temp.hand_token('k9', 'QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=',
                                                        'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', pg_temp.in_secs(60)))$$,
    '42501', 'client token is signed with unknown key "k9"', 'attack: strict mode: a token naming a key of its own'));
SELECT pg_temp.attack(throws_ok(
    $$SELECT dbcore.set_client_token(pg_temp.hand_token('k1', 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=',
                                                        'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 1700000000))$$,
    '42501', 'client token has expired', 'attack: strict mode: replaying an expired token'));
SELECT pg_temp.attack(throws_ok(
    $$SELECT dbcore.set_client_token(pg_temp.hand_token('k1', 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=',
                                                        'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', pg_temp.in_secs(86400)))$$,
    '42501', 'client token lifetime exceeds dbcore.token_max_ttl', 'attack: strict mode: a token that lives too long'));
SELECT pg_temp.attack(throws_ok($$SELECT dbcore.mint_client_token('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb')$$, '42501',
    'permission denied for function mint_client_token', 'attack: strict mode: minting a token'));
SELECT pg_temp.attack(throws_ok($$SET dbcore.signing_keys = ''$$, '42501',
    'permission denied to set parameter "dbcore.signing_keys"', 'attack: strict mode: switching it off'));
SELECT pg_temp.attack(throws_ok($$SET dbcore.token_max_ttl = '7d'$$, '42501',
    'permission denied to set parameter "dbcore.token_max_ttl"', 'attack: strict mode: a longer token lifetime'));
SELECT pg_temp.attack(throws_ok($$SHOW dbcore.signing_keys$$, '42501', NULL,  -- (PostgreSQL's message, worded differently since 16)
    'attack: strict mode: SHOW the keys'));
SELECT pg_temp.attack(throws_ok($$SELECT current_setting('dbcore.signing_keys')$$, '42501', NULL,  -- (PostgreSQL's message, worded differently since 16)
    'attack: strict mode: current_setting() of the keys'));
SELECT pg_temp.attack(is_empty($$SELECT * FROM pg_settings WHERE name = 'dbcore.signing_keys'$$,
    'attack: strict mode: the keys in pg_settings'));
BEGIN;
SELECT is(dbcore.set_client_token(:'tok_a'), 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
    'strict mode: a valid token minted for client A enters its scope');
SELECT pg_temp.attack(results_eq($$SELECT secret FROM orders ORDER BY id$$, ARRAY['101', '102'],
    'attack: strict mode: ... which shows client A''s rows only'));
COMMIT;
-- Caveat: RESET ALL resets superuser-only settings too, to the value the
-- session started with.  A strict mode that exists only as a session SET
-- (like this test's) is lifted by it; from postgresql.conf or ALTER SYSTEM,
-- as documented, it would come back.
RESET ALL;
SET search_path = tenant_attack, public;
SET client_min_messages = warning;
BEGIN;
SELECT is(pg_temp.q($$SELECT set_config('dbcore.client_id', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', true)$$),
    'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
    'caveat: the application''s RESET ALL lifts a strict mode set only with SET; configure dbcore.signing_keys in postgresql.conf or with ALTER SYSTEM');
COMMIT;
:su;
RESET dbcore.signing_keys;

------------------------------------------------------------------------------
-- 14. Fresh sessions: a scope planted before dbcore's library is loaded
--
-- Without shared_preload_libraries, dbcore.client_id is an untyped
-- placeholder until the first dbcore function runs in a session; a plain
-- SET then is checked by nobody and not cleared at COMMIT.  Once loaded,
-- dbcore must treat such a leftover as no scope, also after the first
-- transaction that tried to use it failed and rolled back (a cross-tenant
-- leak through poolers until commit 3183a80).  Each probe below is a new
-- login of the application role (dblink), sharing nothing with this session.
------------------------------------------------------------------------------
:su;
SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'dblink') AS have_dblink,
       NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'dblink') AS created_dblink,
       format('host=%s port=%s dbname=%s user=regress_attack_app',
              split_part(current_setting('unix_socket_directories'), ',', 1),
              current_setting('port'), current_database()) AS fresh_conn \gset
\if :have_dblink
CREATE EXTENSION IF NOT EXISTS dblink SCHEMA public;
SELECT pg_temp.can_connect(:'fresh_conn') AS fresh_ok \gset
\else
\set fresh_ok false
\endif
\set probe 'SELECT count(*) || '' rows: '' || coalesce(string_agg(secret, '','' ORDER BY id), '''') FROM tenant_attack.orders'
\set plant 'SET dbcore.client_id = ''bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'''
\if :fresh_ok
SELECT pg_temp.attack(pg_temp.unscoped(pg_temp.fresh_session(
        format('%s options=''-c dbcore.client_id=bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb''', :'fresh_conn'),
        ARRAY[:'probe']),
    'attack: dbcore.client_id in the connection''s startup options'));
SELECT pg_temp.attack(pg_temp.unscoped(pg_temp.fresh_session(:'fresh_conn', ARRAY[:'plant', :'probe']),
    'attack: a plain SET in a fresh session (library not loaded yet) is no scope for the next statement'));
SELECT pg_temp.attack(pg_temp.unscoped(pg_temp.fresh_session(:'fresh_conn', ARRAY[:'plant', :'probe', :'probe']),
    'attack: ... nor, once that statement has failed and rolled back, for the one after it'));
SELECT pg_temp.attack(pg_temp.unscoped(pg_temp.fresh_session(:'fresh_conn',
        ARRAY[:'plant', 'BEGIN', 'SAVEPOINT s', :'probe', 'ROLLBACK TO SAVEPOINT s', :'probe']),
    'attack: ... nor after ROLLBACK TO SAVEPOINT'));
SELECT pg_temp.attack(pg_temp.unscoped(pg_temp.fresh_session(:'fresh_conn',
        ARRAY['BEGIN', $$SELECT set_config('dbcore.client_id', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', false)$$, 'COMMIT',
              'BEGIN',
              $sql$DO $d$ BEGIN PERFORM count(*) FROM tenant_attack.orders; EXCEPTION WHEN OTHERS THEN NULL; END $d$$sql$,
              :'probe']),
    'attack: ... nor after set_config(..., false) in a committed block and an error caught in PL/pgSQL'));
\else
SELECT skip('no dblink connection as the application role', 5);
\endif

------------------------------------------------------------------------------
-- 15. History and deleted rows
--
-- An audited, soft-delete, scoped table: client B's history and B's
-- deleted rows are as closed to client A as B's live rows.  For this
-- section the application role may see marked rows of its own client
-- (EXECUTE on show_deleted(), restore_deleted(), purge_deleted()).
------------------------------------------------------------------------------
:su;
GRANT EXECUTE ON FUNCTION dbcore.show_deleted(boolean), dbcore.restore_deleted(regclass, timestamptz),
                          dbcore.purge_deleted(regclass, interval) TO regress_attack_app;
:app;
CREATE TABLE ledger (id int NOT NULL, client_id uuid NOT NULL, memo text, deleted_at timestamptz,
                     PRIMARY KEY (client_id, id));
SELECT dbcore.enable_tenant_scoping('ledger') \gset
SELECT dbcore.enable_soft_delete('ledger') \gset
SELECT dbcore.enable_audit('ledger') \gset
BEGIN;
:enter_a;
INSERT INTO ledger (id, memo) VALUES (1, 'a-memo-1'), (2, 'a-memo-2');
DELETE FROM ledger WHERE id = 2;
COMMIT;
BEGIN;
:enter_b;
SELECT dbcore.set_actor('b-user');
INSERT INTO ledger (id, memo) VALUES (1, 'B-SECRET-memo-1'), (2, 'B-SECRET-memo-2');
UPDATE ledger SET memo = 'B-SECRET-memo-1, edited' WHERE id = 1;
DELETE FROM ledger WHERE id = 2;
SELECT pg_current_xact_id()::text AS b_xact, now() AS b_mark \gset
COMMIT;
:su;
-- Client B's history and marked rows, as a superuser sees them.
CREATE FUNCTION pg_temp.b_ledger() RETURNS text LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS $$
    SELECT concat_ws(' | ',
        (SELECT string_agg(concat_ws(':', id, memo, deleted_at IS NOT NULL), ',' ORDER BY id)
           FROM tenant_attack.ledger WHERE client_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'),
        (SELECT count(*) FROM dbcore.audit_log WHERE client_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'))
$$;
SELECT pg_temp.b_ledger() AS b_ledger_before \gset
:app;
BEGIN;
:enter_a;
SELECT pg_temp.attack(pg_temp.safe(pg_temp.q(
    $$SELECT string_agg(concat_ws(':', op, old_values, new_values, actor), ',' ORDER BY id) FROM dbcore.audit_log$$),
    'attack: reading the whole log in scope A shows nothing of client B''s'));
SELECT pg_temp.attack(is(pg_temp.q(
    $$SELECT count(*)::text FROM dbcore.audit_log WHERE client_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'$$),
    '0', 'attack: WHERE client_id = <client B> in the log finds nothing'));
SELECT pg_temp.attack(is(pg_temp.q(
    $$SELECT count(*)::text FROM dbcore.audit_history('ledger', '(bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb,1)')$$),
    '0', 'attack: audit_history() of client B''s row'));
SELECT pg_temp.attack(is(pg_temp.q(format($$SELECT count(*)::text FROM dbcore.audit_transaction(%L)$$, :'b_xact')),
    '0', 'attack: audit_transaction() of client B''s transaction'));
SELECT pg_temp.attack(is(pg_temp.q(
    $$SELECT count(*)::text FROM dbcore.audit_log WHERE tattle(coalesce(old_values::text, '') || coalesce(new_values::text, '')) IS NOT NULL$$),
    pg_temp.q($$SELECT count(*)::text FROM dbcore.audit_log$$),
    'attack: a leaky function over the log never sees client B''s rows'));
SELECT pg_temp.attack(pg_temp.safe(pg_temp.q(
    $$SELECT string_agg(memo, ',') FROM ledger$$), 'attack: client B''s rows, marked or not, stay hidden'));
SELECT dbcore.show_deleted();
SELECT pg_temp.attack(results_eq($$SELECT id, memo FROM ledger ORDER BY id$$,
    $$VALUES (1, 'a-memo-1'), (2, 'a-memo-2')$$,
    'attack: with show_deleted(), client A sees its own marked rows only'));
SELECT pg_temp.attack(is(pg_temp.outcome(format($$SELECT dbcore.restore_deleted('ledger', %L)$$, :'b_mark'),
                                         'SELECT pg_temp.b_ledger()'),
    :'b_ledger_before', 'attack: restore_deleted() of client B''s delete restores nothing of B''s'));
SELECT pg_temp.attack(is(pg_temp.outcome($$SELECT dbcore.purge_deleted('ledger', '0 seconds')$$,
                                         'SELECT pg_temp.b_ledger()'),
    :'b_ledger_before', 'attack: purge_deleted() in scope A purges nothing of client B''s'));
SELECT pg_temp.attack(is(pg_temp.outcome(
    $$UPDATE ledger SET deleted_at = NULL WHERE client_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'$$,
    'SELECT pg_temp.b_ledger()'),
    :'b_ledger_before', 'attack: un-marking client B''s rows by hand'));
SELECT pg_temp.attack(is(pg_temp.outcome($$DELETE FROM ledger WHERE client_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'$$,
                                         'SELECT pg_temp.b_ledger()'),
    :'b_ledger_before', 'attack: marking client B''s rows'));
COMMIT;
-- Without a scope, a scoped table's history is closed like the table.
SELECT pg_temp.attack(throws_ok($$SELECT count(*) FROM dbcore.audit_log$$, '42501', 'no client scope is set',
    'attack: reading the log without a scope'));
SELECT pg_temp.attack(throws_ok(format($$SELECT * FROM dbcore.audit_transaction(%L)$$, :'b_xact'), '42501',
    'no client scope is set', 'attack: reading client B''s transaction without a scope'));
-- Altering or forging history.
SELECT pg_temp.attack(throws_ok($$UPDATE dbcore.audit_log SET new_values = '{}'$$, '42501',
    'permission denied for table audit_log', 'attack: rewriting history'));
SELECT pg_temp.attack(throws_ok($$DELETE FROM dbcore.audit_log WHERE client_id IS NOT NULL$$, '42501',
    'permission denied for table audit_log', 'attack: deleting history'));
SELECT pg_temp.attack(throws_ok($$TRUNCATE dbcore.audit_log$$, '42501', 'permission denied for table audit_log',
    'attack: TRUNCATE of the log'));
SELECT pg_temp.attack(throws_ok(
    $$INSERT INTO dbcore.audit_log (logged_at, xact_id, tbl, table_name, op, client_id, db_role)
      VALUES (now(), '1', 'ledger', 'tenant_attack.ledger', 'DELETE', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'postgres')$$,
    '42501', 'permission denied for table audit_log', 'attack: forging a log row for client B'));
SELECT pg_temp.attack(throws_ok($$SELECT dbcore.purge_audit('0 seconds')$$, '42501',
    'permission denied to purge dbcore''s audit log', 'attack: purging the log'));
SELECT pg_temp.attack(throws_ok($$SELECT dbcore.audit()$$, '39P01', NULL,
    'attack: calling the audit trigger function directly'));
-- A table of one's own, not scoped, whose rows name client B: its history
-- carries no client, so it never shows as client B's.
CREATE TABLE plant (id int PRIMARY KEY, client_id uuid, memo text);
SELECT dbcore.enable_audit('plant') \gset
INSERT INTO plant VALUES (1, 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'planted');
SELECT pg_temp.attack(is(pg_temp.q($$SELECT coalesce(client_id, 'none') FROM dbcore.audit_history('plant', '1')$$),
    'none', 'attack: an unscoped table''s rows cannot pose as client B''s history'));
-- The actor: the application's word, for one transaction only.
SELECT pg_temp.attack(throws_ok($$ALTER ROLE regress_attack_app SET dbcore.actor = 'admin'$$, '42501', NULL,
    'attack: planting an actor as a role default'));
SET dbcore.actor = 'admin';
SELECT pg_temp.attack(is(current_setting('dbcore.actor'), '', 'attack: a plain SET of the actor ends with its transaction'));
BEGIN;
:enter_a;
SET LOCAL dbcore.actor = 'impostor';
UPDATE ledger SET memo = 'a-memo-1, edited' WHERE id = 1;
SELECT pg_temp.attack(is((SELECT db_role FROM dbcore.audit_log WHERE xact_id = pg_current_xact_id()),
    'regress_attack_app', 'attack: a forged actor leaves the recorded database role as it is'));
COMMIT;
-- Disabling the audit trail without authority.
SELECT pg_temp.attack(throws_ok($$SELECT dbcore.disable_audit('ledger')$$, '42501',
    'permission denied to disable the audit trail of table "ledger"', 'attack: disable_audit() as the owner'));
SELECT pg_temp.attack(throws_ok($$SELECT dbcore._audit_unregister('ledger')$$, '42501', NULL,
    'attack: unregistering the table from the audit'));
SELECT pg_temp.attack(throws_ok($$DROP TRIGGER dbcore_audit ON ledger$$, '42501',
    'permission denied to weaken the audit trail of table "tenant_attack.ledger"', 'attack: DROP TRIGGER dbcore_audit'));
SELECT pg_temp.attack(throws_ok($$ALTER TABLE ledger DISABLE TRIGGER dbcore_audit$$, '42501',
    'permission denied to weaken the audit trail of table "tenant_attack.ledger"', 'attack: DISABLE TRIGGER dbcore_audit'));
SELECT pg_temp.attack(throws_ok($$ALTER TABLE ledger DISABLE TRIGGER USER$$, '42501', NULL,
    'attack: DISABLE TRIGGER USER'));
SELECT pg_temp.attack(throws_ok(
    $$CREATE OR REPLACE TRIGGER dbcore_audit AFTER INSERT OR UPDATE OR DELETE ON ledger
      FOR EACH ROW EXECUTE FUNCTION dbcore.audit('memo')$$, '42501',
    'permission denied to weaken the audit trail of table "tenant_attack.ledger"', 'attack: leaving a column out by redefining the trigger'));
SELECT pg_temp.attack(throws_ok($$DELETE FROM dbcore.audited_tables$$, '42501', NULL,
    'attack: emptying the registry of audited tables'));
SELECT pg_temp.attack(throws_ok($$SELECT dbcore.enable_audit('ledger', ARRAY['memo'])$$, '55000', NULL,
    'attack: re-enabling with a column left out'));
-- Seeing deleted rows without being granted it.
:su;
REVOKE EXECUTE ON FUNCTION dbcore.show_deleted(boolean), dbcore.restore_deleted(regclass, timestamptz),
                           dbcore.purge_deleted(regclass, interval) FROM regress_attack_app;
:app;
BEGIN;
:enter_a;
SELECT pg_temp.attack(throws_ok($$SELECT dbcore.show_deleted()$$, '42501', NULL, 'attack: show_deleted() ungranted'));
COMMIT;
BEGIN;
:enter_a;
SELECT pg_temp.attack(throws_ok($$SET LOCAL dbcore.show_deleted = on$$, '42501', NULL,
    'attack: SET LOCAL dbcore.show_deleted'));
COMMIT;
SELECT pg_temp.attack(throws_ok($$ALTER ROLE regress_attack_app SET dbcore.show_deleted = on$$, '42501', NULL,
    'attack: dbcore.show_deleted as a role default'));
BEGIN;
:enter_a;
SELECT pg_temp.attack(is(pg_temp.q($$SELECT count(*)::text FROM ledger$$), '1',
    'attack: marked rows stay hidden from the owner'));
SELECT pg_temp.attack(throws_ok($$INSERT INTO ledger (id, memo, deleted_at) VALUES (9, 'x', now())$$, '42501', NULL,
    'attack: writing a marked row'));
COMMIT;
:su;
SELECT is(pg_temp.b_ledger(), :'b_ledger_before', 'client B''s ledger and history are as they were');

------------------------------------------------------------------------------
-- Summary and clean-up
------------------------------------------------------------------------------
:su;
SELECT diag(format('tenant attack suite: %s attacks tried, %s succeeded',
                   count(*), count(*) FILTER (WHERE line LIKE 'not ok%')))
  FROM pg_temp.attack_log;
SELECT diag('succeeded: ' || regexp_replace(split_part(line, E'\n', 1), '^.* - attack: | # TODO .*$', '', 'g')
            || CASE WHEN split_part(line, E'\n', 1) LIKE '%# TODO%' THEN ' (known hole, TODO)' ELSE '' END)
  FROM pg_temp.attack_log WHERE line LIKE 'not ok%' ORDER BY n;
SELECT * FROM finish();

RESET search_path;
DROP SCHEMA tenant_attack CASCADE;
DROP OWNED BY regress_attack_app, regress_attack_sys;
SELECT dbcore.purge_audit('0 seconds') >= 0 AS purged \gset
DROP ROLE regress_attack_sys;
DROP ROLE regress_attack_app;
\if :created_dbcore
DROP EXTENSION dbcore;
\endif
\if :have_dblink
\if :created_dblink
DROP EXTENSION dblink;
\endif
\endif
