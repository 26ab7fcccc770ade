-- test/upgrade/describe.sql: a stable, sorted, human-readable description of
-- everything that belongs to an extension (members recorded in pg_depend with
-- deptype 'e') and of everything in its schema, for diffing a fresh install
-- against an upgraded one.
--
--   psql -X -q -v ON_ERROR_STOP=1 -f test/upgrade/describe.sql DBNAME
--   psql ... -v ext=dbcore -v schema=dbcore -f ...     (the defaults)
--
-- It changes nothing: it runs in a transaction it rolls back, and fixes every
-- setting the output depends on (search_path, DateStyle, ...), so the output
-- doesn't depend on the session's GUCs.  OIDs, sizes and data never appear.

\set ON_ERROR_STOP 1
\if :{?ext}
\else
\set ext dbcore
\endif
\if :{?schema}
\else
\set schema dbcore
\endif
\pset format unaligned
\pset tuples_only on
\pset pager off
\pset null ''
\pset footer off

BEGIN;
SET LOCAL client_min_messages = warning;
-- Only pg_catalog on the path: every other object prints schema-qualified.
SET LOCAL search_path = pg_catalog, pg_temp;
SET LOCAL datestyle = 'ISO, YMD';
SET LOCAL intervalstyle = postgres;
SET LOCAL timezone = 'UTC';
SET LOCAL extra_float_digits = 1;
SET LOCAL bytea_output = hex;
SET LOCAL standard_conforming_strings = on;
SET LOCAL quote_all_identifiers = off;

-- ---------------------------------------------------------------------------
-- What to describe
-- ---------------------------------------------------------------------------

CREATE TEMP TABLE x_ext AS
  SELECT e.oid, e.extname, e.extversion, e.extrelocatable, e.extnamespace,
         e.extconfig, e.extcondition, e.extowner
    FROM pg_extension e WHERE e.extname = :'ext';

CREATE TEMP TABLE x_members AS
  SELECT d.classid, d.objid, d.objsubid
    FROM pg_depend d JOIN x_ext e ON d.refobjid = e.oid
   WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e';

CREATE TEMP TABLE x_nsp AS
  SELECT n.oid FROM pg_namespace n WHERE n.nspname = :'schema';

CREATE FUNCTION pg_temp.x_is_member(cls regclass, obj oid) RETURNS boolean
  LANGUAGE sql STABLE
  AS $$ SELECT EXISTS (SELECT 1 FROM x_members m WHERE m.classid = cls AND m.objid = obj) $$;

-- ACL as text, sorted, with a NULL (default) ACL spelled out, so that grant
-- order and "default vs. explicit default" make no difference.
CREATE FUNCTION pg_temp.x_acl(acl aclitem[], kind "char", owner oid) RETURNS text
  LANGUAGE sql STABLE
  AS $$ SELECT '{' || coalesce(string_agg(a::text, ',' ORDER BY a::text COLLATE "C"), '') || '}'
          FROM unnest(coalesce(acl, acldefault(kind, owner))) a $$;

-- Source text as an indented block: trailing blanks and blank first/last
-- lines removed, each line prefixed with "    | ".
CREATE FUNCTION pg_temp.x_block(src text) RETURNS text
  LANGUAGE sql IMMUTABLE
  AS $$ SELECT regexp_replace(
                 E'\n    | ' || replace(btrim(regexp_replace(src, '[ \t\r]+$', '', 'gn'), E'\n'),
                                      E'\n', E'\n    | '),
                 ' +$', '', 'gn') $$;

CREATE TEMP TABLE x_rels AS
  SELECT c.oid FROM pg_class c
   WHERE (c.relnamespace IN (SELECT oid FROM x_nsp) OR pg_temp.x_is_member('pg_class', c.oid))
     AND c.relkind NOT IN ('i', 'I', 't');

CREATE TEMP TABLE x_procs AS
  SELECT p.oid FROM pg_proc p
   WHERE p.pronamespace IN (SELECT oid FROM x_nsp) OR pg_temp.x_is_member('pg_proc', p.oid);

