/* dbcore 1.3: generated from dbcore--1.2.sql and dbcore--1.2--1.3.sql by make; edit those. */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION dbcore" to load this file. \quit

COMMENT ON SCHEMA @extschema@ IS
  'dbcore: updated_at triggers, tenant scoping and migration bookkeeping';

------------------------------------------------------------------------------
-- The trigger function
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.updated_at()
RETURNS trigger
AS 'MODULE_PATHNAME', 'dbcore_updated_at'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.updated_at() IS
  'BEFORE UPDATE (or INSERT) row trigger that sets a timestamp column to now(); arguments: column name (default updated_at), then options skip_noop, keep_explicit, transaction_timestamp, statement_timestamp, clock_timestamp';

------------------------------------------------------------------------------
-- attach_updated_at / detach_updated_at
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.attach_updated_at(
    tbl pg_catalog.regclass,
    column_name pg_catalog.name DEFAULT 'updated_at',
    skip_noop pg_catalog.bool DEFAULT false,
    keep_explicit pg_catalog.bool DEFAULT false,
    clock pg_catalog.text DEFAULT 'transaction',
    on_insert pg_catalog.bool DEFAULT false)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    rel        record;
    col        record;
    argv       pg_catalog.text[];
    want_args  pg_catalog.bytea;
    want_type  pg_catalog.int2;
    args       pg_catalog.text;
    trg        record;
    matched    pg_catalog.bool := false;
    child      pg_catalog.oid;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'table must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the table to maintain, for example dbcore.attach_updated_at(''users'').';
    END IF;
    IF column_name IS NULL OR column_name = '' THEN
        RAISE EXCEPTION 'column name must not be null or empty'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Leave column_name out to use "updated_at".';
    END IF;
    IF skip_noop IS NULL OR keep_explicit IS NULL OR on_insert IS NULL THEN
        RAISE EXCEPTION 'options skip_noop, keep_explicit and on_insert must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF clock IS NULL THEN
        RAISE EXCEPTION 'clock must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Leave clock out to use the transaction timestamp.';
    END IF;
    IF clock NOT IN ('transaction', 'statement', 'clock') THEN
        RAISE EXCEPTION 'invalid clock "%"',
                        CASE WHEN pg_catalog.length(clock) <= 32 THEN clock
                             ELSE pg_catalog.left(clock, 32) || '...' END
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use ''transaction'' (now(), the default), ''statement'' (statement_timestamp()) or ''clock'' (clock_timestamp()).';
    END IF;

    SELECT c.oid, c.relkind, c.relname INTO rel
      FROM pg_catalog.pg_class c WHERE c.oid = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relation with OID % does not exist', tbl::pg_catalog.oid
            USING ERRCODE = 'undefined_table';
    END IF;
    IF rel.relkind NOT IN ('r', 'p', 'f') THEN
        RAISE EXCEPTION '"%" is not a table', rel.relname
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = 'dbcore.updated_at() runs as a row trigger on tables, partitioned tables and foreign tables.';
    END IF;
    IF NOT pg_catalog.has_table_privilege(tbl, 'TRIGGER') THEN
        RAISE EXCEPTION 'permission denied to create triggers on table "%"', rel.relname
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Run it as the table''s owner, or as a role with the TRIGGER privilege on the table.';
    END IF;

    SELECT a.attnum, a.atttypid, a.attgenerated INTO col
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = column_name
       AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of relation "%" does not exist', column_name, rel.relname
            USING ERRCODE = 'undefined_column',
                  HINT = 'Add a timestamptz column first, for example ALTER TABLE ... ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now().';
    END IF;
    IF col.attgenerated <> '' THEN
        RAISE EXCEPTION 'column "%" of relation "%" is a generated column', column_name, rel.relname
            USING ERRCODE = 'generated_always',
                  DETAIL = 'dbcore.updated_at() cannot write to a generated column.';
    END IF;
    IF col.atttypid NOT IN ('pg_catalog.timestamptz'::pg_catalog.regtype,
                            'pg_catalog.timestamp'::pg_catalog.regtype) THEN
        RAISE EXCEPTION 'column "%" of relation "%" is of type %', column_name, rel.relname,
                        pg_catalog.format_type(col.atttypid, NULL)
            USING ERRCODE = 'datatype_mismatch',
                  DETAIL = 'dbcore.updated_at() maintains columns of type timestamp with time zone or timestamp without time zone.';
    END IF;

    -- The trigger arguments, and the bytes pg_trigger.tgargs stores for them.
    argv := ARRAY[column_name::pg_catalog.text];
    IF skip_noop THEN argv := argv || 'skip_noop'::pg_catalog.text; END IF;
    IF keep_explicit THEN argv := argv || 'keep_explicit'::pg_catalog.text; END IF;
    IF clock = 'statement' THEN argv := argv || 'statement_timestamp'::pg_catalog.text;
    ELSIF clock = 'clock' THEN argv := argv || 'clock_timestamp'::pg_catalog.text;
    END IF;
    SELECT pg_catalog.string_agg(pg_catalog.quote_literal(u.a), ', ' ORDER BY u.n),
           pg_catalog.string_agg(pg_catalog.convert_to(u.a, pg_catalog.getdatabaseencoding())
                                 OPERATOR(pg_catalog.||) '\x00'::pg_catalog.bytea,
                                 ''::pg_catalog.bytea ORDER BY u.n)
      INTO args, want_args
      FROM pg_catalog.unnest(argv) WITH ORDINALITY AS u(a, n);
    -- tgtype bits: ROW (1) | BEFORE (2) | UPDATE (16) [| INSERT (4)]
    want_type := CASE WHEN on_insert THEN 1 | 2 | 4 | 16 ELSE 1 | 2 | 16 END;

    -- Serialize attach/detach of one table, so that concurrent calls see each
    -- other's trigger instead of racing to create it (key: "dc" << 48 | oid).
    PERFORM pg_catalog.pg_advisory_xact_lock(25699::pg_catalog.int8 << 48 | tbl::pg_catalog.oid::pg_catalog.int8);

    -- Is an equivalent trigger already in place?
    FOR trg IN
        SELECT t.tgname, t.tgtype, t.tgargs, t.tgparentid <> 0 AS cloned
          FROM pg_catalog.pg_trigger t
         WHERE t.tgrelid = tbl AND NOT t.tgisinternal
           AND t.tgfoid = '@extschema@.updated_at()'::pg_catalog.regprocedure
    LOOP
        IF trg.tgtype = want_type AND trg.tgargs = want_args THEN
            matched := true;
        ELSIF trg.cloned THEN
            RAISE EXCEPTION 'relation "%" inherits trigger "%" from its partitioned table', rel.relname, trg.tgname
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Call dbcore.attach_updated_at() on the partitioned table instead.';
        END IF;
    END LOOP;

    IF matched THEN
        RAISE NOTICE 'updated_at trigger on "%" is already attached, skipping', rel.relname;
    ELSE
        FOR trg IN
            SELECT t.tgname FROM pg_catalog.pg_trigger t
             WHERE t.tgrelid = tbl AND NOT t.tgisinternal AND t.tgparentid = 0
               AND t.tgfoid = '@extschema@.updated_at()'::pg_catalog.regprocedure
        LOOP
            EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', trg.tgname, tbl);
        END LOOP;
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER dbcore_updated_at BEFORE %s ON %s FOR EACH ROW EXECUTE FUNCTION @extschema@.updated_at(%s)',
            CASE WHEN on_insert THEN 'INSERT OR UPDATE' ELSE 'UPDATE' END, tbl, args);
    END IF;

    -- Classic inheritance children do not inherit triggers: attach to them
    -- too.  (Partitions get clones of the partitioned table's trigger.)
    IF rel.relkind = 'r' THEN
        FOR child IN
            SELECT i.inhrelid FROM pg_catalog.pg_inherits i
              JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = tbl AND c.relkind IN ('r', 'f')
        LOOP
            PERFORM @extschema@.attach_updated_at(child::pg_catalog.regclass, column_name,
                                                  skip_noop, keep_explicit, clock, on_insert);
        END LOOP;
    END IF;
END;
$function$;

COMMENT ON FUNCTION @extschema@.attach_updated_at(pg_catalog.regclass, pg_catalog.name, pg_catalog.bool, pg_catalog.bool, pg_catalog.text, pg_catalog.bool) IS
  'Attaches dbcore.updated_at() to a table (and its inheritance children) as trigger dbcore_updated_at; idempotent';

CREATE FUNCTION @extschema@.detach_updated_at(tbl pg_catalog.regclass)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    trg     record;
    child   pg_catalog.oid;
    dropped pg_catalog.bool := false;
    relname pg_catalog.name;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'table must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT c.relname INTO relname FROM pg_catalog.pg_class c WHERE c.oid = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relation with OID % does not exist', tbl::pg_catalog.oid
            USING ERRCODE = 'undefined_table';
    END IF;
    -- Serialize attach/detach of one table, so that concurrent calls see each
    -- other's trigger instead of racing to create it (key: "dc" << 48 | oid).
    PERFORM pg_catalog.pg_advisory_xact_lock(25699::pg_catalog.int8 << 48 | tbl::pg_catalog.oid::pg_catalog.int8);


    FOR trg IN
        SELECT t.tgname, t.tgparentid <> 0 AS cloned
          FROM pg_catalog.pg_trigger t
         WHERE t.tgrelid = tbl AND NOT t.tgisinternal
           AND t.tgfoid = '@extschema@.updated_at()'::pg_catalog.regprocedure
    LOOP
        IF trg.cloned THEN
            RAISE EXCEPTION 'relation "%" inherits trigger "%" from its partitioned table', relname, trg.tgname
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Call dbcore.detach_updated_at() on the partitioned table instead.';
        END IF;
        EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', trg.tgname, tbl);
        dropped := true;
    END LOOP;

    IF NOT dropped THEN
        RAISE NOTICE 'no updated_at trigger on "%", skipping', relname;
    END IF;

    FOR child IN
        SELECT i.inhrelid FROM pg_catalog.pg_inherits i
          JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
          JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
         WHERE i.inhparent = tbl AND p.relkind = 'r'
    LOOP
        PERFORM @extschema@.detach_updated_at(child::pg_catalog.regclass);
    END LOOP;
END;
$function$;

COMMENT ON FUNCTION @extschema@.detach_updated_at(pg_catalog.regclass) IS
  'Drops every dbcore.updated_at() trigger from a table and its inheritance children; idempotent';

------------------------------------------------------------------------------
-- Opt-in: attach the trigger to new tables (SET dbcore.auto_updated_at = on)
------------------------------------------------------------------------------

-- SECURITY DEFINER so that a role creating a table needs no privileges on
-- schema dbcore: the function only ever attaches dbcore's own trigger to the
-- table that was just created, found through pg_event_trigger_ddl_commands().
CREATE FUNCTION @extschema@.auto_attach_updated_at()
RETURNS event_trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    cmd record;
BEGIN
    IF NOT coalesce(pg_catalog.current_setting('dbcore.auto_updated_at', true), 'off')::pg_catalog.bool THEN
        RETURN;
    END IF;
    FOR cmd IN
        SELECT d.objid
          FROM pg_catalog.pg_event_trigger_ddl_commands() d
          JOIN pg_catalog.pg_class c ON c.oid = d.objid
         WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
           AND d.command_tag IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO')
           AND NOT d.in_extension
           AND c.relkind IN ('r', 'p')
    LOOP
        -- Only tables that have a plain timestamp column of that name and no
        -- updated_at trigger yet (partitions get their parent's clone).
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid = cmd.objid AND a.attname = 'updated_at'
                      AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
                      AND a.atttypid IN ('pg_catalog.timestamptz'::pg_catalog.regtype,
                                         'pg_catalog.timestamp'::pg_catalog.regtype))
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                            WHERE t.tgrelid = cmd.objid
                              AND t.tgfoid = '@extschema@.updated_at()'::pg_catalog.regprocedure)
        THEN
            PERFORM @extschema@.attach_updated_at(cmd.objid::pg_catalog.regclass);
        END IF;
    END LOOP;
