-- 00_setup.sql: on the coordinator, as postgres, after 00_node_log.sql on
-- every node.  dbcore is created on the coordinator only: does Citus create
-- it on the workers too?
\set VERBOSITY verbose
CREATE EXTENSION dbcore;
SELECT extname, extversion FROM pg_extension ORDER BY 1;
-- Citus records it as a distributed object ...
SELECT pg_identify_object_as_address(classid, objid, objsubid) FROM pg_dist_object ORDER BY 1::text;
-- ... and has created it on every worker (with dbcore's event triggers)
SELECT nodeport, success, result FROM run_command_on_workers(
  $$SELECT string_agg(extname || ' ' || extversion, ', ' ORDER BY extname) FROM pg_extension$$) ORDER BY 1;
SELECT nodeport, success, result FROM run_command_on_workers(
  $$SELECT string_agg(evtname, ', ' ORDER BY evtname) FROM pg_event_trigger$$) ORDER BY 1;

-- The application role: owns its tables, no BYPASSRLS (CREATE ROLE and
-- GRANT are propagated to the workers by Citus).
CREATE ROLE app LOGIN;
GRANT USAGE ON SCHEMA dbcore TO app;
GRANT CREATE ON SCHEMA public TO app;
SELECT nodeport, result FROM run_command_on_workers(
  $$SELECT rolname || ' super=' || rolsuper || ' bypassrls=' || rolbypassrls FROM pg_roles WHERE rolname = 'app'$$) ORDER BY 1;
