--
-- Strict mode: client scopes entered with signed tokens only.
--
-- Tokens are minted by a superuser (dbcore.mint_client_token) and, to check
-- the documented format independently, by pgcrypto's HMAC in plain SQL;
-- they are verified as an ordinary application role.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dbcore;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
DROP ROLE IF EXISTS regress_dbcore_tok_app;
RESET client_min_messages;
CREATE ROLE regress_dbcore_tok_app;
GRANT USAGE ON SCHEMA dbcore TO regress_dbcore_tok_app;
CREATE SCHEMA tok_test AUTHORIZATION regress_dbcore_tok_app;
SET search_path = tok_test, public;
LOAD 'dbcore';

-- base64url without padding, and a token built by hand following the
-- documented format: v1.<kid>.<b64url(client id)>.<expiry>.<b64url(mac)>
CREATE FUNCTION pg_temp.b64url(b bytea) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT pg_catalog.translate(pg_catalog.rtrim(pg_catalog.replace(pg_catalog.encode(b, 'base64'), E'\n', ''), '='), '+/', '-_')
$$;
CREATE FUNCTION pg_temp.hand_token(kid text, secret_b64 text, client text, expires bigint)
RETURNS text LANGUAGE sql AS $$
  SELECT m || '.' || pg_temp.b64url(public.hmac(pg_catalog.convert_to(m, 'UTF8'),
                                                pg_catalog.decode(secret_b64, 'base64'), 'sha256'))
    FROM (SELECT 'v1.' || kid || '.' || pg_temp.b64url(pg_catalog.convert_to(client, 'UTF8'))
                 || '.' || expires AS m) s
$$;
CREATE FUNCTION pg_temp.in_secs(secs int) RETURNS bigint LANGUAGE sql AS $$
  SELECT pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()))::bigint + secs
$$;
-- What a token's parts say, without printing the token itself.
CREATE FUNCTION pg_temp.token_parts(token text) RETURNS text LANGUAGE sql AS $$
  SELECT pg_catalog.format('%s parts, version %s, key %s, client %s, signature of %s characters',
                           pg_catalog.array_length(p, 1), p[1], p[2],
                           pg_catalog.convert_from(pg_catalog.decode(
                               pg_catalog.rpad(pg_catalog.translate(p[3], '-_', '+/'),
                                               ((pg_catalog.length(p[3]) + 3) / 4) * 4, '='), 'base64'), 'UTF8'),
                           pg_catalog.length(p[5]))
    FROM (SELECT pg_catalog.string_to_array(token, '.') AS p) s
$$;

------------------------------------------------------------------------------
-- dbcore.signing_keys: superuser only, hidden, validated
------------------------------------------------------------------------------
SET dbcore.signing_keys = 'k1';
\echo :LAST_ERROR_SQLSTATE
SET dbcore.signing_keys = 'bad key!:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=';
SET dbcore.signing_keys = 'k1:c2hvcnQ=';
SET dbcore.signing_keys = 'k1:not*base64';
SET dbcore.signing_keys = 'k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=,k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=';
SET dbcore.signing_keys = 'k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=,';
SET dbcore.signing_keys = ',k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=';
-- no keys: strict mode is off and tokens cannot be verified or minted
SELECT dbcore.mint_client_token('11111111-1111-1111-1111-111111111111');
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT dbcore.set_client_token(pg_temp.hand_token('k1', 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=',
                                                  '11111111-1111-1111-1111-111111111111', pg_temp.in_secs(60)));
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- keys in standard base64 (padded) and base64url (unpadded) both work
SET dbcore.signing_keys = ' k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY= , k2:ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTB-fn4';
SHOW dbcore.token_max_ttl;
-- This cluster does not preload dbcore, so tenant_audit warns that the keys
-- are readable as a placeholder in sessions that have not loaded dbcore yet.
SELECT problem, object FROM dbcore.tenant_audit() WHERE problem = 'signing keys exposed';