END;
$function$;

REVOKE ALL ON FUNCTION @extschema@.auto_attach_updated_at() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.auto_attach_updated_at() IS
  'Event trigger function: when dbcore.auto_updated_at is on, attaches dbcore.updated_at() to each new table with an updated_at column';

CREATE EVENT TRIGGER dbcore_auto_updated_at
  ON ddl_command_end
  WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO')
  EXECUTE FUNCTION @extschema@.auto_attach_updated_at();

COMMENT ON EVENT TRIGGER dbcore_auto_updated_at IS
  'Attaches dbcore.updated_at() to new tables with an updated_at column while dbcore.auto_updated_at is on';

------------------------------------------------------------------------------
-- The current client
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.set_client(client_id pg_catalog.uuid)
RETURNS void
AS 'MODULE_PATHNAME', 'dbcore_set_client_uuid'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.set_client(pg_catalog.uuid) IS
  'Sets the current client for the rest of the transaction (SET LOCAL dbcore.client_id)';

CREATE FUNCTION @extschema@.set_client(client_id pg_catalog.int8)
RETURNS void
AS 'MODULE_PATHNAME', 'dbcore_set_client_bigint'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.set_client(pg_catalog.int8) IS
  'Sets the current client (bigint or integer client ids) for the rest of the transaction (SET LOCAL dbcore.client_id)';

CREATE FUNCTION @extschema@.set_client(client_id pg_catalog.text)
RETURNS void
AS 'MODULE_PATHNAME', 'dbcore_set_client_text'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.set_client(pg_catalog.text) IS
  'Sets the current client (text client ids) for the rest of the transaction (SET LOCAL dbcore.client_id)';

CREATE FUNCTION @extschema@.current_client_id()
RETURNS pg_catalog.uuid
AS 'MODULE_PATHNAME', 'dbcore_current_client_id'
LANGUAGE C STABLE PARALLEL SAFE LEAKPROOF;

COMMENT ON FUNCTION @extschema@.current_client_id() IS
  'The current client as a uuid; raises insufficient_privilege when no client scope is set';

CREATE FUNCTION @extschema@.current_client_id_text()
RETURNS pg_catalog.text
AS 'MODULE_PATHNAME', 'dbcore_current_client_id_text'
LANGUAGE C STABLE PARALLEL SAFE LEAKPROOF;

COMMENT ON FUNCTION @extschema@.current_client_id_text() IS
  'The current client as text; raises insufficient_privilege when no client scope is set';

CREATE FUNCTION @extschema@.current_client_id_bigint()
RETURNS pg_catalog.int8
AS 'MODULE_PATHNAME', 'dbcore_current_client_id_bigint'
LANGUAGE C STABLE PARALLEL SAFE LEAKPROOF;

COMMENT ON FUNCTION @extschema@.current_client_id_bigint() IS
  'The current client as a bigint; raises insufficient_privilege when no client scope is set';

CREATE FUNCTION @extschema@.current_client_id_int()
RETURNS pg_catalog.int4
AS 'MODULE_PATHNAME', 'dbcore_current_client_id_int'
LANGUAGE C STABLE PARALLEL SAFE LEAKPROOF;

COMMENT ON FUNCTION @extschema@.current_client_id_int() IS
  'The current client as an integer; raises insufficient_privilege when no client scope is set';

CREATE FUNCTION @extschema@.set_client_token(token pg_catalog.text)
RETURNS pg_catalog.text
AS 'MODULE_PATHNAME', 'dbcore_set_client_token'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.set_client_token(pg_catalog.text) IS
  'Verifies a signed client token and sets its client for the rest of the transaction (SET LOCAL dbcore.client_id); returns the client id; pass the token as a bind parameter';

