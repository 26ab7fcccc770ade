/* dbcore 1.3 -> 1.4 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION dbcore UPDATE TO '1.4'" to load this file. \quit

COMMENT ON SCHEMA @extschema@ IS
  'dbcore 1.4: updated_at triggers, tenant scoping and migration bookkeeping';

------------------------------------------------------------------------------
-- Importing history: migrations another tool applied (node-pg-migrate's
-- pgmigrations, Prisma's _prisma_migrations, Flyway's flyway_schema_history)
-- are recorded in the ledger as 'imported', with their original names and
-- times, without running anything.  dbcore-migrate import reads the other
-- tool's table as its caller and calls dbcore.import_migration() once per
-- migration; the function never reads a user's table.
--
-- An imported row's checksum is the SHA-256 of its up script where that is
-- known (Prisma records exactly that; dbcore-migrate import --dir computes
-- it from the file), else NULL: verify_migrations() then says 'imported'
-- (nothing to compare) instead of 'ok' or 'changed'.  source_checksum keeps
-- the other tool's own checksum (Flyway's CRC-32, Prisma's SHA-256) as it
-- recorded it.
------------------------------------------------------------------------------
ALTER TABLE @extschema@.migrations
    ADD COLUMN imported_from pg_catalog.text,
    ADD COLUMN source_checksum pg_catalog.text,
    DROP CONSTRAINT migrations_state_check,
    ADD CONSTRAINT migrations_state_check
        CHECK (state OPERATOR(pg_catalog.=) ANY (ARRAY['applied', 'in_progress', 'baseline', 'imported']::pg_catalog.text[])),
    DROP CONSTRAINT migrations_checksum_check,
    ADD CONSTRAINT migrations_checksum_check
        CHECK (CASE WHEN state OPERATOR(pg_catalog.=) 'baseline' THEN checksum IS NULL
                    WHEN state OPERATOR(pg_catalog.=) 'imported'
                      THEN checksum IS NULL OR checksum OPERATOR(pg_catalog.~) '^[0-9a-f]{64}$'
                    ELSE coalesce(checksum OPERATOR(pg_catalog.~) '^[0-9a-f]{64}$', false) END),
    ADD CONSTRAINT migrations_imported_check
        CHECK ((state OPERATOR(pg_catalog.=) 'imported') OPERATOR(pg_catalog.=) (imported_from IS NOT NULL));

COMMENT ON TABLE @extschema@.migrations IS
  'Migration ledger: one row per applied (or in-progress, baseline or imported) migration; written only by the dbcore migration functions';
COMMENT ON COLUMN @extschema@.migrations.state IS
  'applied; in_progress (a non-transactional migration begun and not finished); baseline (adopted existing schema up to this version); imported (applied by another migration tool, recorded by dbcore.import_migration())';
COMMENT ON COLUMN @extschema@.migrations.checksum IS
  'SHA-256 (hex) of the up script; NULL for the baseline, and for an imported migration whose script is not known';
COMMENT ON COLUMN @extschema@.migrations.applied_at IS
  'When it was applied (in_progress: when it was begun; imported: when the other tool applied it)';
COMMENT ON COLUMN @extschema@.migrations.applied_by IS
  'Role that applied it (current_user of the caller; imported: as the other tool recorded it, else the role that imported it)';
COMMENT ON COLUMN @extschema@.migrations.imported_from IS
  'imported only: the tool that applied it (node-pg-migrate, prisma, flyway, ...)';
COMMENT ON COLUMN @extschema@.migrations.source_checksum IS
  'imported only: the checksum the other tool recorded, in its own format (Flyway: CRC-32 as a signed integer; Prisma: SHA-256 hex), if any';

ALTER TABLE @extschema@.migration_log
    DROP CONSTRAINT migration_log_event_check,
    ADD CONSTRAINT migration_log_event_check
        CHECK (event OPERATOR(pg_catalog.=) ANY (ARRAY['applied', 'reverted', 'baselined', 'repaired', 'begun', 'finished', 'imported']::pg_catalog.text[]));

COMMENT ON TABLE @extschema@.migration_log IS
  'History of the migration ledger: one row per event (applied, reverted, baselined, repaired, begun, finished, imported)';
COMMENT ON COLUMN @extschema@.migration_log.event IS
  'applied, reverted, baselined, repaired, begun, finished or imported';

CREATE FUNCTION @extschema@.import_migration(
    version pg_catalog.text,
    name pg_catalog.text,
    applied_at pg_catalog.timestamptz,
    imported_from pg_catalog.text,
    checksum pg_catalog.text DEFAULT NULL,
    source_checksum pg_catalog.text DEFAULT NULL,
    applied_by pg_catalog.text DEFAULT NULL,
    execution_ms pg_catalog.float8 DEFAULT NULL,
    down_sql pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'dbcore_import_migration'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.import_migration(pg_catalog.text, pg_catalog.text, pg_catalog.timestamptz, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.float8, pg_catalog.text) IS
  'Records a migration another tool applied, with its original name and time, without running anything; true if recorded now, false if the ledger already agrees';

REVOKE ALL ON FUNCTION @extschema@.import_migration(pg_catalog.text, pg_catalog.text, pg_catalog.timestamptz, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.float8, pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION @extschema@.migration_imports()
RETURNS TABLE (
    version         pg_catalog.text,
    name            pg_catalog.text,
    imported_from   pg_catalog.text,
    checksum        pg_catalog.text,
    source_checksum pg_catalog.text,
    applied_at      pg_catalog.timestamptz,
    applied_by      pg_catalog.text,
    execution_ms    pg_catalog.float8)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT m.version, m.name, m.imported_from, m.checksum, m.source_checksum,
           m.applied_at, m.applied_by, m.execution_ms
      FROM @extschema@.migrations m
     WHERE m.state OPERATOR(pg_catalog.=) 'imported'
     ORDER BY m.version_key;
$function$;

COMMENT ON FUNCTION @extschema@.migration_imports() IS
  'The imported migrations in version order, with the tool that applied them and its checksum';

REVOKE ALL ON FUNCTION @extschema@.migration_imports() FROM PUBLIC;

-- verify_migrations(): imported migrations.  With a checksum they compare
-- like applied ones; without one, or without a file, they are 'imported':
-- nothing to compare, nothing to run.
CREATE OR REPLACE FUNCTION @extschema@.verify_migrations(versions pg_catalog.text[], up_scripts pg_catalog.text[])
RETURNS TABLE (
    version  pg_catalog.text,
    name     pg_catalog.text,
    status   pg_catalog.text,
    detail   pg_catalog.text)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    dup pg_catalog.text;
BEGIN
    IF versions IS NULL OR up_scripts IS NULL THEN
        RAISE EXCEPTION 'versions and up_scripts must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass two arrays of the same length: the versions of the migration files and their up scripts; empty arrays check the ledger alone.';
    END IF;
    IF pg_catalog.cardinality(versions) OPERATOR(pg_catalog.<>) pg_catalog.cardinality(up_scripts)
       OR pg_catalog.array_ndims(versions) OPERATOR(pg_catalog.>) 1
       OR pg_catalog.array_ndims(up_scripts) OPERATOR(pg_catalog.>) 1 THEN
        RAISE EXCEPTION 'versions and up_scripts must be one-dimensional arrays of the same length'
            USING ERRCODE = 'array_subscript_error',
                  DETAIL = pg_catalog.format('versions has %s elements, up_scripts has %s.',
                                             pg_catalog.cardinality(versions), pg_catalog.cardinality(up_scripts));
    END IF;
    IF pg_catalog.array_position(versions, NULL) IS NOT NULL
       OR pg_catalog.array_position(up_scripts, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'versions and up_scripts must not contain nulls'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- migration_version_key() rejects a malformed version with its own error.
    SELECT pg_catalog.string_agg(pg_catalog.format('"%s"', v.v), ', ') INTO dup
      FROM (SELECT u.v, pg_catalog.count(*) OVER (PARTITION BY @extschema@.migration_version_key(u.v)) AS n
              FROM pg_catalog.unnest(versions) AS u(v)) v
     WHERE v.n OPERATOR(pg_catalog.>) 1;
    IF dup IS NOT NULL THEN
        RAISE EXCEPTION 'versions name the same migration more than once: %', dup
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Numeric groups compare as numbers: 001 and 1 are the same version.';
    END IF;

    RETURN QUERY
    WITH given AS (
        SELECT u.v AS version, @extschema@.migration_version_key(u.v) AS version_key,
               @extschema@.migration_checksum(u.s) AS checksum
          FROM ROWS FROM (pg_catalog.unnest(versions), pg_catalog.unnest(up_scripts)) AS u(v, s)
    ), ledger AS (
        SELECT m.version_key, m.version, m.name, m.state, m.checksum, m.imported_from
          FROM @extschema@.migrations m
    ), newest AS (
        SELECT pg_catalog.max(l.version_key COLLATE "C") AS k FROM ledger l
    ), base AS (
        SELECT pg_catalog.max(l.version_key COLLATE "C") AS k FROM ledger l
         WHERE l.state OPERATOR(pg_catalog.=) 'baseline'
    )
    SELECT coalesce(g.version, l.version), l.name,
           CASE
             WHEN l.state OPERATOR(pg_catalog.=) 'baseline' THEN 'baseline'
             WHEN l.version_key IS NULL AND g.version_key OPERATOR(pg_catalog.<=) (SELECT b.k FROM base b) THEN 'baseline'
             WHEN l.state OPERATOR(pg_catalog.=) 'imported' AND (g.version_key IS NULL OR l.checksum IS NULL) THEN 'imported'
             WHEN g.version_key IS NULL THEN 'unknown'
             WHEN l.version_key IS NULL AND g.version_key OPERATOR(pg_catalog.<) (SELECT n.k FROM newest n) THEN 'missing'
             WHEN l.version_key IS NULL THEN 'pending'
             WHEN l.state OPERATOR(pg_catalog.=) 'in_progress' THEN 'in_progress'
             WHEN l.checksum OPERATOR(pg_catalog.<>) g.checksum THEN 'changed'
             ELSE 'ok'
           END,
           CASE
             WHEN l.state OPERATOR(pg_catalog.=) 'baseline' THEN 'baseline of the ledger'
             WHEN l.version_key IS NULL AND g.version_key OPERATOR(pg_catalog.<=) (SELECT b.k FROM base b) THEN 'covered by the baseline'
             WHEN l.state OPERATOR(pg_catalog.=) 'imported' AND g.version_key IS NULL
               THEN pg_catalog.format('imported from %s; no such migration was given', l.imported_from)
             WHEN l.state OPERATOR(pg_catalog.=) 'imported' AND l.checksum IS NULL
               THEN pg_catalog.format('imported from %s without a checksum: the script cannot be compared', l.imported_from)
             WHEN g.version_key IS NULL THEN 'applied, but no such migration was given'
             WHEN l.version_key IS NULL AND g.version_key OPERATOR(pg_catalog.<) (SELECT n.k FROM newest n)
               THEN 'not applied, and older than the newest applied migration'
             WHEN l.version_key IS NULL THEN 'not applied yet'
             WHEN l.state OPERATOR(pg_catalog.=) 'in_progress' THEN 'begun and not finished'
             WHEN l.checksum OPERATOR(pg_catalog.<>) g.checksum
               THEN pg_catalog.format('applied with checksum %s, script has checksum %s', l.checksum, g.checksum)
             ELSE NULL
           END
      FROM given g
      FULL JOIN ledger l ON l.version_key OPERATOR(pg_catalog.=) g.version_key
     ORDER BY coalesce(g.version_key, l.version_key) COLLATE "C";
END;
$function$;

COMMENT ON FUNCTION @extschema@.verify_migrations(pg_catalog.text[], pg_catalog.text[]) IS
  'Drift report of migration scripts against the ledger, one row per version: ok, pending, baseline, changed (checksum differs), missing (not applied, older than the newest), unknown (applied, not given), in_progress, imported (applied by another tool; nothing to compare)';

------------------------------------------------------------------------------
-- Citus: tenant scoping on distributed tables.
--
-- Citus refuses policies with sub-selects on distributed tables, so in a
-- database where the citus extension is installed dbcore's policies compare
-- the client column with the function itself: client_id =
-- dbcore.current_client_id().  (Elsewhere they keep the init-plan form,
-- (SELECT dbcore.current_client_id()), which is cheaper on one node.)  Citus
-- copies policies to the shards as PERMISSIVE whatever they were on the
-- coordinator: the shared library turns dbcore_tenant_isolation back into a
-- RESTRICTIVE policy at the end of the DDL command that created it, on every
-- node, and on Citus the companion policy repeats the client comparison
-- instead of USING (true), so that even a shard whose restrictive policy was
-- lost shows one client's rows.  (The shared library routes scoped
-- queries, and inserts that leave the client column out, to the current
-- client's shard.)  dbcore.tenant_check_shards() checks every shard placement and every
-- worker's copy of each scoped distributed table.
------------------------------------------------------------------------------

-- The client function that matches a client column's type, or NULL.
CREATE FUNCTION @extschema@._tenant_client_function(typid pg_catalog.oid)
RETURNS pg_catalog.text
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
SELECT CASE typid
           WHEN 'pg_catalog.uuid'::pg_catalog.regtype THEN 'current_client_id'
           WHEN 'pg_catalog.int8'::pg_catalog.regtype THEN 'current_client_id_bigint'
           WHEN 'pg_catalog.int4'::pg_catalog.regtype THEN 'current_client_id_int'
           WHEN 'pg_catalog.text'::pg_catalog.regtype THEN 'current_client_id_text'
       END
$function$;

COMMENT ON FUNCTION @extschema@._tenant_client_function(pg_catalog.oid) IS
  'Internal: the name of the dbcore function that returns the current client as a value of the given client column type';

-- The checks of tenant_check_tables(), for tables whose dbcore triggers may
-- carry a suffix: Citus names a shard's triggers <name>_<shard id>.
CREATE FUNCTION @extschema@._tenant_check(
    tbls pg_catalog.regclass[],
    column_names pg_catalog.name[],
    trigger_suffixes pg_catalog.text[])
RETURNS TABLE(tbl pg_catalog.regclass, check_name pg_catalog.text, detail pg_catalog.text)
LANGUAGE sql
STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
WITH t AS (
    SELECT u.tbl AS relid, u.col, u.suffix, c.relrowsecurity, c.relforcerowsecurity,
           a.attnum, a.atttypid, a.attnotnull,
           @extschema@._tenant_client_function(a.atttypid) AS fn
      FROM ROWS FROM (pg_catalog.unnest(tbls), pg_catalog.unnest(column_names),
                      pg_catalog.unnest(trigger_suffixes)) AS u(tbl, col, suffix)
      JOIN pg_catalog.pg_class c ON c.oid = u.tbl
      LEFT JOIN pg_catalog.pg_attribute a
             ON a.attrelid = u.tbl AND a.attname = u.col
            AND a.attnum > 0 AND NOT a.attisdropped
), e AS (
    -- the two forms of the client comparison, as pg_get_expr() prints them
    SELECT t.*,
           pg_catalog.format('(%s = ( SELECT %s.%s() AS %s))', pg_catalog.quote_ident(t.col),
                             pg_catalog.quote_ident('@extschema@'), t.fn, t.fn) AS initplan_expr,
           pg_catalog.format('(%s = %s.%s())', pg_catalog.quote_ident(t.col),
                             pg_catalog.quote_ident('@extschema@'), t.fn) AS plain_expr
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
                -- the restrictive policy compares the client column in
                -- either form; the permissive one grants everything or
                -- repeats the comparison (on Citus)
                WHEN pg_catalog.pg_get_expr(p.polqual, p.polrelid) IS NULL
                     OR pg_catalog.pg_get_expr(p.polqual, p.polrelid) NOT IN
                        (e.plain_expr, CASE WHEN v.permissive THEN 'true' ELSE e.initplan_expr END)
                    THEN pg_catalog.format('policy "%s" has a different USING expression', v.polname)
                WHEN pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) IS DISTINCT FROM
                     pg_catalog.pg_get_expr(p.polqual, p.polrelid)
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
      LEFT JOIN pg_catalog.pg_trigger g
             ON g.tgrelid = e.relid AND g.tgname = v.tgname OPERATOR(pg_catalog.||) e.suffix
     -- Citus keeps TRUNCATE triggers on the distributed table only, not on
     -- its shards (the shared library refuses TRUNCATE of a shard instead)
     WHERE e.suffix = '' OR v.column_arg
)
SELECT p.relid, p.check_name, p.detail
  FROM problems p
 WHERE p.detail IS NOT NULL
 ORDER BY p.relid, p.check_name
$function$;

COMMENT ON FUNCTION @extschema@._tenant_check(pg_catalog.regclass[], pg_catalog.name[], pg_catalog.text[]) IS
  'Internal: the checks of dbcore.tenant_check_tables(), with a suffix for the names of each table''s dbcore triggers (a Citus shard''s triggers end in _<shard id>)';

CREATE OR REPLACE FUNCTION @extschema@.tenant_check_tables(
    tbls pg_catalog.regclass[],
    column_names pg_catalog.name[])
RETURNS TABLE(tbl pg_catalog.regclass, check_name pg_catalog.text, detail pg_catalog.text)
LANGUAGE sql
STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
SELECT c.tbl, c.check_name, c.detail
  FROM @extschema@._tenant_check(tbls, column_names,
                                 pg_catalog.array_fill(''::pg_catalog.text,
                                                       ARRAY[COALESCE(pg_catalog.cardinality(tbls), 0)])) c
$function$;

-- Is the citus extension installed in this database?
CREATE FUNCTION @extschema@._citus_installed()
RETURNS pg_catalog.bool
LANGUAGE sql
STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extname = 'citus')
$function$;

COMMENT ON FUNCTION @extschema@._citus_installed() IS
  'Internal: whether the citus extension is installed in this database (dbcore''s policies then take the form Citus accepts)';

-- How Citus distributes a table: 'hash', 'reference', 'local' (a Citus
-- local table), another method's letter, or NULL (not a Citus table, or no
-- Citus), with the distribution column.
CREATE FUNCTION @extschema@._citus_distribution(
    tbl pg_catalog.regclass,
    OUT method pg_catalog.text,
    OUT column_name pg_catalog.name)
RETURNS record
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    part record;
BEGIN
    IF NOT @extschema@._citus_installed() THEN
        RETURN;
    END IF;
    -- (through EXECUTE: the catalog exists only where Citus is installed)
    EXECUTE 'SELECT p.partmethod::pg_catalog.text AS partmethod, p.repmodel::pg_catalog.text AS repmodel,
                    pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) AS col
               FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = $1'
       INTO part USING tbl;
    IF part IS NULL OR part.partmethod IS NULL THEN
        RETURN;
    END IF;
    method := CASE WHEN part.partmethod = 'h' THEN 'hash'
                   WHEN part.partmethod = 'n' AND part.repmodel = 't' THEN 'reference'
                   WHEN part.partmethod = 'n' THEN 'local'
                   ELSE part.partmethod END;
    column_name := part.col;
END;
$function$;

COMMENT ON FUNCTION @extschema@._citus_distribution(pg_catalog.regclass) IS
  'Internal: how Citus distributes a table (hash, reference, local or another method) and by which column; NULL when it does not';

CREATE OR REPLACE FUNCTION @extschema@._tenant_scope_one(
    tbl pg_catalog.regclass,
    column_name pg_catalog.name)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
-- Citus accepts triggers on distributed tables only with this setting;
-- dbcore's triggers are safe there (they read nothing but the row).
SET citus.enable_unsafe_triggers = on
AS $function$
DECLARE
    rel      record;
    col      record;
    citus    pg_catalog.bool := @extschema@._citus_installed();
    dist     record;
    fn       pg_catalog.text;
    expr     pg_catalog.text;
    printed  pg_catalog.text;
    access_expr    pg_catalog.text;
    access_printed pg_catalog.text;
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
    fn := @extschema@._tenant_client_function(col.atttypid);
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

    IF citus THEN
        dist := @extschema@._citus_distribution(tbl);
        IF dist.method = 'reference' THEN
            RAISE EXCEPTION 'cannot tenant-scope reference table "%"', rel.relname
                USING ERRCODE = 'feature_not_supported',
                      DETAIL = 'Citus copies a reference table to every node for data that all clients share; tenant rows belong in a table distributed by its client column.',
                      HINT = pg_catalog.format('Use SELECT undistribute_table(%L) and then create_distributed_table(%L, %L) to keep tenant rows in it.',
                                               tbl::pg_catalog.text, tbl::pg_catalog.text, column_name);
        END IF;
        -- Citus refuses sub-selects in policies of distributed tables.
        expr := pg_catalog.format('%I = %I.%I()', column_name, '@extschema@', fn);
        printed := pg_catalog.format('(%s = %s.%s())', pg_catalog.quote_ident(column_name),
                                     pg_catalog.quote_ident('@extschema@'), fn);
        access_expr := expr;
        access_printed := printed;
    ELSE
        -- The client is compared through an init-plan, (SELECT f()):
        -- evaluated once per query, so a sequential scan costs no function
        -- call per row, and index conditions on the client column still
        -- apply.
        expr := pg_catalog.format('%I = (SELECT %I.%I())', column_name, '@extschema@', fn);
        printed := pg_catalog.format('(%s = ( SELECT %s.%s() AS %s))', pg_catalog.quote_ident(column_name),
                                     pg_catalog.quote_ident('@extschema@'), fn, fn);
        access_expr := 'true';
        access_printed := 'true';
    END IF;

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
    -- refused.)  On Citus the companion does repeat it: Citus copies every
    -- policy to the shards as PERMISSIVE, and the library makes the
    -- restrictive one restrictive again there; should that ever not happen,
    -- two permissive policies that both compare the client still admit one
    -- client's rows only.
    FOR want IN
        SELECT * FROM (VALUES ('dbcore_tenant_isolation'::pg_catalog.name, false, 'RESTRICTIVE', expr, printed),
                              ('dbcore_tenant_access'::pg_catalog.name, true, 'PERMISSIVE', access_expr, access_printed))
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
  'Internal: creates or repairs the tenant scoping of one table or partition (NOT NULL client column, forced row level security, dbcore policies and triggers; on Citus the policy form Citus accepts)';

-- Dropping dbcore's triggers from a distributed table needs the same
-- setting as creating them.
ALTER FUNCTION @extschema@.disable_tenant_scoping(pg_catalog.regclass)
    SET citus.enable_unsafe_triggers = on;

-- A scoped table that create_reference_table() made a reference table (the
-- reverse order, enable_tenant_scoping() of a reference table, is refused)
-- is a problem: its rows are on every node, for data all clients share.
CREATE OR REPLACE FUNCTION @extschema@.tenant_scoping_problems()
RETURNS TABLE(tbl pg_catalog.regclass, check_name pg_catalog.text, detail pg_catalog.text)
LANGUAGE sql
STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
SELECT p.tbl, p.check_name, p.detail
  FROM (SELECT pg_catalog.array_agg(r.tbl), pg_catalog.array_agg(r.column_name)
          FROM @extschema@.tenant_tables r) AS a(tbls, cols),
       LATERAL @extschema@.tenant_check_tables(a.tbls, a.cols) AS p
UNION ALL
SELECT h.tbl, h.check_name, h.detail FROM @extschema@._tenant_hazards() h
UNION ALL
SELECT r.tbl, 'citus reference table',
       'is a Citus reference table, copied to every node for data that all clients share: distribute it by its client column with create_distributed_table() instead'
  FROM @extschema@.tenant_tables r
 WHERE @extschema@._citus_installed()
   AND (@extschema@._citus_distribution(r.tbl)).method OPERATOR(pg_catalog.=) 'reference'
$function$;

-- Every shard placement, and every worker's copy (shell table), of every
-- scoped table that Citus distributes, checked on its node.
CREATE FUNCTION @extschema@.tenant_check_shards()
RETURNS TABLE(tbl pg_catalog.regclass, node pg_catalog.text, shard pg_catalog.text,
              check_name pg_catalog.text, detail pg_catalog.text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    r      record;
    res    record;
    probe  pg_catalog.text;
    copy_probe pg_catalog.text;
    item   pg_catalog.text;
BEGIN
    IF NOT @extschema@._citus_installed() THEN
        RAISE EXCEPTION 'extension "citus" is not installed in this database'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'dbcore.tenant_check_shards() checks the shards of distributed tables; use dbcore.tenant_scoping_problems() on a single node.';
    END IF;
    FOR r IN
        SELECT t.tbl, t.column_name
          FROM @extschema@.tenant_tables t
         WHERE (@extschema@._citus_distribution(t.tbl)).method IS NOT NULL
         ORDER BY t.tbl
    LOOP
        -- On each placement (Citus puts the shard's name where %1$L is;
        -- the shard's triggers end in _<shard id>) and on each worker's
        -- copy of the table (no rows, but the table that a query planned
        -- on that worker names), the node reports its problems as one text.
        probe := pg_catalog.replace(pg_catalog.format(
            $q$SELECT COALESCE(pg_catalog.string_agg(c.check_name OPERATOR(pg_catalog.||) ': ' OPERATOR(pg_catalog.||) c.detail, E'\n'), '')
                 FROM (SELECT s.oid, s.relname FROM pg_catalog.pg_class s WHERE s.oid = #SHARD#::pg_catalog.regclass) s,
                      LATERAL %1$I._tenant_check(ARRAY[s.oid::pg_catalog.regclass], ARRAY[%2$L::pg_catalog.name],
                                                 ARRAY['_' OPERATOR(pg_catalog.||) pg_catalog.substring(s.relname, '_([0-9]+)$')]) c$q$,
            '@extschema@', r.column_name), '%', '%%');
        probe := pg_catalog.replace(probe, '#SHARD#', '%1$L');
        copy_probe := pg_catalog.format(
            $q$SELECT COALESCE(pg_catalog.string_agg(c.check_name OPERATOR(pg_catalog.||) ': ' OPERATOR(pg_catalog.||) c.detail, E'\n'), '')
                 FROM %1$I.tenant_check_tables(ARRAY[%2$L::pg_catalog.regclass], ARRAY[%3$L::pg_catalog.name]) c$q$,
            '@extschema@', r.tbl::pg_catalog.text, r.column_name);
        FOR res IN
            EXECUTE 'SELECT p.nodename, p.nodeport, $3 OPERATOR(pg_catalog.||) ''_'' OPERATOR(pg_catalog.||) p.shardid AS shard,
                            p.success, p.result
                       FROM pg_catalog.run_command_on_placements($1, $2) p
                     UNION ALL
                     SELECT w.nodename, w.nodeport, NULL, w.success, w.result
                       FROM pg_catalog.run_command_on_workers($4) w
                     ORDER BY 3, 2'
              USING r.tbl, probe, r.tbl::pg_catalog.text, copy_probe
        LOOP
            tbl := r.tbl;
            node := res.nodename OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) res.nodeport;
            shard := res.shard;
            IF NOT res.success THEN
                check_name := 'node';
                detail := 'could not check it: ' OPERATOR(pg_catalog.||) res.result;
                RETURN NEXT;
                CONTINUE;
            END IF;
            FOREACH item IN ARRAY COALESCE(pg_catalog.string_to_array(NULLIF(res.result, ''), E'\n'), '{}') LOOP
                check_name := pg_catalog.split_part(item, ': ', 1);
                detail := pg_catalog.substr(item, pg_catalog.length(check_name) + 3);
                RETURN NEXT;
            END LOOP;
        END LOOP;
    END LOOP;
END;
$function$;

COMMENT ON FUNCTION @extschema@.tenant_check_shards() IS
  'Citus: what keeps each shard placement and each worker''s copy of every scoped distributed table from being fully tenant-scoped (the checks of dbcore.tenant_check_tables(), run on the node that holds it)';

GRANT EXECUTE ON FUNCTION
    @extschema@._tenant_client_function(pg_catalog.oid),
    @extschema@._tenant_check(pg_catalog.regclass[], pg_catalog.name[], pg_catalog.text[]),
    @extschema@._citus_installed(),
    @extschema@._citus_distribution(pg_catalog.regclass),
    @extschema@.tenant_check_shards()
  TO PUBLIC;

-- Scoped tables in a database with Citus take the new form now (the guard
-- rails check them against it from here on); elsewhere nothing changes.
DO $upgrade$
DECLARE
    r record;
BEGIN
    IF @extschema@._citus_installed() THEN
        FOR r IN SELECT t.tbl, t.column_name FROM @extschema@.tenant_tables t ORDER BY t.tbl LOOP
            PERFORM @extschema@._tenant_scope_one(r.tbl, r.column_name);
        END LOOP;
    END IF;
END;
$upgrade$;
