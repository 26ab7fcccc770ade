-- 02b_add_node.sql: a worker added later.  The runner has started w3 (with
-- citus and 00_node_log.sql, not registered).  What does citus_add_node
-- create on it (dbcore, roles, shell tables, policies, triggers), and what
-- does a rebalance create there?  Runs after 02 (uses e2_t).
\set VERBOSITY verbose
\pset format unaligned
\pset fieldsep ' | '
\c postgres postgres :w3_host :w3_port
SELECT extname FROM pg_extension ORDER BY 1;
\c postgres postgres :coord_host :coord_port
SELECT citus_add_node('127.0.0.1', :w3_port) > 0 AS added;
\c postgres postgres :w3_host :w3_port
SELECT extname, extversion FROM pg_extension ORDER BY 1;
SELECT evtname FROM pg_event_trigger ORDER BY 1;
SELECT rolname FROM pg_roles WHERE rolname = 'app';
-- the commands citus_add_node ran here (ddl_command_end of each)
SELECT public.evlog_text();
SELECT public.evlog_reset();
\c postgres postgres :coord_host :coord_port
SELECT 1 FROM citus_rebalance_start(shard_transfer_mode := 'block_writes');
SELECT citus_rebalance_wait();
SELECT nodeport, count(*) FROM citus_shards WHERE table_name = 'e2_t'::regclass GROUP BY 1 ORDER BY 1;
\c postgres postgres :w3_host :w3_port
SELECT public.evlog_text();
SET citus.override_table_visibility = off;   -- shards are hidden from pg_class otherwise
SELECT format('%s: rls=%s force=%s policies=%s triggers=%s', c.oid::regclass, c.relrowsecurity, c.relforcerowsecurity,
         (SELECT string_agg(polname || CASE WHEN polpermissive THEN '(permissive)' ELSE '(restrictive)' END, ',') FROM pg_policy WHERE polrelid = c.oid),
         (SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger WHERE tgrelid = c.oid AND NOT tgisinternal))
  FROM pg_class c WHERE c.relname LIKE 'e2\_t%' AND c.relkind = 'r' ORDER BY c.oid::regclass::text;
-- dbcore's registry on the new worker: empty, like on the others
SELECT count(*) AS registry_rows FROM dbcore.tenant_tables;
\c postgres postgres :coord_host :coord_port