CREATE FUNCTION @extschema@.mint_client_token(
    client_id pg_catalog.text,
    ttl pg_catalog.interval DEFAULT '5 minutes',
    key_id pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.text
AS 'MODULE_PATHNAME', 'dbcore_mint_client_token'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION @extschema@.mint_client_token(pg_catalog.text, pg_catalog.interval, pg_catalog.text) IS
  'Superusers only: a client token for client_id, valid for ttl, signed with key key_id of dbcore.signing_keys (default: the first)';

REVOKE ALL ON FUNCTION @extschema@.mint_client_token(pg_catalog.text, pg_catalog.interval, pg_catalog.text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
    @extschema@.set_client(pg_catalog.uuid),
    @extschema@.set_client(pg_catalog.int8),
    @extschema@.set_client(pg_catalog.text),
    @extschema@.set_client_token(pg_catalog.text),
    @extschema@.current_client_id(),
    @extschema@.current_client_id_text(),
    @extschema@.current_client_id_bigint(),
    @extschema@.current_client_id_int()
  TO PUBLIC;

------------------------------------------------------------------------------
-- The row and TRUNCATE guards
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.tenant_row_guard()
RETURNS trigger
AS 'MODULE_PATHNAME', 'dbcore_tenant_row_guard'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.tenant_row_guard() IS
  'BEFORE INSERT OR UPDATE row trigger of tenant-scoped tables (argument: the client column): fills in the current client, refuses rows of other clients and changes of the client column';

CREATE FUNCTION @extschema@.tenant_truncate_guard()
RETURNS trigger
AS 'MODULE_PATHNAME', 'dbcore_tenant_truncate_guard'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.tenant_truncate_guard() IS
  'BEFORE TRUNCATE trigger of tenant-scoped tables: only superusers and roles with BYPASSRLS may truncate them';

------------------------------------------------------------------------------
-- The registry of tenant-scoped tables
------------------------------------------------------------------------------

CREATE TABLE @extschema@.tenant_tables (
    tbl         pg_catalog.regclass PRIMARY KEY,
    column_name pg_catalog.name NOT NULL,
    root        pg_catalog.regclass
);

COMMENT ON TABLE @extschema@.tenant_tables IS
  'Tenant-scoped tables and their client column; written only through dbcore.enable_tenant_scoping() and dbcore.disable_tenant_scoping()';
COMMENT ON COLUMN @extschema@.tenant_tables.tbl IS
  'The scoped table or partition';
COMMENT ON COLUMN @extschema@.tenant_tables.column_name IS
  'Its client column';
COMMENT ON COLUMN @extschema@.tenant_tables.root IS
  'For a partition scoped along with its partitioned table: that table';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.tenant_tables', '');

REVOKE ALL ON TABLE @extschema@.tenant_tables FROM PUBLIC;
GRANT SELECT ON TABLE @extschema@.tenant_tables TO PUBLIC;

CREATE FUNCTION @extschema@._tenant_register(
    tbl pg_catalog.regclass,
    column_name pg_catalog.name,
    root pg_catalog.regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'dbcore_tenant_register'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@._tenant_register(pg_catalog.regclass, pg_catalog.name, pg_catalog.regclass) IS
  'Internal: records a table in dbcore.tenant_tables; the caller must own it and its scoping must be complete';

CREATE FUNCTION @extschema@._tenant_unregister(tbl pg_catalog.regclass)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'dbcore_tenant_unregister'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@._tenant_unregister(pg_catalog.regclass) IS
  'Internal: removes a table from dbcore.tenant_tables; needs ownership and system-level authorization (superuser or BYPASSRLS)';

------------------------------------------------------------------------------
-- What a scoped table must look like
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.tenant_check_tables(
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
                WHEN pg_catalog.pg_get_expr(p.polqual, p.polrelid) IS DISTINCT FROM e.expr
                    THEN pg_catalog.format('policy "%s" has a different USING expression', v.polname)
                WHEN pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) IS DISTINCT FROM e.expr
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

-- Ways around a scoped table's policies that its owner could build with
-- ordinary DDL: a parent (inheritance or partitioning) that is not scoped
-- reads and writes the table's rows without its policies; a restrictive
-- policy that sorts before dbcore's is evaluated first and sees every row;
-- foreign-key actions do not apply row level security, so a cascading key
-- to an unscoped table changes every client's rows.  (A key from an
-- unscoped table, which probes for other clients' values, is the usual
-- state between CREATE TABLE and enable_tenant_scoping of a child table:
-- tenant_audit reports it.)  They are not part of
-- scoping one table (enable_tenant_scoping does not check them), but the
-- guard rails refuse to let DDL introduce them and tenant_audit lists them.
CREATE FUNCTION @extschema@._tenant_hazards()
RETURNS TABLE(tbl pg_catalog.regclass, check_name pg_catalog.text, detail pg_catalog.text)
LANGUAGE sql
STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
SELECT i.inhrelid::pg_catalog.regclass, 'unscoped parent',
       pg_catalog.format('is a child of table %s, which is not tenant-scoped: queries on it use this table''s rows without the policies',
                         i.inhparent::pg_catalog.regclass)
  FROM @extschema@.tenant_tables s
  JOIN pg_catalog.pg_inherits i ON i.inhrelid = s.tbl
 WHERE NOT EXISTS (SELECT 1 FROM @extschema@.tenant_tables x WHERE x.tbl = i.inhparent)
UNION ALL
SELECT p.polrelid::pg_catalog.regclass, 'policy order',
       pg_catalog.format('restrictive policy "%s" sorts before dbcore_tenant_isolation, so it is evaluated first and sees every client''s rows',
                         p.polname)
  FROM @extschema@.tenant_tables s
  JOIN pg_catalog.pg_policy p ON p.polrelid = s.tbl
 WHERE NOT p.polpermissive
   AND p.polname OPERATOR(pg_catalog.<) ('dbcore_tenant_isolation' COLLATE "C")
UNION ALL
SELECT k.conrelid::pg_catalog.regclass, 'foreign key action',
       pg_catalog.format('foreign key %s acts on changes to table %s, which is not tenant-scoped: foreign-key actions bypass row level security',
                         pg_catalog.quote_ident(k.conname), k.confrelid::pg_catalog.regclass)
  FROM @extschema@.tenant_tables s
  JOIN pg_catalog.pg_constraint k ON k.conrelid = s.tbl AND k.contype = 'f'
 WHERE (k.confdeltype NOT IN ('a', 'r') OR k.confupdtype NOT IN ('a', 'r'))
   AND NOT EXISTS (SELECT 1 FROM @extschema@.tenant_tables x WHERE x.tbl = k.confrelid)
$function$;

COMMENT ON FUNCTION @extschema@._tenant_hazards() IS
  'Internal: ways around scoped tables built with ordinary DDL (unscoped parents, restrictive policies evaluated before dbcore''s, foreign-key actions on changes to unscoped tables)';

CREATE FUNCTION @extschema@.tenant_scoping_problems()
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
$function$;

COMMENT ON FUNCTION @extschema@.tenant_scoping_problems() IS
  'Every broken piece of every table in dbcore.tenant_tables (see dbcore.tenant_check_tables()), and every way around them built with DDL';

------------------------------------------------------------------------------
-- enable_tenant_scoping / disable_tenant_scoping
------------------------------------------------------------------------------

-- The pieces of tenant scoping on one table or partition, as its owner.
CREATE FUNCTION @extschema@._tenant_scope_one(
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

    -- The restrictive policy limits every command to the current client; its
    -- permissive companion grants exactly that, so that permissive policies
    -- added later can only widen up to, never past, the client's rows.
    FOR want IN
        SELECT * FROM (VALUES ('dbcore_tenant_isolation'::pg_catalog.name, false, 'RESTRICTIVE'),
                              ('dbcore_tenant_access'::pg_catalog.name, true, 'PERMISSIVE'))
                      AS v(polname, permissive, kind)
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
                                      want.polname, tbl, want.kind, expr, expr);
        ELSIF pol.polroles <> '{0}'::pg_catalog.oid[]
              OR pol.qual IS DISTINCT FROM printed
              OR pol.wcheck IS DISTINCT FROM printed THEN
            EXECUTE pg_catalog.format('ALTER POLICY %I ON %s TO PUBLIC USING (%s) WITH CHECK (%s)',
                                      want.polname, tbl, expr, expr);
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

CREATE FUNCTION @extschema@.enable_tenant_scoping(
    tbl pg_catalog.regclass,
    column_name pg_catalog.name DEFAULT 'client_id')
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    rel        record;
    registered pg_catalog.name;
    root       pg_catalog.regclass;
    part       pg_catalog.regclass;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'table must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the table to scope, for example dbcore.enable_tenant_scoping(''orders'').';
    END IF;
    IF column_name IS NULL OR column_name = '' THEN
        RAISE EXCEPTION 'column name must not be null or empty'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Leave column_name out to use "client_id".';
    END IF;
    SELECT c.relname, c.relkind INTO rel FROM pg_catalog.pg_class c WHERE c.oid = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relation with OID % does not exist', tbl::pg_catalog.oid
            USING ERRCODE = 'undefined_table';
    END IF;

    -- A table is scoped by one column.
    SELECT r.column_name INTO registered
      FROM @extschema@.tenant_tables r
     WHERE r.tbl = enable_tenant_scoping.tbl;
    IF registered IS NOT NULL AND registered <> column_name THEN
        RAISE EXCEPTION 'table "%" is already tenant-scoped by column "%"', rel.relname, registered
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Call dbcore.disable_tenant_scoping() first, as a superuser or a role with BYPASSRLS.';
    END IF;

    -- The table itself, then every partition below it (a partition queried
    -- directly is guarded by its own policies only).
    PERFORM @extschema@._tenant_scope_one(tbl, column_name);
    FOR part IN
        SELECT t.relid FROM pg_catalog.pg_partition_tree(tbl) t
         WHERE t.relid <> tbl ORDER BY t.level, t.relid
    LOOP
        PERFORM @extschema@._tenant_scope_one(part, column_name);
    END LOOP;

    FOR part IN
        SELECT t.relid FROM pg_catalog.pg_partition_tree(tbl) t
         WHERE t.relid <> tbl ORDER BY t.level, t.relid
    LOOP
        PERFORM @extschema@._tenant_register(part, column_name, tbl);
    END LOOP;
    -- Nearest scoped partitioned table above this one, if any.
    SELECT a.relid INTO root
      FROM pg_catalog.pg_partition_ancestors(tbl) WITH ORDINALITY AS a(relid, n)
      JOIN @extschema@.tenant_tables r ON r.tbl = a.relid
     WHERE a.relid <> enable_tenant_scoping.tbl
     ORDER BY a.n
     LIMIT 1;
    PERFORM @extschema@._tenant_register(tbl, column_name, root);
END;
$function$;

COMMENT ON FUNCTION @extschema@.enable_tenant_scoping(pg_catalog.regclass, pg_catalog.name) IS
  'Makes a table (and all its partitions) tenant-scoped by a client column: NOT NULL, row level security enabled and forced, policies dbcore_tenant_isolation (restrictive) and dbcore_tenant_access, triggers dbcore_tenant_guard and dbcore_tenant_truncate_guard; idempotent; for the table''s owner';

CREATE FUNCTION @extschema@.disable_tenant_scoping(tbl pg_catalog.regclass)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    rel     record;
    scoped  pg_catalog.regclass;
    part    record;
    obj     record;
    removed pg_catalog.bool;
    found_any pg_catalog.bool := false;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'table must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT c.relname, c.relowner INTO rel FROM pg_catalog.pg_class c WHERE c.oid = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relation with OID % does not exist', tbl::pg_catalog.oid
            USING ERRCODE = 'undefined_table';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                    WHERE r.rolname = current_user AND (r.rolsuper OR r.rolbypassrls)) THEN
        RAISE EXCEPTION 'permission denied to disable tenant scoping of table "%"', rel.relname
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Lifting tenant scoping needs system-level authorization.',
                  HINT = 'Run it as a superuser or as a role with BYPASSRLS that owns the table.';
    END IF;
    IF NOT pg_catalog.pg_has_role(rel.relowner, 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table %', rel.relname
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    -- A partition of a scoped partitioned table goes with that table.
    SELECT a.relid INTO scoped
      FROM pg_catalog.pg_partition_ancestors(tbl) a
      JOIN @extschema@.tenant_tables r ON r.tbl = a.relid
     WHERE a.relid <> disable_tenant_scoping.tbl
     LIMIT 1;
    IF scoped IS NOT NULL THEN
        RAISE EXCEPTION 'table "%" is a partition of tenant-scoped table "%"', rel.relname,
                        (SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid = scoped)
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Disable tenant scoping of the partitioned table instead.';
    END IF;

    -- (pg_partition_tree() is empty for a table that is not partitioned)
    FOR part IN
        SELECT tbl AS relid, 0 AS level
        UNION
        SELECT t.relid, t.level FROM pg_catalog.pg_partition_tree(tbl) t
        ORDER BY 2, 1
    LOOP
        IF @extschema@._tenant_unregister(part.relid) THEN
            found_any := true;
        END IF;
    END LOOP;

    FOR part IN
        SELECT t.relid, c.relname
          FROM (SELECT tbl AS relid, 0 AS level
                UNION
                SELECT p.relid, p.level FROM pg_catalog.pg_partition_tree(tbl) p) t
          JOIN pg_catalog.pg_class c ON c.oid = t.relid
         ORDER BY t.level, t.relid
    LOOP
        removed := false;
        FOR obj IN
            SELECT 'POLICY' AS kind, p.polname AS name
              FROM pg_catalog.pg_policy p
             WHERE p.polrelid = part.relid
               AND p.polname IN ('dbcore_tenant_isolation', 'dbcore_tenant_access')
            UNION ALL
            -- (a partition's clone of the row guard goes with its parent's)
            SELECT 'TRIGGER', g.tgname
              FROM pg_catalog.pg_trigger g
             WHERE g.tgrelid = part.relid AND g.tgparentid = 0
               AND g.tgname IN ('dbcore_tenant_guard', 'dbcore_tenant_truncate_guard')
            ORDER BY 1, 2
        LOOP
            EXECUTE pg_catalog.format('DROP %s %I ON %s', obj.kind, obj.name, part.relid);
            removed := true;
        END LOOP;
        -- Row level security stays on for the table's own policies, if any.
        IF removed THEN
            found_any := true;
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = part.relid) THEN
                RAISE NOTICE 'row level security stays enabled on "%" for its other policies', part.relname;
            ELSE
                EXECUTE pg_catalog.format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY',
                                          part.relid);
            END IF;
        END IF;
    END LOOP;

    IF NOT found_any THEN
        RAISE NOTICE 'table "%" is not tenant-scoped, skipping', rel.relname;
    END IF;
