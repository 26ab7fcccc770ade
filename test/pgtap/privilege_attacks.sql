-- pgTAP: the privilege attack suite.  dbcore is installed by a superuser and
-- owns event triggers, a registry and a ledger; no code that a user defined
-- may ever run with any identity but that user's.
--
-- regress_priv_mallory is an ordinary role with USAGE on schema dbcore and
-- EXECUTE on the migration functions (what the README asks of a migration
-- role).  She owns schema priv_attack and plants code everywhere dbcore
-- might evaluate it: views, functions in select lists, domain checks,
-- defaults, index expressions, CHECK constraints, policies, triggers, and
-- look-alike functions, operators and tables in her schema and in pg_temp.
-- Every piece of planted code calls priv_witness.witness(), which counts
-- where it ran: as mallory (fine, and sometimes required: it shows the code
-- was reachable) or as anyone else (an escalation).  The counters are
-- sequences, so a witness survives the rollback of a command that failed
-- after the planted code ran.  Each attack asserts, after the fact, that no
-- escalation happened; the first checks show that the witness would see
-- one.  Runs in one transaction and rolls back.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS dbcore;
LOAD 'dbcore';

SELECT plan(64);

------------------------------------------------------------------------------
-- The witness
------------------------------------------------------------------------------
CREATE ROLE regress_priv_mallory;
CREATE ROLE regress_priv_victim;
CREATE ROLE regress_priv_sys BYPASSRLS;
CREATE ROLE regress_priv_nousage;
GRANT USAGE ON SCHEMA dbcore TO regress_priv_mallory, regress_priv_victim, regress_priv_sys;
GRANT EXECUTE ON FUNCTION dbcore.apply_migration(text, text, text, text),
                          dbcore.revert_migration(text),
                          dbcore.begin_migration(text, text, text, text),
                          dbcore.finish_migration(text),
                          dbcore.repair_migration(text),
                          dbcore.baseline(text),
                          dbcore.migration_status(),
                          dbcore.verify_migrations(text[], text[]),
                          dbcore.import_migration(text, text, timestamptz, text, text, text, text, float8, text),
                          dbcore.migration_imports()
   TO regress_priv_mallory;