CREATE TEMP TABLE x_types AS
  SELECT t.oid FROM pg_type t
   WHERE (t.typnamespace IN (SELECT oid FROM x_nsp) OR pg_temp.x_is_member('pg_type', t.oid))
     AND t.typrelid = 0                                   -- row types: see relations
     AND NOT EXISTS (SELECT 1 FROM pg_type e WHERE e.typarray = t.oid);   -- implicit arrays

CREATE TEMP TABLE x_evts AS
  SELECT v.oid FROM pg_event_trigger v
   WHERE pg_temp.x_is_member('pg_event_trigger', v.oid)
      OR v.evtfoid IN (SELECT oid FROM x_procs);

-- Every object whose comment, privileges etc. are described.
CREATE TEMP TABLE x_objs AS
            SELECT classid, objid FROM x_members
  UNION     SELECT 'pg_extension'::regclass, oid FROM x_ext
  UNION     SELECT 'pg_namespace'::regclass, oid FROM x_nsp
  UNION     SELECT 'pg_class'::regclass, oid FROM x_rels
  UNION     SELECT 'pg_class'::regclass, i.indexrelid FROM pg_index i WHERE i.indrelid IN (SELECT oid FROM x_rels)
  UNION     SELECT 'pg_proc'::regclass, oid FROM x_procs
  UNION     SELECT 'pg_type'::regclass, oid FROM x_types
  UNION     SELECT 'pg_event_trigger'::regclass, oid FROM x_evts
  UNION     SELECT 'pg_constraint'::regclass, co.oid FROM pg_constraint co
             WHERE co.conrelid IN (SELECT oid FROM x_rels) OR co.contypid IN (SELECT oid FROM x_types)
  UNION     SELECT 'pg_trigger'::regclass, tg.oid FROM pg_trigger tg
             WHERE tg.tgrelid IN (SELECT oid FROM x_rels) AND NOT tg.tgisinternal
  UNION     SELECT 'pg_policy'::regclass, po.oid FROM pg_policy po WHERE po.polrelid IN (SELECT oid FROM x_rels)
  UNION     SELECT 'pg_operator'::regclass, o.oid FROM pg_operator o WHERE o.oprnamespace IN (SELECT oid FROM x_nsp);

-- ---------------------------------------------------------------------------
-- Extension and schema
-- ---------------------------------------------------------------------------

SELECT format('extension %s version %s schema %s relocatable %s owner %s',
              e.extname, e.extversion, e.extnamespace::regnamespace,
              e.extrelocatable, pg_get_userbyid(e.extowner))
  FROM x_ext e
UNION ALL
SELECT format('extension %s: not installed', :'ext')
 WHERE NOT EXISTS (SELECT 1 FROM x_ext);

SELECT format FROM (
       SELECT format('extension %s config table %s where %L', e.extname, c.cfg::regclass, c.cond)
         FROM x_ext e, unnest(e.extconfig, e.extcondition) AS c(cfg, cond)
) s ORDER BY format COLLATE "C";

SELECT format FROM (
       SELECT format('extension %s requires %s', e.extname, r.extname)
         FROM x_ext e
         JOIN pg_depend d ON d.classid = 'pg_extension'::regclass AND d.objid = e.oid
                         AND d.refclassid = 'pg_extension'::regclass
         JOIN pg_extension r ON r.oid = d.refobjid
) s ORDER BY format COLLATE "C";

SELECT format('schema %I owner %s acl %s%s', n.nspname, pg_get_userbyid(n.nspowner),
              pg_temp.x_acl(n.nspacl, 'n', n.nspowner),
              CASE WHEN pg_temp.x_is_member('pg_namespace', n.oid) THEN ' (member)' ELSE '' END)
  FROM pg_namespace n WHERE n.oid IN (SELECT oid FROM x_nsp)
UNION ALL
SELECT format('schema %s: does not exist', :'schema')
 WHERE NOT EXISTS (SELECT 1 FROM x_nsp);

