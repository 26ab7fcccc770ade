-- Describes every object of extension dbcore, so that two databases (a
-- fresh install and an upgraded one) can be compared with diff.
\pset pager off
\pset format unaligned
\pset tuples_only on
SET search_path = pg_catalog;

\echo == extension
SELECT e.extversion, n.nspname, e.extrelocatable, e.extconfig::regclass[]::text, e.extcondition
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'dbcore';
SELECT obj_description(n.oid, 'pg_namespace') FROM pg_namespace n WHERE n.nspname = 'dbcore';

\echo == members
SELECT pg_describe_object(d.classid, d.objid, d.objsubid)
  FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
 WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'dbcore' AND d.deptype = 'e'
 ORDER BY 1;

\echo == functions
SELECT p.oid::regprocedure, pg_get_function_result(p.oid), pg_get_function_arguments(p.oid),
       l.lanname, p.provolatile, p.proparallel, p.proleakproof, p.proisstrict, p.prosecdef,
       p.proconfig, p.proacl, p.probin, md5(p.prosrc), obj_description(p.oid, 'pg_proc')
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE p.pronamespace = 'dbcore'::regnamespace
 ORDER BY 1;

\echo == relations
SELECT c.oid::regclass, c.relkind, c.relacl, c.relrowsecurity, obj_description(c.oid, 'pg_class')
  FROM pg_class c WHERE c.relnamespace = 'dbcore'::regnamespace ORDER BY 1;
SELECT a.attrelid::regclass, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
       a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid), col_description(a.attrelid, a.attnum)
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
 WHERE c.relnamespace = 'dbcore'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY 1, 2;
SELECT conrelid::regclass, conname, pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = 'dbcore'::regnamespace ORDER BY 1, 2;
SELECT indexrelid::regclass, pg_get_indexdef(indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
 WHERE c.relnamespace = 'dbcore'::regnamespace ORDER BY 1;

\echo == event triggers
SELECT t.evtname, t.evtevent, t.evtfoid::regprocedure, t.evtenabled, t.evttags,
       obj_description(t.oid, 'pg_event_trigger')
  FROM pg_event_trigger t ORDER BY 1;

\echo == policies and triggers on the tables of dbcore
SELECT * FROM pg_policies WHERE schemaname = 'dbcore' ORDER BY policyname;
SELECT t.tgrelid::regclass, t.tgname, pg_get_triggerdef(t.oid)
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE c.relnamespace = 'dbcore'::regnamespace ORDER BY 1, 2;

\echo == function definitions
SELECT pg_get_functiondef(p.oid)
  FROM pg_proc p WHERE p.pronamespace = 'dbcore'::regnamespace
 ORDER BY p.oid::regprocedure::text;