CREATE SCHEMA priv_witness;
CREATE SEQUENCE priv_witness.ran_as_mallory;
CREATE SEQUENCE priv_witness.ran_as_other;
CREATE SEQUENCE priv_witness.planted_ran;
GRANT USAGE ON SCHEMA priv_witness TO PUBLIC;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA priv_witness TO PUBLIC;
CREATE FUNCTION priv_witness.witness(what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF current_user = 'regress_priv_mallory' THEN
        PERFORM nextval('priv_witness.ran_as_mallory');
    ELSE
        PERFORM nextval('priv_witness.ran_as_other');
        RAISE WARNING 'attack code % ran as %', what, current_user;
    END IF;
END
$$;
-- Look-alikes of names dbcore uses: they must never run at all.
CREATE FUNCTION priv_witness.planted(what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nextval('priv_witness.planted_ran');
    PERFORM priv_witness.witness(what);
    RAISE WARNING 'planted look-alike % ran as %', what, current_user;
END
$$;
CREATE FUNCTION pg_temp.count_of(seq regclass) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM %s', seq) INTO n;
    RETURN n;
END
$$;
CREATE TEMP TABLE checkpoint AS
    SELECT 0::bigint AS other, 0::bigint AS mallory, 0::bigint AS planted;

-- pg_temp.attack(role, sql, sqlstate, description): runs sql as role (in a
-- subtransaction, rolled back afterwards); passes when it ended with that SQLSTATE (NULL: no
-- error), no planted code ran as anyone but mallory, and no look-alike ran.
-- pg_temp.reached() says whether planted code ran as mallory since the last
-- check.
CREATE FUNCTION pg_temp.attack(r name, sql text, want_state text, what text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    got text := NULL;
    msg text := '';
    c record;
    n_other bigint;
    n_planted bigint;
BEGIN
    -- The subtransaction is always rolled back (P0999 marks success), so
    -- that no attack leaves a client scope or objects to the next.
    BEGIN
        EXECUTE format('SET LOCAL ROLE %I', r);
        EXECUTE sql;
        RESET ROLE;
        RAISE EXCEPTION 'attack done' USING ERRCODE = 'P0999';
    EXCEPTION WHEN OTHERS THEN
        IF SQLSTATE <> 'P0999' THEN
            got := SQLSTATE;
            msg := SQLERRM;
        END IF;
    END;
    SELECT * INTO c FROM pg_temp.checkpoint;
    n_other := pg_temp.count_of('priv_witness.ran_as_other');
    n_planted := pg_temp.count_of('priv_witness.planted_ran');
    UPDATE pg_temp.checkpoint SET other = n_other, planted = n_planted;
    RETURN ok(n_other = c.other AND n_planted = c.planted AND got IS NOT DISTINCT FROM want_state,
              what)
        || CASE WHEN n_other <> c.other THEN E'\n' || diag(format('planted code ran as another role %s time(s)', n_other - c.other)) ELSE '' END
        || CASE WHEN n_planted <> c.planted THEN E'\n' || diag('a look-alike of a name dbcore uses ran') ELSE '' END
        || CASE WHEN got IS DISTINCT FROM want_state
                THEN E'\n' || diag(format('ended with %s (%s), expected %s', coalesce(got, 'success'), msg,
                                          coalesce(want_state, 'success')))
                ELSE '' END;
END
$$;
CREATE FUNCTION pg_temp.reached() RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    before bigint := (SELECT mallory FROM pg_temp.checkpoint);
    now_ bigint := pg_temp.count_of('priv_witness.ran_as_mallory');
BEGIN
    UPDATE pg_temp.checkpoint SET mallory = now_;
    RETURN now_ > before;
END
$$;
GRANT ALL ON TABLE pg_temp.checkpoint TO PUBLIC;

------------------------------------------------------------------------------
-- Mallory's schema: a scoped partitioned table, a scoped plain table, and
-- the planted code
------------------------------------------------------------------------------
CREATE SCHEMA priv_attack AUTHORIZATION regress_priv_mallory;
GRANT USAGE ON SCHEMA priv_attack TO regress_priv_sys;
SET ROLE regress_priv_mallory;
SET search_path = priv_attack, pg_catalog;
CREATE FUNCTION pwn() RETURNS uuid LANGUAGE plpgsql AS $$
BEGIN
    PERFORM priv_witness.witness('pwn()');
    RETURN '00000000-0000-0000-0000-00000000000a';
END $$;
CREATE FUNCTION pwn_bool(anyelement) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    PERFORM priv_witness.witness('pwn_bool()');
    RETURN true;
END $$;
CREATE FUNCTION pwn_int(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    PERFORM priv_witness.witness('pwn_int()');
    RETURN $1;
END $$;
CREATE FUNCTION pwn_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM priv_witness.witness('pwn_trigger()');
    RETURN NEW;
END $$;
CREATE DOMAIN checked_uuid AS uuid CHECK (pwn_bool(VALUE));

CREATE TABLE notes (id bigint, client_id uuid NOT NULL, body text) PARTITION BY LIST (client_id);
CREATE TABLE notes_a PARTITION OF notes FOR VALUES IN ('00000000-0000-0000-0000-00000000000a');
SELECT dbcore.enable_tenant_scoping('notes') \gset
CREATE TABLE plain (id bigint, client_id uuid NOT NULL, body text);
SELECT dbcore.enable_tenant_scoping('plain') \gset
CREATE TABLE lists (id bigint, client_id uuid NOT NULL, body text) PARTITION BY LIST (client_id);
SELECT dbcore.enable_tenant_scoping('lists') \gset
RESET ROLE;
RESET search_path;
-- the rows (written by a superuser, who bypasses the policies)
INSERT INTO priv_attack.notes VALUES (1, '00000000-0000-0000-0000-00000000000a', 'a-note');
INSERT INTO priv_attack.plain VALUES (1, '00000000-0000-0000-0000-00000000000a', 'a-row'),
                                     (2, '00000000-0000-0000-0000-00000000000b', 'b-row');

------------------------------------------------------------------------------
-- The witness sees an escalation
------------------------------------------------------------------------------
CREATE FUNCTION priv_witness.definer_calls_pwn() RETURNS uuid LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog AS 'SELECT priv_attack.pwn()';
GRANT USAGE ON SCHEMA priv_attack TO PUBLIC;
SELECT ok(pg_temp.count_of('priv_witness.ran_as_other') = 0, 'control: no escalation yet');
SET ROLE regress_priv_mallory;
SET client_min_messages = error;   -- (the witness's warning is expected here)
SELECT priv_witness.definer_calls_pwn() \gset
RESET client_min_messages;
RESET ROLE;
SELECT is(pg_temp.count_of('priv_witness.ran_as_other'), 1::bigint,
          'control: attack code run by a superuser''s SECURITY DEFINER function is seen as an escalation');
UPDATE pg_temp.checkpoint SET other = 1;
SET ROLE regress_priv_mallory;
SELECT priv_attack.pwn() \gset
RESET ROLE;
SELECT ok(pg_temp.reached(), 'control: attack code run by mallory herself is seen as hers');

------------------------------------------------------------------------------
-- 1. Guard rails: ATTACH PARTITION, PARTITION OF, INHERIT, DEFAULT
--    partitions, with and without a client scope
------------------------------------------------------------------------------
SET ROLE regress_priv_mallory;
SET search_path = priv_attack, pg_catalog;
CREATE VIEW v AS SELECT 1::bigint AS id, pwn() AS client_id, 'x'::text AS body;
CREATE TABLE dom (id bigint, client_id checked_uuid NOT NULL, body text);
CREATE TABLE rigged (id bigint, client_id uuid NOT NULL DEFAULT pwn(), body text CHECK (pwn_bool(body)),
                     updated_at timestamptz);
CREATE INDEX ON rigged (pwn_int(id::int));
CREATE TRIGGER rigged_trg BEFORE INSERT OR UPDATE ON rigged FOR EACH ROW EXECUTE FUNCTION pwn_trigger();
ALTER TABLE rigged ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY rigged_pol ON rigged USING (pwn_bool(body));
CREATE RULE rigged_rule AS ON UPDATE TO rigged DO ALSO SELECT pwn();
-- (mallory writes her rows herself: as anyone else her CHECKs, domain
-- checks and index expressions would run as that role)
INSERT INTO dom VALUES (1, '00000000-0000-0000-0000-00000000000b', 'b');
INSERT INTO rigged VALUES (1, '00000000-0000-0000-0000-00000000000b', 'b');
RESET ROLE;
RESET search_path;
SELECT pg_temp.reached() \gset

SELECT pg_temp.attack('regress_priv_mallory',
    $$ALTER TABLE priv_attack.notes ATTACH PARTITION priv_attack.v FOR VALUES IN ('00000000-0000-0000-0000-00000000000b')$$,
    '42809', 'attack: ATTACH PARTITION of a view that calls attack code, no client scope (the 1.2 repro)');
SELECT pg_temp.attack('regress_priv_mallory',
    $$SELECT dbcore.set_client('00000000-0000-0000-0000-00000000000a'::uuid);
      ALTER TABLE priv_attack.notes ATTACH PARTITION priv_attack.v FOR VALUES IN ('00000000-0000-0000-0000-00000000000b')$$,
    '42809', 'attack: ATTACH PARTITION of that view in a client scope');
SELECT pg_temp.attack('regress_priv_mallory',
    $$ALTER TABLE priv_attack.notes ATTACH PARTITION priv_attack.dom FOR VALUES IN ('00000000-0000-0000-0000-00000000000b')$$,
    '42804', 'attack: ATTACH PARTITION of a table whose client column is a domain with a checking function, no scope');
SELECT pg_temp.attack('regress_priv_mallory',
    $$SELECT dbcore.set_client('00000000-0000-0000-0000-00000000000a'::uuid);
      ALTER TABLE priv_attack.notes ATTACH PARTITION priv_attack.dom FOR VALUES IN ('00000000-0000-0000-0000-00000000000b')$$,
    '42804', 'attack: ... in a client scope (the $1::<column type> cast of 1.2)');
SELECT pg_temp.attack('regress_priv_mallory',
    $$ALTER TABLE priv_attack.notes ATTACH PARTITION priv_attack.rigged FOR VALUES IN ('00000000-0000-0000-0000-00000000000b')$$,
    '42501', 'attack: ATTACH PARTITION of a table with defaults, CHECKs, index expressions, triggers, rules and policies calling attack code, no scope');
SELECT pg_temp.attack('regress_priv_mallory',
    $$SELECT dbcore.set_client('00000000-0000-0000-0000-00000000000a'::uuid);
      ALTER TABLE priv_attack.notes ATTACH PARTITION priv_attack.rigged FOR VALUES IN ('00000000-0000-0000-0000-00000000000b')$$,
    '42501', 'attack: ... in a client scope');
SELECT pg_temp.attack('regress_priv_mallory',
    $$ALTER TABLE priv_attack.v INHERIT priv_attack.plain$$,
    '42809', 'attack: ALTER TABLE <view> INHERIT a scoped table');
SELECT pg_temp.attack('regress_priv_mallory',
    $$SELECT dbcore.set_client('00000000-0000-0000-0000-00000000000a'::uuid);
      ALTER TABLE priv_attack.dom INHERIT priv_attack.plain$$,
    '42804', 'attack: ALTER TABLE <domain-typed table> INHERIT a scoped table, in a client scope');
SELECT pg_temp.attack('regress_priv_mallory',
    $$ALTER TABLE priv_attack.rigged INHERIT priv_attack.plain$$,
    '42501', 'attack: ALTER TABLE <rigged table holding another client''s row> INHERIT a scoped table: refused, nothing evaluated');
SELECT pg_temp.attack('regress_priv_mallory',
    $$SELECT dbcore.set_client('00000000-0000-0000-0000-00000000000b'::uuid);
      ALTER TABLE priv_attack.rigged INHERIT priv_attack.plain;
      ALTER TABLE priv_attack.rigged NO INHERIT priv_attack.plain$$,
    NULL, 'attack: ... in the scope of the client whose rows it holds: allowed, still nothing evaluated as another role');

-- A DEFAULT partition holding rows, with attack code all over it.
SET ROLE regress_priv_mallory;
CREATE TABLE priv_attack.notes_def PARTITION OF priv_attack.notes DEFAULT;
ALTER TABLE priv_attack.notes_def ALTER COLUMN body SET DEFAULT 'x' || priv_attack.pwn()::text;
CREATE INDEX ON priv_attack.notes_def (priv_attack.pwn_int(id::int));
CREATE POLICY zz_def ON priv_attack.notes_def USING (priv_attack.pwn_bool(body));
SET LOCAL dbcore.client_id = '00000000-0000-0000-0000-00000000000b';
INSERT INTO priv_attack.notes_def VALUES (2, '00000000-0000-0000-0000-00000000000b', 'b-note');
SET LOCAL dbcore.client_id = '';
RESET ROLE;
SELECT pg_temp.reached() \gset
SELECT pg_temp.attack('regress_priv_mallory',
    $$CREATE TABLE priv_attack.notes_c PARTITION OF priv_attack.notes FOR VALUES IN ('00000000-0000-0000-0000-00000000000c')$$,
    '42501', 'attack: PARTITION OF next to a rigged DEFAULT partition holding rows, no scope');
SELECT pg_temp.attack('regress_priv_mallory',
    $$SELECT dbcore.set_client('00000000-0000-0000-0000-00000000000a'::uuid);
      CREATE TABLE priv_attack.notes_c PARTITION OF priv_attack.notes FOR VALUES IN ('00000000-0000-0000-0000-00000000000c')$$,
    '42501', 'attack: ... in a client scope');
SELECT pg_temp.attack('regress_priv_mallory',
    $$CREATE TABLE priv_attack.notes_d (id bigint, client_id uuid NOT NULL, body text);
      ALTER TABLE priv_attack.notes ATTACH PARTITION priv_attack.notes_d FOR VALUES IN ('00000000-0000-0000-0000-00000000000d')$$,
    '42501', 'attack: ATTACH PARTITION of an empty table next to that DEFAULT partition');
SELECT pg_temp.attack('regress_priv_mallory',
    $$CREATE TABLE priv_attack.notes_e (id bigint, client_id uuid NOT NULL DEFAULT priv_attack.pwn(),
                                        body text DEFAULT priv_attack.pwn()::text CHECK (priv_attack.pwn_bool(body)))
          PARTITION BY LIST (body);
      CREATE TABLE priv_attack.notes_e1 PARTITION OF priv_attack.notes_e DEFAULT;
      ALTER TABLE priv_attack.notes DETACH PARTITION priv_attack.notes_def;
      ALTER TABLE priv_attack.notes ATTACH PARTITION priv_attack.notes_e FOR VALUES IN ('00000000-0000-0000-0000-00000000000e');
      ALTER TABLE priv_attack.notes DETACH PARTITION priv_attack.notes_e$$,
    NULL, 'attack: partitions with rigged defaults and CHECKs created, attached and detached: scoped as mallory, nothing as another role');

-- Oracles: a role that does not own the tables is refused by PostgreSQL,
-- and learns nothing from dbcore about their rows.
CREATE SCHEMA priv_victim AUTHORIZATION regress_priv_victim;
GRANT USAGE ON SCHEMA priv_victim TO PUBLIC;
SET ROLE regress_priv_victim;
CREATE TABLE priv_victim.victim_rows (id bigint, client_id uuid NOT NULL, body text);
CREATE TABLE priv_victim.victim_scoped (id bigint, client_id uuid NOT NULL, body text);
SELECT dbcore.enable_tenant_scoping('priv_victim.victim_scoped') \gset
RESET ROLE;
INSERT INTO priv_victim.victim_rows VALUES (1, '00000000-0000-0000-0000-00000000000b', 'victim');
INSERT INTO priv_victim.victim_scoped VALUES (1, '00000000-0000-0000-0000-00000000000b', 'victim');
SELECT throws_ok(
    $$SET LOCAL ROLE regress_priv_mallory;
      ALTER TABLE priv_attack.lists ATTACH PARTITION priv_victim.victim_rows FOR VALUES IN ('00000000-0000-0000-0000-00000000000f')$$,
    '42501', 'must be owner of table victim_rows',
    'attack: ATTACH PARTITION of another role''s table holding rows gets PostgreSQL''s ownership error, not whether it holds other clients'' rows');
SELECT throws_ok(
    $$SET LOCAL ROLE regress_priv_mallory;
      ALTER TABLE priv_victim.victim_scoped ALTER COLUMN body TYPE varchar(100)$$,
    '42501', 'must be owner of table victim_scoped',
    'attack: retyping a column of another role''s scoped table gets the ownership error, not whether it is empty');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'priv_victim.victim_scoped'::regclass
             AND tgname IN ('dbcore_tenant_guard', 'dbcore_tenant_truncate_guard')), 2,
          'the victim''s scoped table keeps its triggers');

------------------------------------------------------------------------------
-- 2. enable_tenant_scoping / disable_tenant_scoping on views, foreign and
--    domain-typed tables
------------------------------------------------------------------------------
CREATE FOREIGN DATA WRAPPER priv_dummy_fdw;
CREATE SERVER priv_dummy_server FOREIGN DATA WRAPPER priv_dummy_fdw;
GRANT USAGE ON FOREIGN SERVER priv_dummy_server TO regress_priv_mallory;
SET ROLE regress_priv_mallory;
CREATE FOREIGN TABLE priv_attack.ft (id bigint, client_id uuid DEFAULT priv_attack.pwn(), body text)
    SERVER priv_dummy_server;
RESET ROLE;
SELECT pg_temp.attack('regress_priv_mallory', $$SELECT dbcore.enable_tenant_scoping('priv_attack.v')$$,
    '42809', 'attack: enable_tenant_scoping() on a view that calls attack code');
SELECT pg_temp.attack('regress_priv_mallory', $$SELECT dbcore.enable_tenant_scoping('priv_attack.ft')$$,
    '0A000', 'attack: enable_tenant_scoping() on a foreign table');
SELECT pg_temp.attack('regress_priv_mallory', $$SELECT dbcore.enable_tenant_scoping('priv_attack.dom')$$,
    '42804', 'attack: enable_tenant_scoping() on a table whose client column is a checked domain');
SELECT pg_temp.attack('postgres', $$SELECT dbcore.enable_tenant_scoping('priv_attack.dom')$$,
    '42804', '... by a superuser: refused before a row is read or a column retyped');
SELECT pg_temp.attack('regress_priv_mallory', $$SELECT dbcore.disable_tenant_scoping('priv_attack.v')$$,
    '42501', 'attack: disable_tenant_scoping() on a view, without system authorization');
SELECT pg_temp.attack('regress_priv_mallory', $$SELECT dbcore.disable_tenant_scoping('priv_attack.plain')$$,
    '42501', 'attack: disable_tenant_scoping() of her own table, without system authorization');
SELECT pg_temp.attack('postgres', $$SELECT dbcore.enable_tenant_scoping('priv_attack.rigged')$$,
    NULL, 'a superuser scoping mallory''s rigged table evaluates none of its code');
SELECT pg_temp.attack('postgres', $$SELECT dbcore.disable_tenant_scoping('priv_attack.rigged')$$,
    NULL, 'a superuser unscoping it evaluates none of its code');

------------------------------------------------------------------------------
-- 3. tenant_audit() and health() over user views
------------------------------------------------------------------------------
SET ROLE regress_priv_mallory;
CREATE VIEW priv_attack.over_plain AS SELECT p.*, priv_attack.pwn() AS x FROM priv_attack.plain p;
CREATE MATERIALIZED VIEW priv_attack.mat AS SELECT 1 AS id WITH NO DATA;
CREATE POLICY zz_rigged ON priv_attack.plain AS PERMISSIVE USING (priv_attack.pwn_bool(body));
RESET ROLE;
SELECT pg_temp.reached() \gset
SELECT pg_temp.attack('postgres', $$SELECT count(*) FROM dbcore.tenant_audit()$$,
    NULL, 'tenant_audit() by a superuser over mallory''s views and policies evaluates none of them');
SELECT pg_temp.attack('postgres', $$SELECT dbcore.health()$$,
    NULL, 'health() by a superuser evaluates none of them');
SELECT pg_temp.attack('regress_priv_mallory', $$SELECT dbcore.health()$$,
    NULL, 'health() by mallory evaluates none of them as the extension''s owner');
SELECT pg_temp.attack('postgres', $$SELECT count(*) FROM dbcore.tenant_scoping_problems()$$,
    NULL, 'tenant_scoping_problems() deparses mallory''s policies without evaluating them');

------------------------------------------------------------------------------
-- 4. updated_at: the helpers and the auto_updated_at event trigger
------------------------------------------------------------------------------
SELECT pg_temp.attack('regress_priv_mallory',
    $$SET LOCAL dbcore.auto_updated_at = on;
      CREATE TABLE priv_attack.auto_as AS SELECT priv_attack.pwn() AS client_id, now() AS updated_at;
      SELECT 1 / (SELECT count(*)::int FROM pg_catalog.pg_trigger WHERE tgrelid = 'priv_attack.auto_as'::regclass
                    AND tgfoid = 'dbcore.updated_at()'::regprocedure)$$,
    NULL, 'attack: CREATE TABLE AS with attack code while auto_updated_at is on: runs as mallory only, and the table gets the trigger');
SELECT ok(pg_temp.reached(), '... and the attack code did run (as mallory)');
SELECT pg_temp.attack('regress_priv_mallory',
    $$SET LOCAL dbcore.auto_updated_at = on;
      CREATE TABLE priv_attack.auto_rigged (id int DEFAULT priv_attack.pwn_int(1) CHECK (priv_attack.pwn_bool(id)),
                                            updated_at timestamptz DEFAULT now())
          PARTITION BY RANGE (id);
      CREATE TABLE priv_attack.auto_rigged_1 PARTITION OF priv_attack.auto_rigged FOR VALUES FROM (0) TO (10);
      CREATE INDEX ON priv_attack.auto_rigged (priv_attack.pwn_int(id))$$,
    NULL, 'attack: rigged tables created while auto_updated_at is on');
SELECT pg_temp.attack('regress_priv_nousage',
    $$SET LOCAL dbcore.auto_updated_at = on;
      CREATE TABLE pg_temp.nousage (id int, updated_at timestamptz)$$,
    NULL, 'auto_updated_at needs no privilege on schema dbcore');
SELECT pg_temp.attack('postgres', $$SELECT dbcore.attach_updated_at('priv_attack.rigged', on_insert => true)$$,
    NULL, 'attach_updated_at() by a superuser on mallory''s rigged table evaluates none of its code');
SELECT pg_temp.attack('postgres', $$SELECT dbcore.detach_updated_at('priv_attack.rigged')$$,
    NULL, 'detach_updated_at() likewise');

------------------------------------------------------------------------------
-- 5. Migrations: scripts with user objects, and look-alikes they leave behind
------------------------------------------------------------------------------
SELECT pg_temp.attack('regress_priv_mallory',
    $mig$SELECT dbcore.apply_migration('9001', 'rigged objects',
        $$CREATE TABLE priv_attack.m1 (id int DEFAULT priv_attack.pwn_int(1) CHECK (priv_attack.pwn_bool(id)));
          INSERT INTO priv_attack.m1 DEFAULT VALUES;
          CREATE TEMP TABLE migrations (version_key text, version text);
          CREATE TEMP TABLE migration_log (id int);
          CREATE FUNCTION pg_temp.migration_version_key(text) RETURNS text LANGUAGE sql AS 'SELECT priv_witness.planted(''pg_temp.migration_version_key'')::text';
          SET search_path = priv_attack, pg_temp, pg_catalog$$,
        $$DROP TABLE priv_attack.m1$$)$mig$,
    NULL, 'attack: apply_migration() whose script runs attack code and plants look-alikes of the ledger');
SELECT ok(pg_temp.reached(), '... the script''s code ran, as mallory');
SELECT pg_temp.attack('regress_priv_mallory',
    $mig$SELECT dbcore.apply_migration('9001', 'rigged objects',
        $$CREATE TABLE priv_attack.m1 (id int DEFAULT priv_attack.pwn_int(1) CHECK (priv_attack.pwn_bool(id)));
          CREATE TEMP TABLE migrations (version_key text, version text)$$,
        $$INSERT INTO priv_attack.m1 DEFAULT VALUES; DROP TABLE priv_attack.m1$$);
         SELECT dbcore.revert_migration('9001')$mig$,
    NULL, 'attack: revert_migration() of it, whose down script runs attack code');
SELECT pg_temp.attack('regress_priv_mallory',
    $mig$SELECT dbcore.begin_migration('9002', 'non-transactional', $$SELECT priv_attack.pwn()$$);
         SELECT priv_attack.pwn();
         SELECT dbcore.finish_migration('9002');
         SELECT * FROM dbcore.migration_status();
         SELECT * FROM dbcore.verify_migrations(ARRAY['9002'], ARRAY['SELECT priv_attack.pwn()'])$mig$,
    NULL, 'attack: begin/finish_migration(), migration_status() and verify_migrations() after a rigged script');
SELECT pg_temp.attack('regress_priv_mallory',
    $mig$SELECT dbcore.begin_migration('9002', 'non-transactional', $$SELECT priv_attack.pwn()$$);
         SELECT dbcore.repair_migration('9002')$mig$,
    NULL, 'attack: repair_migration() of a rigged migration begun in this session');
-- import_migration() records what a caller says, as the ledger's owner:
-- every value is bound as a parameter, so SQL in a name, a tool, an author
-- or a down script is data.  The down script runs later, as the caller.
SELECT pg_temp.attack('regress_priv_mallory',
    $mig$SELECT dbcore.import_migration('9004', $$x'); SELECT priv_attack.pwn(); --$$, now(),
                                        $$prisma', priv_attack.pwn()::text); --$$,
                                        source_checksum => $$');SELECT priv_attack.pwn();--$$,
                                        applied_by => $$"; SELECT priv_attack.pwn(); --$$,
                                        down_sql => $$SELECT priv_attack.pwn()$$);
         SELECT * FROM dbcore.migration_imports();
         SELECT * FROM dbcore.verify_migrations(ARRAY['9004'], ARRAY['SELECT priv_attack.pwn()']);
         SELECT dbcore.revert_migration('9004')$mig$,
    NULL, 'attack: import_migration() with SQL in every text argument, then its down script reverted');
SELECT ok(pg_temp.reached(), '... the imported down script ran when reverted, as mallory');
SELECT pg_temp.attack('regress_priv_mallory',
    $mig$SELECT dbcore.baseline('9000');
         SELECT dbcore.apply_migration('9001', 'rigged', 'SELECT priv_attack.pwn()')$mig$,
    NULL, 'attack: baseline() then a rigged migration');

------------------------------------------------------------------------------
-- 6. Look-alikes in the caller's schema and in pg_temp
------------------------------------------------------------------------------
-- Functions, an operator, a cast and tables named like what dbcore's own SQL
-- uses, first on mallory's search_path and in pg_temp.  dbcore qualifies
-- every name and pins search_path, so none of them may ever run.
SET ROLE regress_priv_mallory;
CREATE FUNCTION priv_attack.pg_event_trigger_ddl_commands() RETURNS SETOF record LANGUAGE plpgsql AS
    $$BEGIN PERFORM priv_witness.planted('pg_event_trigger_ddl_commands'); END$$;
CREATE FUNCTION priv_attack.pg_partition_ancestors(regclass) RETURNS SETOF regclass LANGUAGE plpgsql AS
    $$BEGIN PERFORM priv_witness.planted('pg_partition_ancestors'); RETURN; END$$;
CREATE FUNCTION priv_attack.format(text, VARIADIC text[]) RETURNS text LANGUAGE plpgsql AS
    $$BEGIN PERFORM priv_witness.planted('format'); RETURN ''; END$$;
CREATE FUNCTION priv_attack.count(anyelement) RETURNS bigint LANGUAGE plpgsql AS
    $$BEGIN PERFORM priv_witness.planted('count'); RETURN 0; END$$;
CREATE FUNCTION priv_attack.quote_ident(text) RETURNS text LANGUAGE plpgsql AS
    $$BEGIN PERFORM priv_witness.planted('quote_ident'); RETURN $1; END$$;
CREATE FUNCTION priv_attack.tenant_check_tables(regclass[], name[]) RETURNS TABLE(tbl regclass, check_name text, detail text)
    LANGUAGE plpgsql AS $$BEGIN PERFORM priv_witness.planted('tenant_check_tables'); END$$;
CREATE FUNCTION priv_attack.oid_eq(oid, oid) RETURNS boolean LANGUAGE plpgsql AS
    $$BEGIN PERFORM priv_witness.planted('= (oid, oid)'); RETURN $1 OPERATOR(pg_catalog.=) $2; END$$;
CREATE OPERATOR priv_attack.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = priv_attack.oid_eq);
CREATE FUNCTION priv_attack.name_eq(name, name) RETURNS boolean LANGUAGE plpgsql AS
    $$BEGIN PERFORM priv_witness.planted('= (name, name)'); RETURN $1 OPERATOR(pg_catalog.=) $2; END$$;
CREATE OPERATOR priv_attack.= (LEFTARG = name, RIGHTARG = name, FUNCTION = priv_attack.name_eq);
CREATE TABLE priv_attack.tenant_tables (tbl regclass, column_name name, root regclass);
CREATE TABLE priv_attack.pg_inherits (inhrelid oid, inhparent oid);
RESET ROLE;
SELECT pg_temp.attack('regress_priv_mallory',
    $$SET LOCAL search_path = priv_attack, pg_temp, pg_catalog;
      CREATE TEMP TABLE tenant_tables (tbl regclass, column_name name, root regclass);
      CREATE TEMP TABLE migrations (version_key text);
      CREATE TABLE auto_as_before (id int, updated_at timestamptz);
      CREATE TABLE notes_g PARTITION OF lists FOR VALUES IN ('00000000-0000-0000-0000-000000000001');
      ALTER TABLE lists DETACH PARTITION notes_g;
      ALTER TABLE lists ATTACH PARTITION notes_g FOR VALUES IN ('00000000-0000-0000-0000-000000000001');
      SELECT dbcore.enable_tenant_scoping('lists');
      SELECT * FROM dbcore.tenant_audit();
      SELECT dbcore.health();
      SELECT dbcore.attach_updated_at('auto_as_before');
      SET LOCAL dbcore.auto_updated_at = on;
      CREATE TABLE auto_lookalike (id int, updated_at timestamptz);
      SELECT dbcore.apply_migration('9003', 'look-alikes', 'SELECT 1');
      SELECT dbcore.import_migration('9005', 'look-alikes', now(), 'prisma');
      SELECT * FROM dbcore.migration_imports();
      SELECT * FROM dbcore.migration_status();
      SELECT * FROM dbcore.verify_migrations(ARRAY['9003'], ARRAY['SELECT 1']);
      DROP TABLE notes_g$$,
    NULL, 'attack: look-alike functions, operators and tables on the caller''s search_path and in pg_temp never run');
SELECT is(pg_temp.count_of('priv_witness.planted_ran'), 0::bigint, 'no look-alike ran at all');

------------------------------------------------------------------------------
-- 7. Past the list
------------------------------------------------------------------------------
-- A partition's owner is who scopes it.  A table owned by a role without
-- USAGE on schema dbcore cannot be scoped with its rights: refused clearly,
-- instead of falling back to the extension's owner.
CREATE TABLE priv_attack.orphan (id bigint, client_id uuid NOT NULL, body text);
ALTER TABLE priv_attack.orphan OWNER TO regress_priv_nousage;
SELECT throws_ok(
    $$ALTER TABLE priv_attack.notes ATTACH PARTITION priv_attack.orphan FOR VALUES IN ('00000000-0000-0000-0000-000000000002')$$,
    '42501', 'cannot tenant-scope table "orphan" as its owner "regress_priv_nousage"',
    'a partition whose owner has no USAGE on schema dbcore is refused, not scoped as the extension''s owner');
-- Restrictive policies and triggers mallory adds to her scoped table are
-- deparsed by the guard rails, never run by them.
SELECT pg_temp.attack('regress_priv_mallory',
    $$CREATE POLICY zz_more ON priv_attack.notes AS RESTRICTIVE USING (priv_attack.pwn_bool(body));
      CREATE TRIGGER zz_trg BEFORE INSERT ON priv_attack.notes FOR EACH ROW EXECUTE FUNCTION priv_attack.pwn_trigger();
      DROP POLICY zz_more ON priv_attack.notes;
      DROP TRIGGER zz_trg ON priv_attack.notes$$,
    NULL, 'attack: policies and triggers added to a scoped table are checked by the guard rails without being evaluated');
-- DDL on mallory's objects by a superuser (as in a restore) goes through
-- the guard rails too.
SELECT pg_temp.attack('postgres',
    $$CREATE TABLE priv_attack.notes_s (id bigint, client_id uuid NOT NULL, body text DEFAULT priv_attack.pwn()::text);
      ALTER TABLE priv_attack.notes ATTACH PARTITION priv_attack.notes_s FOR VALUES IN ('00000000-0000-0000-0000-000000000003');
      ALTER TABLE priv_attack.notes DETACH PARTITION priv_attack.notes_s;
      DROP TABLE priv_attack.notes_s$$,
    NULL, 'a superuser attaching and detaching a rigged partition evaluates none of its code');
-- The row guard and the client scope read nothing a user defined.
SELECT pg_temp.attack('regress_priv_mallory',
    $$SELECT dbcore.set_client('00000000-0000-0000-0000-00000000000a'::uuid);
      INSERT INTO priv_attack.plain (id, body) VALUES (10, 'a');
      UPDATE priv_attack.plain SET body = 'a2' WHERE id = 10;
      DELETE FROM priv_attack.plain WHERE id = 10$$,
    NULL, 'reads and writes through the row guard run planted policies as the caller only');
SELECT ok(pg_temp.reached(), '... (which they did run: mallory''s own policy, as mallory)');

------------------------------------------------------------------------------
-- 8. The audit trail and soft delete
------------------------------------------------------------------------------
-- Mallory audits and soft-deletes her tables, with look-alikes of what the
-- audit's and soft delete's SQL uses on her search_path and in pg_temp,
-- a column whose type converts to json through her cast, and a foreign key
-- whose cascade her trigger watches.  dbcore writes the log in C as the
-- modifying role, registers the table as the registry's owner with fixed
-- SQL, purges the log as its owner for a system role, and runs the
-- soft-delete cascades and maintenance as the caller: her code runs as
-- her, and no look-alike runs at all.
SET ROLE regress_priv_mallory;
SET search_path = priv_attack, pg_catalog;
CREATE TYPE shout AS ENUM ('hey');
CREATE FUNCTION shout_json(shout) RETURNS json LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog AS $$
BEGIN
    PERFORM priv_witness.witness('cast to json');
    RETURN to_json($1::text);
END $$;
CREATE TABLE audited (id int PRIMARY KEY, s shout, body text, deleted_at timestamptz);
CREATE TABLE audited_kids (id int PRIMARY KEY, parent_id int REFERENCES audited ON DELETE CASCADE,
                           deleted_at timestamptz);
CREATE TRIGGER kid_watch BEFORE UPDATE ON audited_kids FOR EACH ROW EXECUTE FUNCTION pwn_trigger();
CREATE TABLE audited_parted (id int, k text, deleted_at timestamptz, PRIMARY KEY (k, id)) PARTITION BY LIST (k);
CREATE TABLE audited_parted_a PARTITION OF audited_parted FOR VALUES IN ('a');
CREATE FUNCTION priv_attack.now() RETURNS timestamptz LANGUAGE plpgsql AS
    $$BEGIN PERFORM priv_witness.planted('now'); RETURN pg_catalog.now(); END$$;
CREATE FUNCTION priv_attack.string_agg(bytea, bytea) RETURNS bytea LANGUAGE plpgsql AS
    $$BEGIN PERFORM priv_witness.planted('string_agg'); RETURN $1; END$$;
CREATE FUNCTION priv_attack.convert_to(text, name) RETURNS bytea LANGUAGE plpgsql AS
    $$BEGIN PERFORM priv_witness.planted('convert_to'); RETURN ''; END$$;
CREATE FUNCTION priv_attack.has_table_privilege(oid, text) RETURNS boolean LANGUAGE plpgsql AS
    $$BEGIN PERFORM priv_witness.planted('has_table_privilege'); RETURN true; END$$;
CREATE FUNCTION priv_attack.current_client_id_text() RETURNS text LANGUAGE plpgsql AS
    $$BEGIN PERFORM priv_witness.planted('current_client_id_text'); RETURN ''; END$$;
CREATE FUNCTION priv_attack.audit_check_table(regclass, name[], boolean) RETURNS TABLE(tbl regclass, check_name text, detail text)
    LANGUAGE plpgsql AS $$BEGIN PERFORM priv_witness.planted('audit_check_table'); END$$;
CREATE FUNCTION priv_attack.showing_deleted() RETURNS boolean LANGUAGE plpgsql AS
    $$BEGIN PERFORM priv_witness.planted('showing_deleted'); RETURN true; END$$;
CREATE FUNCTION priv_attack.ts_lt(timestamptz, timestamptz) RETURNS boolean LANGUAGE plpgsql AS
    $$BEGIN PERFORM priv_witness.planted('< (timestamptz)'); RETURN $1 OPERATOR(pg_catalog.<) $2; END$$;
CREATE OPERATOR priv_attack.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = priv_attack.ts_lt);
CREATE FUNCTION priv_attack.ts_eq(timestamptz, timestamptz) RETURNS boolean LANGUAGE plpgsql AS
    $$BEGIN PERFORM priv_witness.planted('= (timestamptz)'); RETURN $1 OPERATOR(pg_catalog.=) $2; END$$;
CREATE OPERATOR priv_attack.= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = priv_attack.ts_eq);
CREATE FUNCTION priv_attack.int_eq(int, int) RETURNS boolean LANGUAGE plpgsql AS
    $$BEGIN PERFORM priv_witness.planted('= (int)'); RETURN $1 OPERATOR(pg_catalog.=) $2; END$$;