SELECT format FROM (
       SELECT format('default acl in schema %s for role %s on %s: %s',
                     da.defaclnamespace::regnamespace, pg_get_userbyid(da.defaclrole),
                     CASE da.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences'
                          WHEN 'f' THEN 'functions' WHEN 'T' THEN 'types' WHEN 'n' THEN 'schemas'
                          ELSE da.defaclobjtype::text END,
                     (SELECT string_agg(a::text, ',' ORDER BY a::text COLLATE "C") FROM unnest(da.defaclacl) a))
         FROM pg_default_acl da WHERE da.defaclnamespace IN (SELECT oid FROM x_nsp)
) s ORDER BY format COLLATE "C";

-- ---------------------------------------------------------------------------
-- Members, by pg_depend (the authoritative list)
-- ---------------------------------------------------------------------------

SELECT format FROM (
       SELECT format('member %s %s', i.type, i.identity)
         FROM x_members m, pg_identify_object(m.classid, m.objid, m.objsubid) i
) s ORDER BY format COLLATE "C";

-- Objects in the schema that are not members (an upgrade script that forgot
-- them, or objects made at run time) show up here.
SELECT format FROM (
       SELECT format('not a member: %s %s', i.type, i.identity)
         FROM x_objs o, pg_identify_object(o.classid, o.objid, 0) i
        WHERE o.classid IN ('pg_class'::regclass, 'pg_proc'::regclass, 'pg_type'::regclass,
                            'pg_operator'::regclass, 'pg_event_trigger'::regclass)
          AND NOT pg_temp.x_is_member(o.classid, o.objid)
          AND NOT (o.classid = 'pg_class'::regclass AND EXISTS (
                   SELECT 1 FROM pg_index ix WHERE ix.indexrelid = o.objid))   -- indexes follow their table
) s ORDER BY format COLLATE "C";

-- ---------------------------------------------------------------------------
-- Functions, procedures, aggregates
-- ---------------------------------------------------------------------------

SELECT format('%s %s.%s(%s)%s language %s %s %s %s %s parallel %s cost %s%s%s owner %s acl %s%s',
              CASE p.prokind WHEN 'f' THEN 'function' WHEN 'p' THEN 'procedure'
                             WHEN 'a' THEN 'aggregate' WHEN 'w' THEN 'window function' END,
              quote_ident(n.nspname), quote_ident(p.proname),
              pg_get_function_arguments(p.oid),
              CASE WHEN p.prokind = 'p' THEN '' ELSE ' returns ' || pg_get_function_result(p.oid) END,
              l.lanname,
              CASE p.provolatile WHEN 'i' THEN 'immutable' WHEN 's' THEN 'stable' ELSE 'volatile' END,
              CASE WHEN p.proisstrict THEN 'strict' ELSE 'called-on-null-input' END,
              CASE WHEN p.prosecdef THEN 'security-definer' ELSE 'security-invoker' END,
              CASE WHEN p.proleakproof THEN 'leakproof' ELSE 'not-leakproof' END,
              CASE p.proparallel WHEN 's' THEN 'safe' WHEN 'r' THEN 'restricted' ELSE 'unsafe' END,
              p.procost,
              CASE WHEN p.proretset THEN ' rows ' || p.prorows ELSE '' END,
              CASE WHEN p.proconfig IS NULL THEN ''
                   ELSE ' set ' || array_to_string(p.proconfig, ' set ') END,
              pg_get_userbyid(p.proowner),
              pg_temp.x_acl(p.proacl, 'f', p.proowner),
              CASE
                WHEN p.prokind = 'a' THEN
                  (SELECT format(E'\n    sfunc %s stype %s finalfunc %s combinefunc %s initcond %s',
                                 ag.aggtransfn::regprocedure, format_type(ag.aggtranstype, NULL),
                                 coalesce(nullif(ag.aggfinalfn, 0)::regprocedure::text, '-'),
                                 coalesce(nullif(ag.aggcombinefn, 0)::regprocedure::text, '-'),
                                 coalesce(quote_literal(ag.agginitval), '-'))
                     FROM pg_aggregate ag WHERE ag.aggfnoid = p.oid)
                WHEN l.lanname IN ('c', 'internal') THEN
                  format(E'\n    symbol %s%s', p.prosrc,
                         CASE WHEN p.probin IS NULL THEN '' ELSE ' in ' || p.probin END)
                ELSE pg_temp.x_block(coalesce(pg_get_function_sqlbody(p.oid), p.prosrc))
              END)
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_language l ON l.oid = p.prolang
 WHERE p.oid IN (SELECT oid FROM x_procs)
 ORDER BY n.nspname COLLATE "C", p.proname COLLATE "C",
          pg_get_function_identity_arguments(p.oid) COLLATE "C";