END;
$function$;

COMMENT ON FUNCTION @extschema@.disable_tenant_scoping(pg_catalog.regclass) IS
  'Undoes dbcore.enable_tenant_scoping() on a table and its partitions (the client column stays NOT NULL); needs a superuser, or a role with BYPASSRLS that owns the table';

GRANT EXECUTE ON FUNCTION
    @extschema@._tenant_register(pg_catalog.regclass, pg_catalog.name, pg_catalog.regclass),
    @extschema@._tenant_unregister(pg_catalog.regclass),
    @extschema@._tenant_scope_one(pg_catalog.regclass, pg_catalog.name),
    @extschema@.tenant_check_tables(pg_catalog.regclass[], pg_catalog.name[]),
    @extschema@.tenant_scoping_problems(),
    @extschema@._tenant_hazards(),
    @extschema@.enable_tenant_scoping(pg_catalog.regclass, pg_catalog.name),
    @extschema@.disable_tenant_scoping(pg_catalog.regclass)
  TO PUBLIC;

------------------------------------------------------------------------------
-- Guard rails: event triggers
------------------------------------------------------------------------------

-- Run by dbcore.tenant_ddl_end() as the extension's owner after every DDL
-- command: scope partitions created or attached under scoped partitioned
-- tables, and give detached partitions a row guard of their own.
CREATE FUNCTION @extschema@._tenant_after_ddl()
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    r    record;
    root pg_catalog.regclass;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM @extschema@.tenant_tables) THEN
        RETURN;
    END IF;

    -- Detached partitions (and what lies below them), outermost first.
    FOR r IN
        SELECT s.tbl, s.column_name
          FROM @extschema@.tenant_tables s
          JOIN pg_catalog.pg_class c ON c.oid = s.tbl
         WHERE s.root IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_partition_ancestors(s.tbl) a
                            WHERE a.relid = s.root)
         ORDER BY (SELECT pg_catalog.count(*) FROM pg_catalog.pg_partition_ancestors(s.tbl)), s.tbl
    LOOP
        PERFORM @extschema@._tenant_scope_one(r.tbl, r.column_name);
        SELECT a.relid INTO root
          FROM pg_catalog.pg_partition_ancestors(r.tbl) WITH ORDINALITY AS a(relid, n)
          JOIN @extschema@.tenant_tables x ON x.tbl = a.relid
         WHERE a.relid <> r.tbl
         ORDER BY a.n
         LIMIT 1;
        PERFORM @extschema@._tenant_register(r.tbl, r.column_name, root);
    END LOOP;

    -- Partitions created or attached under a scoped partitioned table.  The
    -- tree is walked through pg_inherits, which takes no locks: this runs
    -- after every DDL command, and pg_partition_tree() would lock every
    -- partition of every scoped table, deadlocking concurrent DDL on two
    -- partitions of one table.
    FOR r IN
        WITH RECURSIVE tree AS (
            SELECT i.inhrelid AS relid, 1 AS level, s.tbl AS root, s.column_name
              FROM @extschema@.tenant_tables s
              JOIN pg_catalog.pg_class c ON c.oid = s.tbl AND c.relkind = 'p'
              JOIN pg_catalog.pg_inherits i ON i.inhparent = s.tbl
            UNION ALL
            SELECT i.inhrelid, t.level + 1, t.root, t.column_name
              FROM tree t
              JOIN pg_catalog.pg_inherits i ON i.inhparent = t.relid
        )
        SELECT DISTINCT ON (t.level, t.relid) t.relid AS tbl, t.column_name, t.root
          FROM tree t
         WHERE NOT EXISTS (SELECT 1 FROM @extschema@.tenant_tables x WHERE x.tbl = t.relid)
         ORDER BY t.level, t.relid, t.root
    LOOP
        PERFORM @extschema@._tenant_scope_one(r.tbl, r.column_name);
        PERFORM @extschema@._tenant_register(r.tbl, r.column_name, r.root);
    END LOOP;