CREATE OPERATOR priv_attack.= (LEFTARG = int, RIGHTARG = int, FUNCTION = priv_attack.int_eq);
CREATE FUNCTION priv_attack.text_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS
    $$BEGIN PERFORM priv_witness.planted('= (text)'); RETURN $1 OPERATOR(pg_catalog.=) $2; END$$;
CREATE OPERATOR priv_attack.= (LEFTARG = text, RIGHTARG = text, FUNCTION = priv_attack.text_eq);
CREATE TABLE priv_attack.audit_log (id bigint);
CREATE TABLE priv_attack.audited_tables (tbl regclass, excluded_columns name[], record_inserts boolean);
RESET ROLE;
CREATE CAST (priv_attack.shout AS json) WITH FUNCTION priv_attack.shout_json(priv_attack.shout);
RESET search_path;
SELECT pg_temp.attack('regress_priv_mallory',
    $$SET LOCAL search_path = priv_attack, pg_temp, pg_catalog;
      CREATE TEMP TABLE audit_log (id bigint);
      CREATE TEMP TABLE audited_tables (tbl regclass);
      SELECT dbcore.enable_audit('audited');
      SELECT dbcore.enable_audit('audited_kids');
      SELECT dbcore.enable_audit('audited_parted');
      SELECT dbcore.enable_soft_delete('audited');
      SELECT dbcore.enable_soft_delete('audited_kids');
      SELECT dbcore.enable_soft_delete('audited_parted');
      SELECT dbcore.set_actor('mallory');
      INSERT INTO audited VALUES (1, 'hey', 'x');
      INSERT INTO audited_kids VALUES (10, 1);
      UPDATE audited SET body = 'y';
      DELETE FROM audited WHERE id OPERATOR(pg_catalog.=) 1;
      CREATE TABLE audited_parted_b PARTITION OF audited_parted FOR VALUES IN ('b');
      INSERT INTO audited_parted VALUES (1, 'b');
      DELETE FROM audited_parted;
      SELECT * FROM dbcore.audit_history('audited', '1');
      SELECT * FROM dbcore.audit_transaction(pg_catalog.pg_current_xact_id());
      SELECT * FROM dbcore.audit_problems();
      SELECT dbcore.disable_soft_delete('audited_parted')$$,
    NULL, 'attack: auditing and soft-deleting her tables with look-alikes on her search_path and in pg_temp');