-- ---------------------------------------------------------------------------
-- Types, operators
-- ---------------------------------------------------------------------------

SELECT format FROM (
       SELECT format('type %s %s owner %s acl %s', t.oid::regtype,
                     CASE t.typtype
                       WHEN 'e' THEN 'enum (' || (SELECT string_agg(quote_literal(en.enumlabel), ', ' ORDER BY en.enumsortorder)
                                                    FROM pg_enum en WHERE en.enumtypid = t.oid) || ')'
                       WHEN 'd' THEN format('domain over %s%s%s%s', format_type(t.typbasetype, t.typtypmod),
                                            CASE WHEN t.typnotnull THEN ' not null' ELSE '' END,
                                            CASE WHEN t.typdefault IS NULL THEN '' ELSE ' default ' || t.typdefault END,
                                            coalesce((SELECT ' ' || string_agg(format('constraint %I %s', co.conname, pg_get_constraintdef(co.oid)),
                                                                               ' ' ORDER BY co.conname COLLATE "C")
                                                        FROM pg_constraint co WHERE co.contypid = t.oid), ''))
                       WHEN 'r' THEN (SELECT format('range over %s', format_type(r.rngsubtype, NULL))
                                        FROM pg_range r WHERE r.rngtypid = t.oid)
                       WHEN 'm' THEN 'multirange'
                       WHEN 'p' THEN 'pseudo-type'
                       ELSE format('base input %s output %s receive %s send %s length %s align %s storage %s',
                                   t.typinput, t.typoutput, t.typreceive, t.typsend,
                                   t.typlen, t.typalign, t.typstorage)
                     END,
                     pg_get_userbyid(t.typowner), pg_temp.x_acl(t.typacl, 'T', t.typowner))
         FROM pg_type t WHERE t.oid IN (SELECT oid FROM x_types)
) s ORDER BY format COLLATE "C";

SELECT format FROM (
       SELECT format('operator %s.%s(%s, %s) returns %s function %s commutator %s negator %s restrict %s join %s',
                     quote_ident(n.nspname), o.oprname, coalesce(format_type(nullif(o.oprleft, 0), NULL), 'none'),
                     format_type(o.oprright, NULL), format_type(o.oprresult, NULL), o.oprcode,
                     coalesce(nullif(o.oprcom, 0)::regoperator::text, '-'),
                     coalesce(nullif(o.oprnegate, 0)::regoperator::text, '-'),
                     coalesce(nullif(o.oprrest, 0)::regproc::text, '-'),
                     coalesce(nullif(o.oprjoin, 0)::regproc::text, '-'))
         FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
        WHERE o.oprnamespace IN (SELECT oid FROM x_nsp) OR pg_temp.x_is_member('pg_operator', o.oid)
) s ORDER BY format COLLATE "C";

-- ---------------------------------------------------------------------------
-- Tables, views, sequences and what hangs off them
-- ---------------------------------------------------------------------------