END;
$function$;

COMMENT ON FUNCTION @extschema@._tenant_after_ddl() IS
  'Internal, run by the guard-rail event trigger after each DDL command: scopes new and attached partitions of scoped tables, re-guards detached ones';

REVOKE ALL ON FUNCTION @extschema@._tenant_after_ddl() FROM PUBLIC;

-- Run by dbcore.tenant_ddl_start() as the extension's owner before ALTER
-- TABLE parent ATTACH PARTITION part: a row guard of part's own would clash
-- with the clone of parent's guard, so it goes (the clone replaces it).
CREATE FUNCTION @extschema@._tenant_before_attach(
    parent pg_catalog.regclass,
    part pg_catalog.regclass)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
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
END;
$function$;

COMMENT ON FUNCTION @extschema@._tenant_before_attach(pg_catalog.regclass, pg_catalog.regclass) IS
  'Internal, run by the guard-rail event trigger before ATTACH PARTITION: drops the row guard of a scoped table about to receive its new parent''s clone';

REVOKE ALL ON FUNCTION @extschema@._tenant_before_attach(pg_catalog.regclass, pg_catalog.regclass) FROM PUBLIC;

CREATE FUNCTION @extschema@.tenant_ddl_start()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'dbcore_tenant_ddl_start'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.tenant_ddl_start() IS
  'Event trigger function (ddl_command_start): notes the problems scoped tables have before a DDL command by a role without system-level authorization';

CREATE FUNCTION @extschema@.tenant_ddl_end()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'dbcore_tenant_ddl_end'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.tenant_ddl_end() IS
  'Event trigger function (ddl_command_end): scopes new partitions of scoped tables, then refuses a command that weakened a scoped table unless its role has system-level authorization';

CREATE FUNCTION @extschema@.tenant_sql_drop()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'dbcore_tenant_sql_drop'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.tenant_sql_drop() IS
  'Event trigger function (sql_drop): removes dropped tables from dbcore.tenant_tables';

CREATE EVENT TRIGGER dbcore_tenant_ddl_start
  ON ddl_command_start
  EXECUTE FUNCTION @extschema@.tenant_ddl_start();

COMMENT ON EVENT TRIGGER dbcore_tenant_ddl_start IS
  'dbcore guard rails: notes the state of tenant-scoped tables before each DDL command';

CREATE EVENT TRIGGER dbcore_tenant_ddl_end
  ON ddl_command_end
  EXECUTE FUNCTION @extschema@.tenant_ddl_end();

COMMENT ON EVENT TRIGGER dbcore_tenant_ddl_end IS
  'dbcore guard rails: keeps tenant-scoped tables (and their partitions) intact after each DDL command';

CREATE EVENT TRIGGER dbcore_tenant_sql_drop
  ON sql_drop
  EXECUTE FUNCTION @extschema@.tenant_sql_drop();

COMMENT ON EVENT TRIGGER dbcore_tenant_sql_drop IS
  'dbcore guard rails: forgets dropped tenant-scoped tables';

------------------------------------------------------------------------------
-- tenant_audit: the holes a DBA should know about
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.tenant_audit()
RETURNS TABLE(problem pg_catalog.text, object pg_catalog.text, detail pg_catalog.text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
WITH scoped AS (
    SELECT r.tbl AS relid, r.column_name, a.attnum, c.relowner
      FROM @extschema@.tenant_tables r
      JOIN pg_catalog.pg_class c ON c.oid = r.tbl
      LEFT JOIN pg_catalog.pg_attribute a
             ON a.attrelid = r.tbl AND a.attname = r.column_name
            AND a.attnum > 0 AND NOT a.attisdropped
), system_roles AS (
    SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolsuper OR r.rolbypassrls
)
-- Tables with a client_id column that are not scoped.
SELECT 'unscoped table' AS problem, c.oid::pg_catalog.regclass::pg_catalog.text AS object,
       'has a "client_id" column but is not tenant-scoped; call dbcore.enable_tenant_scoping() on it' AS detail
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = 'client_id'
                                AND a.attnum > 0 AND NOT a.attisdropped
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'f')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', '@extschema@')
   AND n.nspname NOT LIKE 'pg\_toast%'
   AND NOT EXISTS (SELECT 1 FROM @extschema@.tenant_tables r WHERE r.tbl = c.oid)
UNION ALL
-- Scoped tables whose scoping was altered (by a role allowed to), or that vanished.
SELECT 'scoping altered', p.tbl::pg_catalog.text, p.detail
  FROM @extschema@.tenant_scoping_problems() p
UNION ALL
SELECT 'stale registry entry', r.tbl::pg_catalog.oid::pg_catalog.text,
       'dbcore.tenant_tables names a table that no longer exists'
  FROM @extschema@.tenant_tables r
 WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = r.tbl)
UNION ALL
-- Foreign-key checks bypass row level security: a key from an unscoped
-- table tells whoever inserts there whether another client has a value.
SELECT 'reference from unscoped table', k.confrelid::pg_catalog.regclass::pg_catalog.text,
       pg_catalog.format('foreign key %s of table %s, which is not tenant-scoped, references it: inserts there probe for other clients'' values; scope that table',
                         pg_catalog.quote_ident(k.conname), k.conrelid::pg_catalog.regclass)
  FROM @extschema@.tenant_tables s
  JOIN pg_catalog.pg_constraint k ON k.confrelid = s.tbl AND k.contype = 'f'
 WHERE NOT EXISTS (SELECT 1 FROM @extschema@.tenant_tables x WHERE x.tbl = k.conrelid)
UNION ALL
-- Unique keys without the client column tell one client that another has a key.
SELECT 'unique key without client column', s.relid::pg_catalog.text,
       pg_catalog.format('index %s is unique without column "%s": a duplicate key reveals another client''s row; include the client column in the key',
                         pg_catalog.quote_ident(ic.relname), s.column_name)
  FROM scoped s
  JOIN pg_catalog.pg_index i ON i.indrelid = s.relid AND i.indisunique
  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
 WHERE s.attnum IS NOT NULL AND NOT (s.attnum = ANY (i.indkey::pg_catalog.int2[]))
UNION ALL
-- Foreign keys are checked without row level security.
SELECT 'foreign key without client column', s.relid::pg_catalog.text,
       pg_catalog.format('foreign key %s references %s without column "%s": rows can point to, and probe for, another client''s rows',
                         pg_catalog.quote_ident(k.conname), k.confrelid::pg_catalog.regclass, s.column_name)
  FROM scoped s
  JOIN pg_catalog.pg_constraint k ON k.conrelid = s.relid AND k.contype = 'f'
 WHERE s.attnum IS NOT NULL AND NOT (s.attnum = ANY (k.conkey))
UNION ALL
SELECT 'foreign key without client column', k.conrelid::pg_catalog.regclass::pg_catalog.text,
       pg_catalog.format('foreign key %s references tenant-scoped table %s without its column "%s"',
                         pg_catalog.quote_ident(k.conname), s.relid, s.column_name)
  FROM scoped s
  JOIN pg_catalog.pg_constraint k ON k.confrelid = s.relid AND k.contype = 'f'
 WHERE s.attnum IS NOT NULL AND NOT (s.attnum = ANY (k.confkey))
   AND NOT EXISTS (SELECT 1 FROM scoped x WHERE x.relid = k.conrelid)