SELECT ok(pg_temp.reached(), '... (her cast and her trigger ran, as her)');
-- The same objects in place for the privileged paths below.
SET ROLE regress_priv_mallory;
SELECT dbcore.enable_audit('priv_attack.audited'), dbcore.enable_soft_delete('priv_attack.audited'),
       dbcore.enable_soft_delete('priv_attack.audited_kids') \gset
INSERT INTO priv_attack.audited VALUES (2, 'hey', 'z');
INSERT INTO priv_attack.audited_kids VALUES (20, 2);
DELETE FROM priv_attack.audited WHERE id = 2;
RESET ROLE;
SELECT pg_temp.reached() \gset
GRANT EXECUTE ON FUNCTION dbcore.restore_deleted(regclass, timestamptz), dbcore.purge_deleted(regclass, interval),
                          dbcore.show_deleted(boolean) TO regress_priv_mallory;
SELECT pg_temp.attack('regress_priv_mallory',
    $$SET LOCAL search_path = priv_attack, pg_temp, pg_catalog;
      SELECT dbcore.show_deleted();
      SELECT dbcore.restore_deleted('audited', pg_catalog.now());
      DELETE FROM audited WHERE id OPERATOR(pg_catalog.=) 2;
      SELECT dbcore.purge_deleted('audited', '0 seconds')$$,
    NULL, 'attack: restore_deleted() and purge_deleted() with look-alikes in place run her code as her');