WITH r AS (
  SELECT c.oid::regclass::text AS ident, c.*
    FROM pg_class c WHERE c.oid IN (SELECT oid FROM x_rels)
), cols AS (
  SELECT a.*, row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) AS pos
    FROM pg_attribute a
   WHERE a.attrelid IN (SELECT oid FROM r) AND a.attnum > 0 AND NOT a.attisdropped
), lines AS (
  -- header
  SELECT r.ident AS k1, 0 AS k2, '' AS k3,
         format('%s %s owner %s%s%s acl %s',
                CASE r.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table'
                               WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                               WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table'
                               WHEN 'c' THEN 'composite type' ELSE 'relkind ' || r.relkind::text END,
                r.ident, pg_get_userbyid(r.relowner),
                CASE r.relpersistence WHEN 'u' THEN ' unlogged' WHEN 't' THEN ' temporary' ELSE '' END,
                CASE WHEN r.relkind IN ('r', 'p') THEN
                     format(' rls %s force-rls %s replica-identity %s',
                            CASE WHEN r.relrowsecurity THEN 'on' ELSE 'off' END,
                            CASE WHEN r.relforcerowsecurity THEN 'on' ELSE 'off' END,
                            r.relreplident)
                     ELSE '' END,
                pg_temp.x_acl(r.relacl, (CASE WHEN r.relkind = 'S' THEN 's' ELSE 'r' END)::"char", r.relowner)) AS line
    FROM r
  UNION ALL
  -- columns, in logical order
  SELECT r.ident, 1, lpad(c.pos::text, 5, '0'),
         format('  column %s %I %s%s%s%s%s%s%s',
                c.pos, c.attname, format_type(c.atttypid, c.atttypmod),
                CASE WHEN c.attcollation <> 0 AND c.attcollation <> t.typcollation
                     THEN ' collate ' || c.attcollation::regcollation ELSE '' END,
                CASE WHEN c.attnotnull THEN ' not null' ELSE '' END,
                CASE WHEN c.attidentity = 'a' THEN ' generated always as identity'
                     WHEN c.attidentity = 'd' THEN ' generated by default as identity' ELSE '' END,
                CASE WHEN c.attgenerated = 's' THEN ' generated always as (' || pg_get_expr(ad.adbin, ad.adrelid) || ') stored'
                     WHEN ad.adbin IS NOT NULL THEN ' default ' || pg_get_expr(ad.adbin, ad.adrelid) ELSE '' END,
                CASE WHEN c.attstorage <> t.typstorage THEN ' storage ' || c.attstorage::text ELSE '' END,
                CASE WHEN c.attacl IS NULL THEN '' ELSE ' acl ' || pg_temp.x_acl(c.attacl, 'c', r.relowner) END)
    FROM r JOIN cols c ON c.attrelid = r.oid AND r.relkind <> 'S'
    JOIN pg_type t ON t.oid = c.atttypid
    LEFT JOIN pg_attrdef ad ON ad.adrelid = c.attrelid AND ad.adnum = c.attnum
  UNION ALL
  -- indexes
  SELECT r.ident, 2, ic.relname,
         format('  index %s%s', pg_get_indexdef(i.indexrelid),
                CASE WHEN i.indisclustered THEN ' (clustered)' ELSE '' END)
    FROM r JOIN pg_index i ON i.indrelid = r.oid JOIN pg_class ic ON ic.oid = i.indexrelid
  UNION ALL
  -- constraints
  SELECT r.ident, 3, co.conname,
         format('  constraint %I %s%s', co.conname, pg_get_constraintdef(co.oid),
                CASE WHEN co.convalidated THEN '' ELSE ' (not validated)' END)
    FROM r JOIN pg_constraint co ON co.conrelid = r.oid
  UNION ALL
  -- triggers (not the internal ones behind foreign keys)
  SELECT r.ident, 4, tg.tgname,
         format('  trigger %I enabled %s: %s', tg.tgname, tg.tgenabled, pg_get_triggerdef(tg.oid))
    FROM r JOIN pg_trigger tg ON tg.tgrelid = r.oid AND NOT tg.tgisinternal
  UNION ALL
  -- row-level security policies
  SELECT r.ident, 5, po.polname,
         format('  policy %I %s for %s to %s%s%s', po.polname,
                CASE WHEN po.polpermissive THEN 'permissive' ELSE 'restrictive' END,
                CASE po.polcmd WHEN 'r' THEN 'select' WHEN 'a' THEN 'insert' WHEN 'w' THEN 'update'
                               WHEN 'd' THEN 'delete' ELSE 'all' END,
                (SELECT string_agg(rn, ',' ORDER BY rn COLLATE "C")
                   FROM unnest(po.polroles) ro,
                        LATERAL (SELECT CASE WHEN ro = 0 THEN 'public'
                                             ELSE quote_ident(pg_get_userbyid(ro)) END AS rn) x),
                CASE WHEN po.polqual IS NULL THEN '' ELSE ' using (' || pg_get_expr(po.polqual, po.polrelid) || ')' END,
                CASE WHEN po.polwithcheck IS NULL THEN ''
                     ELSE ' with check (' || pg_get_expr(po.polwithcheck, po.polrelid) || ')' END)
    FROM r JOIN pg_policy po ON po.polrelid = r.oid
  UNION ALL
  -- view and materialized view definitions
  SELECT r.ident, 6, '', '  definition:' || pg_temp.x_block(pg_get_viewdef(r.oid))
    FROM r WHERE r.relkind IN ('v', 'm')
  UNION ALL
  -- sequence parameters (never their current value)
  SELECT r.ident, 7, '',
         format('  sequence as %s start %s increment %s min %s max %s cache %s%s%s',
                format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
                s.seqcache, CASE WHEN s.seqcycle THEN ' cycle' ELSE '' END,
                coalesce((SELECT format(' owned by %s.%I', d.refobjid::regclass, a.attname)
                            FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                           WHERE d.classid = 'pg_class'::regclass AND d.objid = r.oid
                             AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
                           LIMIT 1), ''))
    FROM r JOIN pg_sequence s ON s.seqrelid = r.oid
)
SELECT line FROM lines
 ORDER BY k1 COLLATE "C", k2, k3 COLLATE "C";