UNION ALL
-- Views run with their owner's rights (unless security_invoker); materialized
-- views store rows outside of row level security.
SELECT DISTINCT
       CASE v.relkind WHEN 'm' THEN 'materialized view over scoped table' ELSE 'view bypasses row level security' END,
       v.oid::pg_catalog.regclass::pg_catalog.text,
       CASE v.relkind
           WHEN 'm' THEN pg_catalog.format('reads %s; its rows are stored without row level security and shown to every role that may select from it', s.relid)
           ELSE pg_catalog.format('reads %s as its owner %s, who bypasses row level security; make it security_invoker or give it another owner',
                                  s.relid, pg_catalog.quote_ident(o.rolname))
       END
  FROM scoped s
  JOIN pg_catalog.pg_depend d ON d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
                             AND d.refobjid = s.relid
                             AND d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
  JOIN pg_catalog.pg_rewrite rw ON rw.oid = d.objid
  JOIN pg_catalog.pg_class v ON v.oid = rw.ev_class AND v.oid <> s.relid
  JOIN pg_catalog.pg_roles o ON o.oid = v.relowner
 WHERE v.relkind = 'm'
    OR (v.relkind = 'v' AND (o.rolsuper OR o.rolbypassrls)
        AND NOT coalesce(pg_catalog.array_to_string(v.reloptions, ',') OPERATOR(pg_catalog.~*)
                         '(^|,)security_invoker=(true|on|yes|1|t|y)(,|$)', false))
UNION ALL
-- Stored defaults for dbcore's tenant settings.
SELECT 'stored setting', x.setting,
       pg_catalog.format('%s stores %s for %s', x.setting,
                         CASE x.setting WHEN 'dbcore.signing_keys' THEN 'a value (the secret, readable by everyone in pg_db_role_setting)'
                                        ELSE pg_catalog.quote_literal(x.value) END,
                         CASE WHEN s.setrole = 0 AND s.setdatabase = 0 THEN 'all roles and databases'
                              WHEN s.setrole = 0 THEN pg_catalog.format('database %s', pg_catalog.quote_ident(db.datname))
                              WHEN s.setdatabase = 0 THEN pg_catalog.format('role %s', pg_catalog.quote_ident(ro.rolname))
                              ELSE pg_catalog.format('role %s in database %s', pg_catalog.quote_ident(ro.rolname),
                                                     pg_catalog.quote_ident(db.datname)) END)
  FROM pg_catalog.pg_db_role_setting s
  LEFT JOIN pg_catalog.pg_database db ON db.oid = s.setdatabase
  LEFT JOIN pg_catalog.pg_roles ro ON ro.oid = s.setrole
 CROSS JOIN LATERAL pg_catalog.unnest(s.setconfig) AS u(item)
 CROSS JOIN LATERAL (SELECT pg_catalog.split_part(u.item, '=', 1) AS setting,
                            pg_catalog.substr(u.item, pg_catalog.strpos(u.item, '=') + 1) AS value) x
 WHERE x.setting IN ('dbcore.client_id', 'dbcore.session_scope', 'dbcore.signing_keys', 'dbcore.token_max_ttl')
   AND NOT (x.setting = 'dbcore.client_id' AND x.value = '')
UNION ALL
-- GRANT SET / ALTER SYSTEM ON PARAMETER dbcore.*
SELECT 'parameter privilege', p.parname,
       pg_catalog.format('%s may %s it', CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(g.rolname) END,
                         a.privilege_type)
  FROM pg_catalog.pg_parameter_acl p
 CROSS JOIN LATERAL pg_catalog.aclexplode(p.paracl) a
  LEFT JOIN pg_catalog.pg_roles g ON g.oid = a.grantee
 WHERE p.parname LIKE 'dbcore.%'
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid = a.grantee AND r.rolsuper)
UNION ALL
-- Strict mode without preloading: until the library loads in a session, the
-- keys are an ordinary placeholder setting that any role can SHOW.  Only a
-- role that may read shared_preload_libraries can tell.
SELECT 'signing keys exposed', 'dbcore.signing_keys',
       'dbcore.signing_keys is set but dbcore is not in shared_preload_libraries: in a session that has not loaded dbcore yet, any role can SHOW the keys'
 WHERE CASE WHEN pg_catalog.current_setting('is_superuser') = 'on'
              OR pg_catalog.pg_has_role('pg_read_all_settings', 'MEMBER')
            THEN COALESCE(pg_catalog.current_setting('dbcore.signing_keys', true), '') <> ''
                 AND NOT 'dbcore' OPERATOR(pg_catalog.=) ANY (pg_catalog.regexp_split_to_array(
                         pg_catalog.regexp_replace(pg_catalog.current_setting('shared_preload_libraries'),
                                                   '[\s"]|\$libdir/', '', 'g'), ','))
            ELSE false END
UNION ALL
-- TRUNCATE ignores row level security.
SELECT 'truncate privilege', s.relid::pg_catalog.text,
       pg_catalog.format('%s has TRUNCATE on it', CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(g.rolname) END)
  FROM scoped s
  JOIN pg_catalog.pg_class c ON c.oid = s.relid
 CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a
  LEFT JOIN pg_catalog.pg_roles g ON g.oid = a.grantee
 WHERE a.privilege_type = 'TRUNCATE'
   AND a.grantee <> s.relowner
   AND NOT EXISTS (SELECT 1 FROM system_roles sr WHERE sr.oid = a.grantee)
UNION ALL
-- Every scoped query filters on the client column.
SELECT 'no client index', s.relid::pg_catalog.text,
       pg_catalog.format('no index starts with column "%s"; scoped queries scan the whole table', s.column_name)
  FROM scoped s
  JOIN pg_catalog.pg_class c ON c.oid = s.relid
 WHERE s.attnum IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                    WHERE i.indrelid = s.relid AND i.indkey[0] = s.attnum)
ORDER BY 1, 2, 3
$function$;

COMMENT ON FUNCTION @extschema@.tenant_audit() IS
  'Holes in tenant scoping, one row per problem: unscoped client_id tables, altered scoping, unique keys and foreign keys without the client column, views and materialized views that bypass row level security, stored dbcore settings and parameter privileges, signing keys exposed without preloading, TRUNCATE grants, missing client indexes';

GRANT EXECUTE ON FUNCTION @extschema@.tenant_audit() TO PUBLIC;

------------------------------------------------------------------------------
-- Pure helpers: version keys and checksums
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.migration_version_key(version pg_catalog.text)
RETURNS pg_catalog.text
AS 'MODULE_PATHNAME', 'dbcore_migration_version_key'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.migration_version_key(pg_catalog.text) IS
  'Sort key of a migration version (groups of digits separated by ".", "_" or "-"): numeric groups compare as numbers, so 2 < 10 and 001 = 1';

CREATE FUNCTION @extschema@.migration_checksum(script pg_catalog.text)
RETURNS pg_catalog.text
AS 'MODULE_PATHNAME', 'dbcore_migration_checksum'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.migration_checksum(pg_catalog.text) IS
  'SHA-256 of a migration script, as 64 lower-case hex digits: the checksum the ledger records';

------------------------------------------------------------------------------
-- The ledger
------------------------------------------------------------------------------

CREATE TABLE @extschema@.migrations (
    version_key   pg_catalog.text COLLATE "C" NOT NULL,
    version       pg_catalog.text NOT NULL,
    name          pg_catalog.text NOT NULL,
    state         pg_catalog.text NOT NULL,
    checksum      pg_catalog.text,
    applied_at    pg_catalog.timestamptz NOT NULL,
    applied_by    pg_catalog.text NOT NULL,
    execution_ms  pg_catalog.float8,
    down_sql      pg_catalog.text,
    session_pid   pg_catalog.int4,
    session_start pg_catalog.timestamptz,
    CONSTRAINT migrations_pkey PRIMARY KEY (version_key),
    CONSTRAINT migrations_version_key_check
        CHECK (version_key OPERATOR(pg_catalog.=) @extschema@.migration_version_key(version)),
    CONSTRAINT migrations_state_check
        CHECK (state OPERATOR(pg_catalog.=) ANY (ARRAY['applied', 'in_progress', 'baseline']::pg_catalog.text[])),
    CONSTRAINT migrations_checksum_check
        CHECK (CASE WHEN state OPERATOR(pg_catalog.=) 'baseline' THEN checksum IS NULL
                    ELSE checksum OPERATOR(pg_catalog.~) '^[0-9a-f]{64}$' END),
    CONSTRAINT migrations_session_check
        CHECK ((state OPERATOR(pg_catalog.=) 'in_progress') OPERATOR(pg_catalog.=) (session_pid IS NOT NULL))
);

COMMENT ON TABLE @extschema@.migrations IS
  'Migration ledger: one row per applied (or in-progress, or baseline) migration; written only by the dbcore migration functions';
COMMENT ON COLUMN @extschema@.migrations.version_key IS
  'Natural sort key of version, from dbcore.migration_version_key(): unique, so 001 and 1 are the same version';
