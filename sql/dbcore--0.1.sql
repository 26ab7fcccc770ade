/* dbcore 0.1: the updated_at trigger and its helpers. */

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