-- ---------------------------------------------------------------------------
-- Event triggers
-- ---------------------------------------------------------------------------

SELECT format FROM (
       SELECT format('event trigger %I on %s when tag in (%s) function %s enabled %s owner %s',
                     v.evtname, v.evtevent,
                     coalesce((SELECT string_agg(quote_literal(tag), ', ' ORDER BY tag COLLATE "C")
                                 FROM unnest(v.evttags) tag), 'any'),
                     v.evtfoid::regprocedure,
                     CASE v.evtenabled WHEN 'O' THEN 'origin' WHEN 'D' THEN 'disabled'
                                       WHEN 'R' THEN 'replica' WHEN 'A' THEN 'always' END,
                     pg_get_userbyid(v.evtowner))
         FROM pg_event_trigger v WHERE v.oid IN (SELECT oid FROM x_evts)
) s ORDER BY format COLLATE "C";

-- ---------------------------------------------------------------------------
-- Comments and initial privileges on all of the above
-- ---------------------------------------------------------------------------

SELECT format FROM (
       SELECT format('comment on %s %s: %s', i.type, i.identity, d.description)
         FROM pg_description d
         JOIN x_objs o ON o.classid = d.classoid AND o.objid = d.objoid,
              pg_identify_object(d.classoid, d.objoid, d.objsubid) i
) s ORDER BY format COLLATE "C";

SELECT format FROM (
       SELECT format('initial privileges (%s) on %s %s: %s',
                     CASE ip.privtype WHEN 'e' THEN 'extension' WHEN 'i' THEN 'initdb' ELSE ip.privtype::text END,
                     i.type, i.identity,
                     (SELECT string_agg(a::text, ',' ORDER BY a::text COLLATE "C") FROM unnest(ip.initprivs) a))
         FROM pg_init_privs ip
         JOIN x_objs o ON o.classid = ip.classoid AND o.objid = ip.objoid,
              pg_identify_object(ip.classoid, ip.objoid, ip.objsubid) i
) s ORDER BY format COLLATE "C";

ROLLBACK;
