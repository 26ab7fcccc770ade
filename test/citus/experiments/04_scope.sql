-- 04_scope.sql: does the client scope reach the workers?  set_client*()
-- (set_config_option in C), SET LOCAL with citus.propagate_set_commands,
-- SET LOCAL through SPI, savepoints, session SET; the role of Citus's
-- connections; the error when no scope arrives.
\set VERBOSITY verbose
\set A 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
\set B 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb'
SET citus.shard_count = 4;
SET citus.enable_unsafe_triggers = on;
SELECT dbcore.mint_client_token(:'A', '30 minutes') AS tok_a \gset
SELECT dbcore.mint_client_token(:'B', '30 minutes') AS tok_b \gset

-- e4: scoped (one permissive policy, the row guard); e4_open: no RLS, only
-- there to open connections to every worker.
SET ROLE app;
CREATE TABLE e4 (id bigint, client_id uuid NOT NULL, v text, PRIMARY KEY (client_id, id));
ALTER TABLE e4 ENABLE ROW LEVEL SECURITY;
ALTER TABLE e4 FORCE ROW LEVEL SECURITY;
CREATE POLICY dbcore_tenant_isolation ON e4 AS PERMISSIVE FOR ALL TO PUBLIC
  USING (client_id = dbcore.current_client_id()) WITH CHECK (client_id = dbcore.current_client_id());
CREATE TRIGGER dbcore_tenant_guard BEFORE INSERT OR UPDATE ON e4
  FOR EACH ROW EXECUTE FUNCTION dbcore.tenant_row_guard('client_id');
CREATE TABLE e4_open (id bigint, client_id uuid NOT NULL, PRIMARY KEY (client_id, id));
RESET ROLE;
SELECT create_distributed_table('e4', 'client_id');
SELECT create_distributed_table('e4_open', 'client_id', colocate_with := 'e4');
INSERT INTO e4 SELECT g, CASE WHEN g % 2 = 0 THEN :'A'::uuid ELSE :'B'::uuid END, 'row ' || g FROM generate_series(1, 20) g;
INSERT INTO e4_open SELECT g, CASE WHEN g % 2 = 0 THEN :'A'::uuid ELSE :'B'::uuid END FROM generate_series(1, 20) g;
-- what the shard sees: the scope and the roles of Citus's connection
CREATE FUNCTION public.worker_view() RETURNS text LANGUAGE sql STABLE AS
$$ SELECT format('port=%s session_user=%s current_user=%s dbcore.client_id=%s', current_setting('port'),
                 session_user, current_user, coalesce(nullif(current_setting('dbcore.client_id', true), ''), '(none)')) $$;
GRANT SELECT ON e4_open TO PUBLIC;

\c postgres app :coord_host :coord_port
-- 4a. dbcore.set_client_token() (set_config_option(GUC_ACTION_LOCAL) in C)
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SELECT dbcore.set_client_token(:'tok_a');
SELECT public.worker_view() AS coordinator;
SELECT public.worker_view() FROM e4_open WHERE client_id = :'A' LIMIT 1;   -- router query: runs on the worker
SELECT count(*) FROM e4;                                                    -- the workers' policies
ROLLBACK;
-- the same with set_config(..., true), a SQL function call
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SELECT set_config('dbcore.client_id', :'tok_a', true) IS NOT NULL AS set;
SELECT count(*) FROM e4;
ROLLBACK;

-- 4b. SET LOCAL, default citus.propagate_set_commands (none)
BEGIN;
SHOW citus.propagate_set_commands;
SET LOCAL dbcore.client_id = :'tok_a';
SELECT count(*) FROM e4;
ROLLBACK;
-- SET LOCAL with propagate_set_commands = 'local': connections opened after the SET
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL dbcore.client_id = :'tok_a';
SELECT public.worker_view() FROM e4_open WHERE client_id = :'A' LIMIT 1;
SELECT client_id, count(*) FROM e4 GROUP BY 1;
ROLLBACK;
-- ... connections opened before the SET (e4_open opens them in the transaction)
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SELECT count(*) FROM e4_open;
SET LOCAL dbcore.client_id = :'tok_a';
SELECT client_id, count(*) FROM e4 GROUP BY 1;
SET LOCAL dbcore.client_id = :'tok_b';                                      -- a second scope in the same transaction
SELECT client_id, count(*) FROM e4 GROUP BY 1;
ROLLBACK;
-- SET LOCAL outside a transaction block: a warning from PostgreSQL, nothing propagated
SET LOCAL citus.propagate_set_commands = 'local';

