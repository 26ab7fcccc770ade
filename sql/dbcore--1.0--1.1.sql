/* dbcore 1.0 -> 1.1 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION dbcore UPDATE TO '1.1'" to load this file. \quit

-- 1.1 makes the tenant path cheaper (bench/tenant.sh --callgrind) and closes
-- DDL ways around the policies for table-owning roles.

COMMENT ON SCHEMA @extschema@ IS
  'dbcore 1.1: updated_at triggers, tenant scoping and migration bookkeeping';

------------------------------------------------------------------------------
-- The permissive companion policy grants everything; the restrictive policy
-- alone decides (one init-plan per command instead of two).
------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION @extschema@.tenant_check_tables(
    tbls pg_catalog.regclass[],
    column_names pg_catalog.name[])
RETURNS TABLE(tbl pg_catalog.regclass, check_name pg_catalog.text, detail pg_catalog.text)
LANGUAGE sql
STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
WITH t AS (
    SELECT u.tbl AS relid, u.col, c.relrowsecurity, c.relforcerowsecurity,
           a.attnum, a.atttypid, a.attnotnull,
           CASE a.atttypid
               WHEN 'pg_catalog.uuid'::pg_catalog.regtype THEN 'current_client_id'
               WHEN 'pg_catalog.int8'::pg_catalog.regtype THEN 'current_client_id_bigint'
               WHEN 'pg_catalog.int4'::pg_catalog.regtype THEN 'current_client_id_int'
               WHEN 'pg_catalog.text'::pg_catalog.regtype THEN 'current_client_id_text'
           END AS fn
      FROM ROWS FROM (pg_catalog.unnest(tbls), pg_catalog.unnest(column_names)) AS u(tbl, col)
      JOIN pg_catalog.pg_class c ON c.oid = u.tbl
      LEFT JOIN pg_catalog.pg_attribute a
             ON a.attrelid = u.tbl AND a.attname = u.col
            AND a.attnum > 0 AND NOT a.attisdropped
), e AS (
    SELECT t.*,
           -- as pg_get_expr() prints the policies enable_tenant_scoping creates
           pg_catalog.format('(%s = ( SELECT %s.%s() AS %s))', pg_catalog.quote_ident(t.col),
                             pg_catalog.quote_ident('@extschema@'), t.fn, t.fn) AS expr
      FROM t
), problems AS (
    SELECT e.relid, 'column' AS check_name,
           CASE WHEN e.attnum IS NULL
                    THEN pg_catalog.format('client column "%s" does not exist', e.col)
                WHEN e.fn IS NULL
                    THEN pg_catalog.format('client column "%s" is of type %s, not uuid, bigint, integer or text',
                                           e.col, pg_catalog.format_type(e.atttypid, NULL))
                WHEN NOT e.attnotnull
                    THEN pg_catalog.format('client column "%s" allows NULL', e.col)
           END AS detail
      FROM e
    UNION ALL
    SELECT e.relid, 'row level security',
           CASE WHEN NOT e.relrowsecurity THEN 'row level security is disabled' END
      FROM e
    UNION ALL
    SELECT e.relid, 'force row level security',
           CASE WHEN NOT e.relforcerowsecurity THEN 'row level security is not forced for the table owner' END
      FROM e
    UNION ALL
    SELECT e.relid, 'policy ' OPERATOR(pg_catalog.||) v.polname,
           CASE WHEN p.oid IS NULL
                    THEN pg_catalog.format('policy "%s" is missing', v.polname)
                WHEN p.polpermissive <> v.permissive
                    THEN pg_catalog.format('policy "%s" is not %s', v.polname,
                                           CASE WHEN v.permissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END)
                WHEN p.polcmd <> '*'
                    THEN pg_catalog.format('policy "%s" does not apply to ALL commands', v.polname)
                WHEN p.polroles <> '{0}'::pg_catalog.oid[]
                    THEN pg_catalog.format('policy "%s" does not apply to PUBLIC', v.polname)
                WHEN e.fn IS NULL
                    THEN NULL
                WHEN pg_catalog.pg_get_expr(p.polqual, p.polrelid)
                     IS DISTINCT FROM CASE WHEN v.permissive THEN 'true' ELSE e.expr END
                    THEN pg_catalog.format('policy "%s" has a different USING expression', v.polname)
                WHEN pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)
                     IS DISTINCT FROM CASE WHEN v.permissive THEN 'true' ELSE e.expr END
                    THEN pg_catalog.format('policy "%s" has a different WITH CHECK expression', v.polname)
           END
      FROM e
     CROSS JOIN (VALUES ('dbcore_tenant_isolation'::pg_catalog.name, false),
                        ('dbcore_tenant_access'::pg_catalog.name, true)) AS v(polname, permissive)
      LEFT JOIN pg_catalog.pg_policy p ON p.polrelid = e.relid AND p.polname = v.polname
    UNION ALL
    SELECT e.relid, 'trigger ' OPERATOR(pg_catalog.||) v.tgname,
           CASE WHEN g.oid IS NULL
                    THEN pg_catalog.format('trigger "%s" is missing', v.tgname)
                WHEN g.tgenabled NOT IN ('O', 'A')
                    THEN pg_catalog.format('trigger "%s" is disabled', v.tgname)
                WHEN g.tgfoid <> v.tgfoid OR g.tgtype <> v.tgtype OR g.tgqual IS NOT NULL
                     OR pg_catalog.cardinality(g.tgattr::pg_catalog.int2[]) <> 0
                     OR g.tgnargs <> CASE WHEN v.column_arg THEN 1 ELSE 0 END
                     OR (v.column_arg AND g.tgargs IS DISTINCT FROM
                         pg_catalog.convert_to(e.col, pg_catalog.getdatabaseencoding())
                           OPERATOR(pg_catalog.||) '\x00'::pg_catalog.bytea)
                    THEN pg_catalog.format('trigger "%s" has been redefined', v.tgname)
           END
      FROM e
     CROSS JOIN (VALUES ('dbcore_tenant_guard'::pg_catalog.name,
                         '@extschema@.tenant_row_guard()'::pg_catalog.regprocedure::pg_catalog.oid,
                         23::pg_catalog.int2, true),
                        ('dbcore_tenant_truncate_guard'::pg_catalog.name,
                         '@extschema@.tenant_truncate_guard()'::pg_catalog.regprocedure::pg_catalog.oid,
                         34::pg_catalog.int2, false)) AS v(tgname, tgfoid, tgtype, column_arg)
      LEFT JOIN pg_catalog.pg_trigger g ON g.tgrelid = e.relid AND g.tgname = v.tgname
)
SELECT p.relid, p.check_name, p.detail
  FROM problems p
 WHERE p.detail IS NOT NULL
 ORDER BY p.relid, p.check_name
$function$;

COMMENT ON FUNCTION @extschema@.tenant_check_tables(pg_catalog.regclass[], pg_catalog.name[]) IS
  'What keeps the given tables (with the given client columns) from being fully tenant-scoped: one row per broken piece (column, row level security and its forcing, each dbcore policy and trigger)';

CREATE OR REPLACE FUNCTION @extschema@._tenant_scope_one(
    tbl pg_catalog.regclass,
    column_name pg_catalog.name)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    rel      record;
    col      record;
    fn       pg_catalog.text;
    expr     pg_catalog.text;
    printed  pg_catalog.text;
    want     record;
    pol      record;
    trg      record;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'table must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity, c.relowner
      INTO rel
      FROM pg_catalog.pg_class c WHERE c.oid = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relation with OID % does not exist', tbl::pg_catalog.oid
            USING ERRCODE = 'undefined_table';
    END IF;
    IF column_name IS NULL OR column_name = '' THEN
        RAISE EXCEPTION 'column name must not be null or empty'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF rel.relkind = 'f' THEN
        RAISE EXCEPTION 'cannot tenant-scope foreign table "%"', rel.relname
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Foreign tables do not support row level security; as a partition it could be queried directly.';
    ELSIF rel.relkind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '"%" is not a table', rel.relname
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = 'Tenant scoping applies to tables and partitioned tables.';
    END IF;
    IF NOT pg_catalog.pg_has_role(rel.relowner, 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table %', rel.relname
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Call dbcore.enable_tenant_scoping() as the table''s owner.';
    END IF;

    SELECT a.attnum, a.atttypid, a.attnotnull, a.attgenerated INTO col
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = column_name
       AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of relation "%" does not exist', column_name, rel.relname
            USING ERRCODE = 'undefined_column',
                  HINT = 'Add the client column first, for example ALTER TABLE ... ADD COLUMN client_id uuid NOT NULL, or name the column in the second argument.';
    END IF;
    fn := CASE col.atttypid
              WHEN 'pg_catalog.uuid'::pg_catalog.regtype THEN 'current_client_id'
              WHEN 'pg_catalog.int8'::pg_catalog.regtype THEN 'current_client_id_bigint'
              WHEN 'pg_catalog.int4'::pg_catalog.regtype THEN 'current_client_id_int'
              WHEN 'pg_catalog.text'::pg_catalog.regtype THEN 'current_client_id_text'
          END;
    IF fn IS NULL THEN
        RAISE EXCEPTION 'client column "%" of relation "%" is of type %', column_name, rel.relname,
                        pg_catalog.format_type(col.atttypid, NULL)
            USING ERRCODE = 'datatype_mismatch',
                  DETAIL = 'Client columns must be of type uuid, bigint, integer or text.';
    END IF;
    IF col.attgenerated <> '' THEN
        RAISE EXCEPTION 'client column "%" of relation "%" is a generated column', column_name, rel.relname
            USING ERRCODE = 'generated_always',
                  DETAIL = 'The client column is filled in from the current client.';
    END IF;
    -- The client is compared through an init-plan, (SELECT f()): evaluated
    -- once per query, so a sequential scan costs no function call per row,
    -- and index conditions on the client column still apply.
    expr := pg_catalog.format('%I = (SELECT %I.%I())', column_name, '@extschema@', fn);
    printed := pg_catalog.format('(%s = ( SELECT %s.%s() AS %s))', pg_catalog.quote_ident(column_name),
                                 pg_catalog.quote_ident('@extschema@'), fn, fn);

    IF NOT col.attnotnull THEN
        EXECUTE pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I SET NOT NULL', tbl, column_name);
    END IF;
    IF NOT rel.relrowsecurity THEN
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    END IF;
    IF NOT rel.relforcerowsecurity THEN
        EXECUTE pg_catalog.format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
    END IF;

    -- The restrictive policy limits every command to the current client.
    -- Row level security lets nothing through without a permissive policy,
    -- so its companion grants everything (USING (true) WITH CHECK (true)):
    -- what a command may touch is then exactly what the restrictive policy
    -- allows, and permissive policies added later change nothing.  (A
    -- companion that repeated the client comparison would cost one more
    -- init-plan per policy and command on every write, for no extra rows
    -- refused.)
    FOR want IN
        SELECT * FROM (VALUES ('dbcore_tenant_isolation'::pg_catalog.name, false, 'RESTRICTIVE', expr, printed),
                              ('dbcore_tenant_access'::pg_catalog.name, true, 'PERMISSIVE', 'true', 'true'))
                      AS v(polname, permissive, kind, expr, printed)
    LOOP
        SELECT p.polpermissive, p.polcmd, p.polroles,
               pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS qual,
               pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) AS wcheck
          INTO pol
          FROM pg_catalog.pg_policy p
         WHERE p.polrelid = tbl AND p.polname = want.polname;
        IF FOUND AND (pol.polpermissive <> want.permissive OR pol.polcmd <> '*') THEN
            EXECUTE pg_catalog.format('DROP POLICY %I ON %s', want.polname, tbl);
            pol := NULL;
        END IF;
        IF pol IS NULL THEN
            EXECUTE pg_catalog.format('CREATE POLICY %I ON %s AS %s FOR ALL TO PUBLIC USING (%s) WITH CHECK (%s)',
                                      want.polname, tbl, want.kind, want.expr, want.expr);
        ELSIF pol.polroles <> '{0}'::pg_catalog.oid[]
              OR pol.qual IS DISTINCT FROM want.printed
              OR pol.wcheck IS DISTINCT FROM want.printed THEN
            EXECUTE pg_catalog.format('ALTER POLICY %I ON %s TO PUBLIC USING (%s) WITH CHECK (%s)',
                                      want.polname, tbl, want.expr, want.expr);
        END IF;
    END LOOP;

    -- The row guard (partitions get a clone of their parent's) and the
    -- TRUNCATE guard (statement triggers are not cloned).
    FOR want IN
        SELECT * FROM (VALUES ('dbcore_tenant_guard'::pg_catalog.name,
                               '@extschema@.tenant_row_guard()'::pg_catalog.regprocedure::pg_catalog.oid,
                               23::pg_catalog.int2,
                               pg_catalog.convert_to(column_name, pg_catalog.getdatabaseencoding())
                                 OPERATOR(pg_catalog.||) '\x00'::pg_catalog.bytea,
                               pg_catalog.format('BEFORE INSERT OR UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION %I.tenant_row_guard(%L)',
                                                 tbl, '@extschema@', column_name)),
                              ('dbcore_tenant_truncate_guard'::pg_catalog.name,
                               '@extschema@.tenant_truncate_guard()'::pg_catalog.regprocedure::pg_catalog.oid,
                               34::pg_catalog.int2,
                               ''::pg_catalog.bytea,
                               pg_catalog.format('BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION %I.tenant_truncate_guard()',
                                                 tbl, '@extschema@')))
                      AS v(tgname, tgfoid, tgtype, tgargs, definition)
    LOOP
        SELECT g.tgenabled, g.tgparentid <> 0 AS cloned,
               (g.tgfoid = want.tgfoid AND g.tgtype = want.tgtype AND g.tgqual IS NULL
                AND pg_catalog.cardinality(g.tgattr::pg_catalog.int2[]) = 0
                AND g.tgargs = want.tgargs) AS matches
          INTO trg
          FROM pg_catalog.pg_trigger g
         WHERE g.tgrelid = tbl AND g.tgname = want.tgname;
        IF FOUND AND NOT trg.matches THEN
            IF trg.cloned THEN
                RAISE EXCEPTION 'relation "%" inherits a redefined trigger "%" from its partitioned table', rel.relname, want.tgname
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          HINT = 'Call dbcore.enable_tenant_scoping() on the partitioned table.';
            END IF;
            EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', want.tgname, tbl);
            trg := NULL;
        END IF;
        IF trg IS NULL THEN
            EXECUTE pg_catalog.format('CREATE TRIGGER %I %s', want.tgname, want.definition);
        ELSIF trg.tgenabled NOT IN ('O', 'A') THEN
            EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE TRIGGER %I', tbl, want.tgname);
        END IF;
    END LOOP;
END;
$function$;

COMMENT ON FUNCTION @extschema@._tenant_scope_one(pg_catalog.regclass, pg_catalog.name) IS
  'Internal: creates or repairs the tenant scoping of one table or partition (NOT NULL client column, forced row level security, dbcore policies and triggers)';

-- Existing scoped tables and partitions get the new companion.  (The guard
-- rails check every scoped table after each command against the definitions
-- above, which already expect it.)
DO $upgrade$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT p.polrelid
          FROM @extschema@.tenant_tables t
          JOIN pg_catalog.pg_policy p
            ON p.polrelid = t.tbl AND p.polname = 'dbcore_tenant_access'
         ORDER BY p.polrelid
    LOOP
        EXECUTE pg_catalog.format(
            'ALTER POLICY dbcore_tenant_access ON %s TO PUBLIC USING (true) WITH CHECK (true)',
            r.polrelid::pg_catalog.regclass);
    END LOOP;
END;
$upgrade$;

------------------------------------------------------------------------------
-- The functions of every tenant transaction keep PostgreSQL's default ACL.
------------------------------------------------------------------------------

-- Earlier versions granted EXECUTE to PUBLIC explicitly, which stores the
-- default ACL in the function's pg_proc row.  The executor checks EXECUTE
-- each time it starts a statement that calls the function, and reading a
-- stored ACL (the last column of a wide row) costs about a thousand
-- instructions per call site; a default (null) ACL costs next to nothing.
-- Same privileges, only where they are kept: rows whose ACL a DBA changed
-- are left alone.
UPDATE pg_catalog.pg_proc
   SET proacl = NULL
 WHERE pronamespace = '@extschema@'::pg_catalog.regnamespace
   AND proname IN ('set_client', 'current_client_id', 'current_client_id_text',
                   'current_client_id_bigint', 'current_client_id_int')
   AND proacl OPERATOR(pg_catalog.=) pg_catalog.acldefault('f', proowner);
DELETE FROM pg_catalog.pg_init_privs
 WHERE classoid = 'pg_catalog.pg_proc'::pg_catalog.regclass
   AND objoid IN (SELECT oid FROM pg_catalog.pg_proc
                   WHERE pronamespace = '@extschema@'::pg_catalog.regnamespace
                     AND proname IN ('set_client', 'current_client_id', 'current_client_id_text',
                                     'current_client_id_bigint', 'current_client_id_int')
                     AND proacl IS NULL);
