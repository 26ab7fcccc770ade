/* dbcore 1.1 -> 1.2 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION dbcore UPDATE TO '1.2'" to load this file. \quit

-- 1.2 runs the client scope's init-plans as one light plan node per plan
-- node (shared library; dbcore.optimize_scope_plans), and lets a table that
-- got the updated_at trigger on its own be attached as a partition of a
-- table that has it too.

COMMENT ON SCHEMA @extschema@ IS
  'dbcore 1.2: updated_at triggers, tenant scoping and migration bookkeeping';

------------------------------------------------------------------------------
-- Before ALTER TABLE parent ATTACH PARTITION part, a row trigger of part's
-- own that parent also has (same name) would clash with the clone that
-- PostgreSQL gives part: dbcore's row guard always goes, and dbcore's
-- updated_at trigger goes when the clone will do exactly what it did (same
-- function, timing, events and arguments, no column list or WHEN).  Any other same-named
-- trigger stays, and the attach fails as PostgreSQL makes it fail.
------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION @extschema@._tenant_before_attach(
    parent pg_catalog.regclass,
    part pg_catalog.regclass)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    t pg_catalog.name;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                WHERE g.tgrelid = parent AND g.tgname = 'dbcore_tenant_guard'
                  AND g.tgfoid = '@extschema@.tenant_row_guard()'::pg_catalog.regprocedure)
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                    WHERE g.tgrelid = part AND g.tgname = 'dbcore_tenant_guard'
                      AND g.tgparentid = 0
                      AND g.tgfoid = '@extschema@.tenant_row_guard()'::pg_catalog.regprocedure) THEN
        EXECUTE pg_catalog.format('DROP TRIGGER dbcore_tenant_guard ON %s', part);
    END IF;

    FOR t IN
        SELECT c.tgname
          FROM pg_catalog.pg_trigger p
          JOIN pg_catalog.pg_trigger c
            ON c.tgrelid = part AND c.tgname = p.tgname
         WHERE p.tgrelid = parent
           AND p.tgfoid = '@extschema@.updated_at()'::pg_catalog.regprocedure
           AND c.tgfoid = p.tgfoid
           AND c.tgparentid = 0 AND NOT c.tgisinternal
           AND c.tgtype = p.tgtype
           AND c.tgenabled = p.tgenabled
           AND c.tgnargs = p.tgnargs AND c.tgargs = p.tgargs
           AND c.tgqual IS NULL AND p.tgqual IS NULL
           AND pg_catalog.cardinality(c.tgattr::pg_catalog.int2[]) = 0
           AND pg_catalog.cardinality(p.tgattr::pg_catalog.int2[]) = 0
    LOOP
        EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', t, part);
    END LOOP;
END;
$function$;

COMMENT ON FUNCTION @extschema@._tenant_before_attach(pg_catalog.regclass, pg_catalog.regclass) IS
  'Internal, run by the guard-rail event trigger before ATTACH PARTITION: drops the row guard and an identical updated_at trigger of a table about to receive its new parent''s clones';