COMMENT ON COLUMN @extschema@.migrations.version IS 'Version as the migration gave it';
COMMENT ON COLUMN @extschema@.migrations.name IS 'Name of the migration';
COMMENT ON COLUMN @extschema@.migrations.state IS
  'applied; in_progress (a non-transactional migration begun and not finished); baseline (adopted existing schema up to this version)';
COMMENT ON COLUMN @extschema@.migrations.checksum IS 'SHA-256 (hex) of the up script; NULL for the baseline';
COMMENT ON COLUMN @extschema@.migrations.applied_at IS 'When it was applied (in_progress: when it was begun)';
COMMENT ON COLUMN @extschema@.migrations.applied_by IS 'Role that applied it (current_user of the caller)';
COMMENT ON COLUMN @extschema@.migrations.execution_ms IS 'Run time of the up script in milliseconds (non-transactional: from begin to finish)';
COMMENT ON COLUMN @extschema@.migrations.down_sql IS 'Script dbcore.revert_migration() runs, if one was given';
COMMENT ON COLUMN @extschema@.migrations.session_pid IS 'in_progress only: process ID of the session that began it';
COMMENT ON COLUMN @extschema@.migrations.session_start IS 'in_progress only: start time of that session (tells a live session from a reused PID)';

CREATE INDEX migrations_in_progress_idx ON @extschema@.migrations (version_key)
    WHERE state OPERATOR(pg_catalog.=) 'in_progress';
COMMENT ON INDEX @extschema@.migrations_in_progress_idx IS
  'Finds an unfinished non-transactional migration without scanning the ledger';
CREATE INDEX migrations_baseline_idx ON @extschema@.migrations (version_key)
    WHERE state OPERATOR(pg_catalog.=) 'baseline';
COMMENT ON INDEX @extschema@.migrations_baseline_idx IS
  'Finds the baseline without scanning the ledger';

CREATE SEQUENCE @extschema@.migration_log_id_seq AS pg_catalog.int8;
COMMENT ON SEQUENCE @extschema@.migration_log_id_seq IS 'Event numbers of dbcore.migration_log';

CREATE TABLE @extschema@.migration_log (
    id            pg_catalog.int8 NOT NULL
                  DEFAULT pg_catalog.nextval('@extschema@.migration_log_id_seq'::pg_catalog.regclass),
    version       pg_catalog.text NOT NULL,
    version_key   pg_catalog.text COLLATE "C" NOT NULL,
    name          pg_catalog.text,
    event         pg_catalog.text NOT NULL,
    checksum      pg_catalog.text,
    logged_at     pg_catalog.timestamptz NOT NULL,
    logged_by     pg_catalog.text NOT NULL,
    execution_ms  pg_catalog.float8,
    CONSTRAINT migration_log_pkey PRIMARY KEY (id),
    CONSTRAINT migration_log_event_check
        CHECK (event OPERATOR(pg_catalog.=) ANY (ARRAY['applied', 'reverted', 'baselined', 'repaired', 'begun', 'finished']::pg_catalog.text[]))
);
ALTER SEQUENCE @extschema@.migration_log_id_seq OWNED BY @extschema@.migration_log.id;

COMMENT ON TABLE @extschema@.migration_log IS
  'History of the migration ledger: one row per event (applied, reverted, baselined, repaired, begun, finished)';
COMMENT ON COLUMN @extschema@.migration_log.id IS 'Event number, increasing';
COMMENT ON COLUMN @extschema@.migration_log.version IS 'Version as the migration gave it';
COMMENT ON COLUMN @extschema@.migration_log.version_key IS 'Natural sort key of version';
COMMENT ON COLUMN @extschema@.migration_log.name IS 'Name of the migration';
COMMENT ON COLUMN @extschema@.migration_log.event IS 'applied, reverted, baselined, repaired, begun or finished';
COMMENT ON COLUMN @extschema@.migration_log.checksum IS 'SHA-256 (hex) of the up script';
COMMENT ON COLUMN @extschema@.migration_log.logged_at IS 'When the event happened (clock time)';
COMMENT ON COLUMN @extschema@.migration_log.logged_by IS 'Role that caused it (current_user of the caller)';
COMMENT ON COLUMN @extschema@.migration_log.execution_ms IS 'Run time of the script in milliseconds, where one ran';

CREATE INDEX migration_log_version_idx ON @extschema@.migration_log (version_key, id);
COMMENT ON INDEX @extschema@.migration_log_version_idx IS 'History of one version, newest last';

-- User data: pg_dump keeps the rows (and the sequence position).  The
-- extension scripts insert no rows, so a restore into a fresh CREATE
-- EXTENSION neither loses nor duplicates any.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.migrations', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.migration_log', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.migration_log_id_seq', '');

-- Nobody writes the ledger directly; the functions below do, as its owner.
REVOKE ALL ON TABLE @extschema@.migrations FROM PUBLIC;
REVOKE ALL ON TABLE @extschema@.migration_log FROM PUBLIC;
REVOKE ALL ON SEQUENCE @extschema@.migration_log_id_seq FROM PUBLIC;