-- 4c. SET LOCAL through SPI: PL/pgSQL (static SET and EXECUTE; a C
-- function's SPI_execute takes the same path: _SPI_execute_plan ->
-- ProcessUtility(PROCESS_UTILITY_QUERY))
\c postgres postgres :coord_host :coord_port
CREATE FUNCTION public.scope_static(tok text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    SET LOCAL citus.propagate_set_commands = 'local';
    EXECUTE format('SET LOCAL dbcore.client_id = %L', tok);
END $$;
CREATE FUNCTION public.scope_execute(tok text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('SET LOCAL dbcore.client_id = %L', tok);
END $$;
CREATE PROCEDURE public.scope_proc(tok text) LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('SET LOCAL dbcore.client_id = %L', tok);
END $$;
\c postgres app :coord_host :coord_port
BEGIN;
SELECT public.scope_static(:'tok_a');
SELECT current_setting('citus.propagate_set_commands') AS propagate, current_setting('dbcore.client_id') <> '' AS coordinator_scoped;
SELECT client_id, count(*) FROM e4 GROUP BY 1;
ROLLBACK;
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SELECT public.scope_execute(:'tok_a');
SELECT client_id, count(*) FROM e4 GROUP BY 1;
ROLLBACK;
-- a DO block and a procedure (CALL) outside BEGIN ... COMMIT
SET citus.propagate_set_commands = 'local';
SET test.tok_a = :'tok_a';
DO $$ DECLARE n bigint; BEGIN
    EXECUTE format('SET LOCAL dbcore.client_id = %L', current_setting('test.tok_a'));
    SELECT count(*) INTO n FROM e4;
    RAISE NOTICE 'rows seen in the DO block: %', n;
END $$;
RESET citus.propagate_set_commands;
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
CALL public.scope_proc(:'tok_a');
SELECT client_id, count(*) FROM e4 GROUP BY 1;
ROLLBACK;

-- 4d. savepoints
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL dbcore.client_id = :'tok_a';
SELECT client_id, count(*) FROM e4 GROUP BY 1;                               -- A (connections open now)
SAVEPOINT s1;
SET LOCAL dbcore.client_id = :'tok_b';
SELECT client_id, count(*) FROM e4 GROUP BY 1;                               -- B
ROLLBACK TO SAVEPOINT s1;
SELECT client_id, count(*) FROM e4 GROUP BY 1;                               -- A again?
ROLLBACK;
-- a scope set inside a savepoint that is RELEASEd, then connections opened
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SAVEPOINT s1;
SET LOCAL dbcore.client_id = :'tok_a';
RELEASE SAVEPOINT s1;
SELECT current_setting('dbcore.client_id') <> '' AS coordinator_scoped;      -- PostgreSQL keeps it
SELECT client_id, count(*) FROM e4 GROUP BY 1;                               -- new connections: ?
ROLLBACK;
-- the same, connections opened inside the savepoint
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SAVEPOINT s1;
SET LOCAL dbcore.client_id = :'tok_a';
SELECT client_id, count(*) FROM e4 GROUP BY 1;
RELEASE SAVEPOINT s1;
SELECT client_id, count(*) FROM e4 GROUP BY 1;
ROLLBACK;

-- 4e. session-level SET inside a transaction
BEGIN;
SET citus.propagate_set_commands = 'local';
SET dbcore.client_id = :'tok_a';
SELECT client_id, count(*) FROM e4 GROUP BY 1;
ROLLBACK;

-- 4f. the role of Citus's connections: the current user, not the session user
\c postgres postgres :coord_host :coord_port
GRANT app TO postgres;   -- no-op for a superuser; SET ROLE is enough
SET ROLE app;
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL dbcore.client_id = :'tok_a';
SELECT session_user, current_user, (SELECT public.worker_view() FROM e4_open WHERE client_id = :'A' LIMIT 1) AS on_worker;
ROLLBACK;
RESET ROLE;
-- a SECURITY DEFINER function owned by app, called by postgres
ALTER FUNCTION public.worker_view() OWNER TO app;
CREATE FUNCTION public.definer_view() RETURNS text LANGUAGE sql SECURITY DEFINER AS
$$ SELECT public.worker_view() FROM public.e4_open WHERE client_id = 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa' LIMIT 1 $$;
ALTER FUNCTION public.definer_view() OWNER TO app;
SELECT public.definer_view();

-- 4g. no scope on the worker: the error the application sees
\c postgres app :coord_host :coord_port
SELECT count(*) FROM e4;                                      -- multi-shard
SELECT count(*) FROM e4 WHERE client_id = :'A';               -- router
INSERT INTO e4 VALUES (100, :'A', 'x');                       -- row guard on the shard
\set VERBOSITY default
\set SHOW_CONTEXT always
SELECT count(*) FROM e4;
\set VERBOSITY verbose