-- Non-superusers can neither change nor read the keys.
SET ROLE regress_dbcore_tok_app;
-- (PostgreSQL's own message, worded differently since 16: the SQLSTATE only)
\set VERBOSITY sqlstate
SHOW dbcore.signing_keys;
\echo :LAST_ERROR_SQLSTATE
SELECT pg_catalog.current_setting('dbcore.signing_keys');
\set VERBOSITY default
SELECT count(*) FROM pg_catalog.pg_settings WHERE name = 'dbcore.signing_keys';
SELECT count(*) FROM pg_catalog.pg_settings WHERE name = 'dbcore.token_max_ttl';
SET dbcore.signing_keys = '';
\echo :LAST_ERROR_SQLSTATE
RESET dbcore.signing_keys;
SET dbcore.token_max_ttl = 86400;
-- nor mint tokens
SELECT dbcore.mint_client_token('11111111-1111-1111-1111-111111111111');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

------------------------------------------------------------------------------
-- Minting (superusers)
------------------------------------------------------------------------------
SELECT pg_temp.token_parts(dbcore.mint_client_token('11111111-1111-1111-1111-111111111111'));
SELECT pg_temp.token_parts(dbcore.mint_client_token('tenant/ä', '1 minute', 'k2'));
SELECT dbcore.mint_client_token(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.mint_client_token('x', NULL);
SELECT dbcore.mint_client_token('');
SELECT dbcore.mint_client_token('x', '0 seconds');
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.mint_client_token('x', '-5 minutes');
SELECT dbcore.mint_client_token('x', '2 hours');
SELECT dbcore.mint_client_token('x', '1 minute', 'k3');
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.mint_client_token(pg_catalog.repeat('x', 900));
-- the privilege is revoked, and checked inside as well
SELECT pg_catalog.has_function_privilege('regress_dbcore_tok_app',
         'dbcore.mint_client_token(text, interval, text)', 'EXECUTE');

-- A token is a function of its inputs: the same as one made by hand.
SELECT pg_catalog.split_part(dbcore.mint_client_token('42', '10 minutes', 'k1'), '.', 5)
     = pg_catalog.split_part(pg_temp.hand_token('k1', 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=', '42',
                             pg_catalog.split_part(dbcore.mint_client_token('42', '10 minutes', 'k1'), '.', 4)::bigint), '.', 5)
       AS same_signature;

-- Test tokens, kept in psql variables so that they never appear in the output.
SELECT dbcore.mint_client_token('11111111-1111-1111-1111-111111111111') AS tok_a,
       dbcore.mint_client_token('22222222-2222-2222-2222-222222222222', '2 minutes', 'k2') AS tok_b,
       dbcore.mint_client_token('7') AS tok_7,
       pg_temp.hand_token('k1', 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=',
                          '33333333-3333-3333-3333-333333333333', pg_temp.in_secs(120)) AS tok_hand,
       pg_temp.hand_token('k1', 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=',
                          '11111111-1111-1111-1111-111111111111', 1000000000) AS tok_expired,
       pg_temp.hand_token('k1', 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=',
                          '11111111-1111-1111-1111-111111111111', pg_temp.in_secs(86400)) AS tok_long,
       pg_temp.hand_token('k9', 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=',
                          '11111111-1111-1111-1111-111111111111', pg_temp.in_secs(60)) AS tok_unknown,
       -- signed with k2's secret but naming k1: forged
       pg_temp.hand_token('k1', 'ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTB+fn4=',
                          '11111111-1111-1111-1111-111111111111', pg_temp.in_secs(60)) AS tok_forged,
       -- an attacker's own secret
       pg_temp.hand_token('k1', 'QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=',
                          '11111111-1111-1111-1111-111111111111', pg_temp.in_secs(60)) AS tok_own_key
\gset
-- altered copies of a valid token: another client, a later expiry, another key id
SELECT pg_catalog.format('%s.%s.%s.%s.%s', p[1], p[2],
                         pg_temp.b64url(pg_catalog.convert_to('22222222-2222-2222-2222-222222222222', 'UTF8')),
                         p[4], p[5]) AS tok_other_client,
       pg_catalog.format('%s.%s.%s.%s.%s', p[1], p[2], p[3], p[4]::bigint + 60, p[5]) AS tok_later,
       pg_catalog.format('%s.%s.%s.%s.%s', p[1], 'k2', p[3], p[4], p[5]) AS tok_other_kid,
       pg_catalog.format('%s.%s.%s.%s.%s%s', p[1], p[2], p[3], p[4],
                         CASE WHEN pg_catalog.left(p[5], 1) = 'A' THEN 'B' ELSE 'A' END,
                         pg_catalog.substr(p[5], 2)) AS tok_bad_mac
  FROM (SELECT pg_catalog.string_to_array(:'tok_a', '.') AS p) s
\gset

------------------------------------------------------------------------------
-- Entering a scope as the application role
------------------------------------------------------------------------------
SET ROLE regress_dbcore_tok_app;
CREATE TABLE notes (client_id uuid, body text);
SELECT dbcore.enable_tenant_scoping('notes');
CREATE TABLE counters (client_id bigint, n int);
SELECT dbcore.enable_tenant_scoping('counters');

-- valid tokens, by every path
BEGIN;
SELECT dbcore.set_client_token(:'tok_a');
SELECT dbcore.current_client_id();
INSERT INTO notes (body) VALUES ('from a');
COMMIT;
BEGIN;
SET LOCAL dbcore.client_id = :'tok_b';
SELECT dbcore.current_client_id(), dbcore.current_client_id_text();
INSERT INTO notes (body) VALUES ('from b');
SELECT body FROM notes;
COMMIT;
BEGIN;
SELECT pg_catalog.set_config('dbcore.client_id', :'tok_hand', true) IS NOT NULL AS set;
SELECT dbcore.current_client_id();
SELECT body FROM notes;
COMMIT;
BEGIN;
SELECT dbcore.set_client_token(:'tok_7');
INSERT INTO counters (n) VALUES (1) RETURNING client_id, n;
COMMIT;
-- a plain SET with a token also ends with its transaction
BEGIN;
SET dbcore.client_id = :'tok_a';
SELECT body FROM notes;
COMMIT;
SELECT body FROM notes;
\echo :LAST_ERROR_SQLSTATE

-- Refused: a plain client id, and every bad token, with distinct errors.
SET dbcore.client_id = '11111111-1111-1111-1111-111111111111';
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.set_client('11111111-1111-1111-1111-111111111111'::uuid);
SELECT pg_catalog.set_config('dbcore.client_id', '7', true);
SELECT dbcore.set_client_token(:'tok_expired');
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.set_client_token(:'tok_long');
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.set_client_token(:'tok_unknown');
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.set_client_token(:'tok_forged');
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.set_client_token(:'tok_own_key');
SELECT dbcore.set_client_token(:'tok_other_client');
SELECT dbcore.set_client_token(:'tok_later');
SELECT dbcore.set_client_token(:'tok_other_kid');
SELECT dbcore.set_client_token(:'tok_bad_mac');
SET dbcore.client_id = :'tok_forged';
-- malformed
SELECT dbcore.set_client_token(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.set_client_token('');
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.set_client_token('11111111-1111-1111-1111-111111111111');
SELECT dbcore.set_client_token('v1.k1.MTE');
\echo :LAST_ERROR_SQLSTATE
SELECT dbcore.set_client_token('v1.k1.MTE.1.2.3');
SELECT dbcore.set_client_token('v1..MTE.1700000000.' || pg_catalog.repeat('A', 43));
SELECT dbcore.set_client_token('v1.k1.!!!.1700000000.' || pg_catalog.repeat('A', 43));
SELECT dbcore.set_client_token('v1.k1..1700000000.' || pg_catalog.repeat('A', 43));
SELECT dbcore.set_client_token('v1.k1.AA.1700000000.' || pg_catalog.repeat('A', 43));
SELECT dbcore.set_client_token('v1.k1.MTE.17e8.' || pg_catalog.repeat('A', 43));
SELECT dbcore.set_client_token('v1.k1.MTE.1700000000.' || pg_catalog.repeat('A', 42));
SELECT dbcore.set_client_token('v1.k1.MTE.1700000000.' || pg_catalog.repeat('A', 42) || 'B');
-- nothing was set by any of them
SHOW dbcore.client_id;

-- Superusers may still set plain client ids in strict mode.
RESET ROLE;
BEGIN;
SELECT dbcore.set_client('11111111-1111-1111-1111-111111111111'::uuid);
SELECT dbcore.current_client_id();
ROLLBACK;

------------------------------------------------------------------------------
-- Lifetime cap and key rotation
------------------------------------------------------------------------------
SET dbcore.token_max_ttl = '1min';
SET ROLE regress_dbcore_tok_app;
-- tok_b (2 minutes) now lives too long; tok_a (5 minutes) as well
SELECT dbcore.set_client_token(:'tok_b');
RESET ROLE;
RESET dbcore.token_max_ttl;
-- rotate k2 out: its tokens are refused
SET dbcore.signing_keys = 'k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=';
SET ROLE regress_dbcore_tok_app;
BEGIN;
SELECT dbcore.set_client_token(:'tok_a') IS NOT NULL AS k1_still_valid;
ROLLBACK;
SELECT dbcore.set_client_token(:'tok_b');
RESET ROLE;

------------------------------------------------------------------------------
-- Parallel workers restore a token scope without verifying it again
------------------------------------------------------------------------------
SET ROLE regress_dbcore_tok_app;
CREATE TABLE tok_many (client_id uuid, n int);
RESET ROLE;
INSERT INTO tok_test.tok_many
  SELECT CASE WHEN g % 2 = 0 THEN '11111111-1111-1111-1111-111111111111'::uuid
              ELSE '22222222-2222-2222-2222-222222222222'::uuid END, g
    FROM pg_catalog.generate_series(1, 20000) g;
ANALYZE tok_test.tok_many;
SET ROLE regress_dbcore_tok_app;
SELECT dbcore.enable_tenant_scoping('tok_many');
-- debug_parallel_query was force_parallel_mode before PostgreSQL 16
SELECT CASE WHEN pg_catalog.current_setting('server_version_num')::int >= 160000
            THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END AS force_parallel \gset
CREATE FUNCTION pg_temp.plan(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE 'EXPLAIN (COSTS OFF) ' || query;
END $$;
BEGIN;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL :force_parallel = on;
SELECT dbcore.set_client_token(:'tok_a');
SELECT count(*) FILTER (WHERE line ~ '->  Gather') AS gather,
       count(*) FILTER (WHERE line ~ 'Parallel Seq Scan on tok_many') AS parallel_scan
  FROM pg_temp.plan('SELECT count(*) FROM tok_many') AS line;
SELECT count(*), count(DISTINCT client_id), min(n) % 2 AS parity FROM tok_many;
COMMIT;
RESET ROLE;

------------------------------------------------------------------------------
-- Clean up
------------------------------------------------------------------------------
RESET dbcore.signing_keys;
RESET search_path;
DROP SCHEMA tok_test CASCADE;
DROP OWNED BY regress_dbcore_tok_app;
DROP ROLE regress_dbcore_tok_app;
DROP EXTENSION pgcrypto;
-- Leave a clean database for the tests that follow.
SET client_min_messages = warning;
DROP EXTENSION dbcore CASCADE;
RESET client_min_messages;