------------------------------------------------------------------------------
-- Writing the ledger (C).  Scripts run with the caller's rights; only the
-- ledger rows are written as the ledger's owner, inside the function.
-- EXECUTE is granted to migration roles explicitly (see doc/migrations.md).
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.apply_migration(
    version pg_catalog.text,
    name pg_catalog.text,
    up_sql pg_catalog.text,
    down_sql pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'dbcore_apply_migration'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.apply_migration(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text) IS
  'Runs up_sql with the caller''s rights and records the migration, in the caller''s transaction; true if it ran now, false if already applied with the same checksum';

CREATE FUNCTION @extschema@.revert_migration(version pg_catalog.text)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'dbcore_revert_migration'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.revert_migration(pg_catalog.text) IS
  'Runs the stored down script of an applied migration with the caller''s rights and removes it from the ledger; false if it is not applied';

CREATE FUNCTION @extschema@.begin_migration(
    version pg_catalog.text,
    name pg_catalog.text,
    up_sql pg_catalog.text,
    down_sql pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'dbcore_begin_migration'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.begin_migration(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text) IS
  'Marks a non-transactional migration as in progress (the caller then runs up_sql outside a transaction and calls finish_migration); false if already applied';

CREATE FUNCTION @extschema@.finish_migration(version pg_catalog.text)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'dbcore_finish_migration'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.finish_migration(pg_catalog.text) IS
  'Marks an in-progress non-transactional migration as applied; false if it already was';

CREATE FUNCTION @extschema@.repair_migration(version pg_catalog.text)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'dbcore_repair_migration'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.repair_migration(pg_catalog.text) IS
  'Clears an in-progress migration whose session is gone, so that it can run again';

CREATE FUNCTION @extschema@.baseline(version pg_catalog.text)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'dbcore_baseline'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.baseline(pg_catalog.text) IS
  'Adopts an existing database: records that every version up to this one is already in place (empty ledger only); false if that baseline exists';

REVOKE ALL ON FUNCTION @extschema@.apply_migration(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.revert_migration(pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.begin_migration(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.finish_migration(pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.repair_migration(pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.baseline(pg_catalog.text) FROM PUBLIC;

------------------------------------------------------------------------------
-- Reading the ledger
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.migration_status()
RETURNS TABLE (
    version      pg_catalog.text,
    name         pg_catalog.text,
    state        pg_catalog.text,
    checksum     pg_catalog.text,
    applied_at   pg_catalog.timestamptz,
    applied_by   pg_catalog.text,
    execution_ms pg_catalog.float8,
    has_down     pg_catalog.bool)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT s.version, s.name, s.state, s.checksum, s.applied_at, s.applied_by,
           s.execution_ms, s.has_down
      FROM (SELECT m.version_key, m.version, m.name, m.state, m.checksum, m.applied_at,
                   m.applied_by, m.execution_ms, m.down_sql IS NOT NULL AS has_down
              FROM @extschema@.migrations m
            UNION ALL
            -- Versions whose last event took them out of the ledger.
            SELECT l.version_key, l.version, l.name,
                   CASE l.event WHEN 'reverted' THEN 'reverted' ELSE 'repaired' END,
                   l.checksum, l.logged_at, l.logged_by, l.execution_ms, NULL
              FROM (SELECT DISTINCT ON (g.version_key) g.*
                      FROM @extschema@.migration_log g
                     ORDER BY g.version_key, g.id DESC) l
             WHERE l.event OPERATOR(pg_catalog.=) ANY (ARRAY['reverted', 'repaired'])
               AND NOT EXISTS (SELECT 1 FROM @extschema@.migrations m
                                WHERE m.version_key OPERATOR(pg_catalog.=) l.version_key)) s
     ORDER BY s.version_key;
$function$;

COMMENT ON FUNCTION @extschema@.migration_status() IS
  'Every migration the ledger knows, in version order: applied, in_progress, baseline, and reverted or repaired ones that are no longer applied';

CREATE FUNCTION @extschema@.verify_migrations(versions pg_catalog.text[], up_scripts pg_catalog.text[])
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
        SELECT m.version_key, m.version, m.name, m.state, m.checksum
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
  'Drift report of migration scripts against the ledger, one row per version: ok, pending, baseline, changed (checksum differs), missing (not applied, older than the newest), unknown (applied, not given), in_progress';

REVOKE ALL ON FUNCTION @extschema@.migration_status() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.verify_migrations(pg_catalog.text[], pg_catalog.text[]) FROM PUBLIC;

------------------------------------------------------------------------------
-- health(): one call for an application's health endpoint
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.health()
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    conns      pg_catalog.int8;
    max_conns  pg_catalog.int4 := pg_catalog.current_setting('max_connections')::pg_catalog.int4;
    newest     record;
    unfinished pg_catalog.jsonb;
    holes      pg_catalog.int8;
    started    pg_catalog.timestamptz := pg_catalog.pg_postmaster_start_time();
BEGIN
    SELECT pg_catalog.count(*) INTO conns
      FROM pg_catalog.pg_stat_activity a
     WHERE a.backend_type OPERATOR(pg_catalog.=) 'client backend';

    SELECT m.version, m.name, m.applied_at INTO newest
      FROM @extschema@.migrations m
     ORDER BY m.version_key DESC LIMIT 1;

    SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
               'version', m.version, 'name', m.name, 'since', m.applied_at) ORDER BY m.version_key),
           '[]'::pg_catalog.jsonb)
      INTO unfinished
      FROM @extschema@.migrations m
     WHERE m.state OPERATOR(pg_catalog.=) 'in_progress';

    holes := (SELECT pg_catalog.count(*) FROM @extschema@.tenant_audit());

    RETURN pg_catalog.jsonb_build_object(
        'status', CASE WHEN pg_catalog.jsonb_array_length(unfinished) OPERATOR(pg_catalog.>) 0
                         OR holes OPERATOR(pg_catalog.>) 0
                         OR conns OPERATOR(pg_catalog.>=) max_conns
                       THEN 'warning' ELSE 'ok' END,
        'server_version', pg_catalog.current_setting('server_version'),
        'server_version_num', pg_catalog.current_setting('server_version_num')::pg_catalog.int4,
        'in_recovery', pg_catalog.pg_is_in_recovery(),
        'database', pg_catalog.current_database(),
        'started_at', started,
        'uptime_seconds', pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) started))::pg_catalog.int8,
        'connections', pg_catalog.jsonb_build_object('in_use', conns, 'max', max_conns),
        'migrations', pg_catalog.jsonb_build_object(
            'newest_version', newest.version,
            'newest_name', newest.name,
            'newest_applied_at', newest.applied_at,
            'in_progress', unfinished),
        'tenant_holes', holes);
END;
$function$;

COMMENT ON FUNCTION @extschema@.health() IS
  'Health report as jsonb: server version, uptime, client connections against max_connections, newest applied migration, unfinished migrations, count of dbcore.tenant_audit() problems';

REVOKE ALL ON FUNCTION @extschema@.health() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.health() TO PUBLIC;

-- 1.0 is the hardened release of 0.3: fuzzing, memory-safety, crash,
-- dump/restore, pooler and client tests, and Debian/PGXN packaging.  It
-- changes no SQL object but the schema comment; the shared library is the
-- same for both versions.
COMMENT ON SCHEMA @extschema@ IS
  'dbcore 1.0: updated_at triggers, tenant scoping and migration bookkeeping';

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

-- 1.3 is a security release: dbcore never runs code a user defined with the
-- identity of the extension's owner.  The guard rails now look at a user's
-- tables in C, as the caller, and scope partitions as their owner (shared
-- library); the SQL objects below follow.  doc/security.md lists every place
-- where dbcore runs as another role.

COMMENT ON SCHEMA @extschema@ IS
  'dbcore 1.3: updated_at triggers, tenant scoping and migration bookkeeping';

------------------------------------------------------------------------------
-- auto_updated_at: the event trigger function no longer runs as the
-- extension's owner (it was SECURITY DEFINER).  It runs as the role that
-- created the table, and still needs no privilege on schema dbcore.
------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION @extschema@.auto_attach_updated_at()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'dbcore_auto_attach_updated_at'
LANGUAGE C VOLATILE SECURITY INVOKER PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.auto_attach_updated_at() IS
  'Event trigger function: when dbcore.auto_updated_at is on, attaches dbcore.updated_at() to each new table with an updated_at column, as the role that created it';

------------------------------------------------------------------------------
-- The guard rails' work before and after a DDL command moved into the
-- shared library, so that none of it runs as the extension's owner: these
-- internal functions ran it as that owner.
------------------------------------------------------------------------------
DROP FUNCTION @extschema@._tenant_after_ddl();
DROP FUNCTION @extschema@._tenant_before_attach(pg_catalog.regclass, pg_catalog.regclass);

------------------------------------------------------------------------------
-- health(): only the ledger is read as its owner; tenant_audit() runs as the
-- caller (as SECURITY DEFINER it counted what only the owner may see).
------------------------------------------------------------------------------
CREATE FUNCTION @extschema@._migration_health()
RETURNS pg_catalog.jsonb
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT pg_catalog.jsonb_build_object(
        'newest_version', n.version,
        'newest_name', n.name,
        'newest_applied_at', n.applied_at,
        'in_progress', (SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                   'version', m.version, 'name', m.name, 'since', m.applied_at)
                                   ORDER BY m.version_key),
                               '[]'::pg_catalog.jsonb)
                          FROM @extschema@.migrations m
                         WHERE m.state OPERATOR(pg_catalog.=) 'in_progress'))
      FROM (SELECT NULL) AS one(x)
      LEFT JOIN LATERAL (SELECT m.version, m.name, m.applied_at
                           FROM @extschema@.migrations m
                          ORDER BY m.version_key DESC LIMIT 1) n ON true
$function$;

COMMENT ON FUNCTION @extschema@._migration_health() IS
  'Internal, for dbcore.health(): the newest applied migration and the unfinished ones, read as the ledger''s owner';

REVOKE ALL ON FUNCTION @extschema@._migration_health() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._migration_health() TO PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.health()
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    conns      pg_catalog.int8;
    max_conns  pg_catalog.int4 := pg_catalog.current_setting('max_connections')::pg_catalog.int4;
    ledger     pg_catalog.jsonb := @extschema@._migration_health();
    holes      pg_catalog.int8;
    started    pg_catalog.timestamptz := pg_catalog.pg_postmaster_start_time();
BEGIN
    SELECT pg_catalog.count(*) INTO conns
      FROM pg_catalog.pg_stat_activity a
     WHERE a.backend_type OPERATOR(pg_catalog.=) 'client backend';

    holes := (SELECT pg_catalog.count(*) FROM @extschema@.tenant_audit());

    RETURN pg_catalog.jsonb_build_object(
        'status', CASE WHEN pg_catalog.jsonb_array_length(ledger OPERATOR(pg_catalog.->) 'in_progress') OPERATOR(pg_catalog.>) 0
                         OR holes OPERATOR(pg_catalog.>) 0
                         OR conns OPERATOR(pg_catalog.>=) max_conns
                       THEN 'warning' ELSE 'ok' END,
        'server_version', pg_catalog.current_setting('server_version'),
        'server_version_num', pg_catalog.current_setting('server_version_num')::pg_catalog.int4,
        'in_recovery', pg_catalog.pg_is_in_recovery(),
        'database', pg_catalog.current_database(),
        'started_at', started,
        'uptime_seconds', pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) started))::pg_catalog.int8,
        'connections', pg_catalog.jsonb_build_object('in_use', conns, 'max', max_conns),
        'migrations', ledger,
        'tenant_holes', holes);
END;
$function$;

COMMENT ON FUNCTION @extschema@.health() IS
  'Health report as jsonb: server version, uptime, client connections against max_connections, newest applied migration, unfinished migrations, count of dbcore.tenant_audit() problems visible to the caller';