-- A system role purging the log runs it as the log's owner, with fixed SQL.
SELECT pg_temp.attack('regress_priv_sys',
    $$SET LOCAL search_path = priv_attack, pg_temp, pg_catalog;
      SELECT dbcore.purge_audit('0 seconds');
      SELECT count(*) FROM dbcore.audit_history('priv_attack.audited', '1')$$,
    NULL, 'attack: purge_audit() by a system role with look-alikes in place evaluates nothing of hers');
-- Her attempts at the log and the audit's registry.
SELECT pg_temp.attack('regress_priv_mallory',
    $$INSERT INTO dbcore.audit_log (logged_at, xact_id, tbl, table_name, op, db_role)
      VALUES (pg_catalog.now(), '1', 'priv_attack.audited', 'x', 'INSERT', 'postgres')$$,
    '42501', 'attack: forging a log row');
SELECT pg_temp.attack('regress_priv_mallory',
    $$INSERT INTO dbcore.audited_tables VALUES ('priv_attack.plain', '{}', true)$$,
    '42501', 'attack: writing the registry of audited tables');
SELECT pg_temp.attack('regress_priv_mallory',
    $$SELECT dbcore._audit_register('priv_attack.audited', '{}', true);
      SELECT dbcore._audit_unregister('priv_attack.audited')$$,
    '42501', 'attack: unregistering her table from the audit');
SELECT pg_temp.attack('regress_priv_mallory',
    $$SELECT dbcore._audit_register('dbcore.migrations', '{}', true)$$,
    '42501', 'attack: registering a table she does not own');
SELECT pg_temp.attack('regress_priv_mallory',
    $$CREATE TRIGGER dbcore_audit_own AFTER INSERT ON priv_attack.plain FOR EACH ROW EXECUTE FUNCTION dbcore.audit();
      SELECT dbcore.set_client('00000000-0000-0000-0000-00000000000a'::uuid);
      INSERT INTO priv_attack.plain (id, body) VALUES (11, 'x')$$,
    NULL, 'attack: her own audit trigger writes only her table''s history (as her)');
-- A superuser disabling her audit and soft delete evaluates none of her code.
SELECT pg_temp.attack('postgres',
    $$SELECT dbcore.disable_audit('priv_attack.audited');
      SELECT dbcore.disable_soft_delete('priv_attack.audited')$$,
    NULL, 'a superuser disabling her audit trail and soft delete');

SELECT is(pg_temp.count_of('priv_witness.ran_as_other'), 1::bigint,
          'in all, attack code ran as another role only in the control');

SELECT * FROM finish();
ROLLBACK;
