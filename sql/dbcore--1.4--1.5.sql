/* dbcore 1.4 -> 1.5 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION dbcore UPDATE TO '1.5'" to load this file. \quit

COMMENT ON SCHEMA @extschema@ IS
  'dbcore 1.5: updated_at triggers, tenant scoping, audit trail, soft delete and migration bookkeeping';

------------------------------------------------------------------------------
-- Audit trail and soft delete, per client (doc/audit-and-soft-delete.md)
--
-- The audit trail: dbcore.audit(), a C trigger, writes every change of an
-- audited table to one append-only log, dbcore.audit_log, without SPI (and
-- without granting anyone INSERT on the log).  The log is tenant-scoped
-- like dbcore's scoped tables: a tenant reads its own history through the
-- client scope.  Soft delete: dbcore.soft_delete(), a C trigger, turns a
-- DELETE into a mark; policies hide marked rows from every role that has
-- not asked for them with dbcore.show_deleted().
------------------------------------------------------------------------------

-- The table an attach helper of the audit trail or soft delete works on:
-- it exists, is a table or partitioned table, and the caller owns it.
CREATE FUNCTION @extschema@._owned_table(
    tbl pg_catalog.regclass,
    feature pg_catalog.text,
    helper pg_catalog.text,
    OUT relname pg_catalog.name,
    OUT relkind pg_catalog."char",
    OUT relowner pg_catalog.oid,
    OUT relispartition pg_catalog.bool,
    OUT relrowsecurity pg_catalog.bool,
    OUT relforcerowsecurity pg_catalog.bool)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'tbl must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT c.relname, c.relkind, c.relowner, c.relispartition, c.relrowsecurity, c.relforcerowsecurity
      INTO relname, relkind, relowner, relispartition, relrowsecurity, relforcerowsecurity
      FROM pg_catalog.pg_class c WHERE c.oid = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relation with OID % does not exist', tbl::pg_catalog.oid
            USING ERRCODE = 'undefined_table';
    END IF;
    IF relkind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '"%" is not a table', relname
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = feature || ' applies to tables and partitioned tables.';
    END IF;
    IF NOT pg_catalog.pg_has_role(relowner, 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table %', relname
            USING ERRCODE = 'insufficient_privilege',
                  HINT = pg_catalog.format('Call dbcore.%s() as the table''s owner.', helper);
    END IF;
    -- Not on Citus tables: the triggers would fire on the workers' shards,
    -- each writing or checking only its own node.  (Disabling stays
    -- possible: that is the way out for a table distributed later.)
    IF helper LIKE 'enable\_%' AND (@extschema@._citus_distribution(tbl)).method IS NOT NULL THEN
        RAISE EXCEPTION '% is not supported on Citus tables', pg_catalog.lower(feature)
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = pg_catalog.format('Citus manages table "%s" (%s); the audit trail and soft delete work on the tables of one node only.',
                                             relname, (@extschema@._citus_distribution(tbl)).method);
    END IF;
END;
$function$;

COMMENT ON FUNCTION @extschema@._owned_table(pg_catalog.regclass, pg_catalog.text, pg_catalog.text) IS
  'Internal: the pg_class row of a table the caller owns, for the audit trail''s and soft delete''s helpers (errors otherwise)';

-- The log ------------------------------------------------------------------

-- CACHE 1: numbers follow the order in which a row's changes were written.
CREATE SEQUENCE @extschema@.audit_log_id_seq AS pg_catalog.int8;

COMMENT ON SEQUENCE @extschema@.audit_log_id_seq IS
  'Row numbers of dbcore.audit_log';

CREATE TABLE @extschema@.audit_log (
    id          pg_catalog.int8 NOT NULL
                DEFAULT pg_catalog.nextval('@extschema@.audit_log_id_seq'::pg_catalog.regclass),
    logged_at   pg_catalog.timestamptz NOT NULL,
    xact_id     pg_catalog.xid8 NOT NULL,
    tbl         pg_catalog.regclass NOT NULL,
    table_name  pg_catalog.text NOT NULL,
    op          pg_catalog.text NOT NULL,
    row_key     pg_catalog.text COLLATE pg_catalog."C",   -- an exact value: compared byte by byte
    old_values  pg_catalog.jsonb,
    new_values  pg_catalog.jsonb,
    client_id   pg_catalog.text,
    db_role     pg_catalog.text NOT NULL,
    actor       pg_catalog.text
) USING heap;

ALTER SEQUENCE @extschema@.audit_log_id_seq OWNED BY @extschema@.audit_log.id;

COMMENT ON TABLE @extschema@.audit_log IS
  'The audit trail: one row per change of an audited table, written only by dbcore.audit(); append-only (dbcore.purge_audit() removes old rows); tenants read their own client''s rows';
COMMENT ON COLUMN @extschema@.audit_log.id IS
  'Row number: orders the changes of one row';
COMMENT ON COLUMN @extschema@.audit_log.logged_at IS
  'The changing transaction''s timestamp, as now() gives it';
COMMENT ON COLUMN @extschema@.audit_log.xact_id IS
  'The changing transaction, as pg_current_xact_id() gives it';
COMMENT ON COLUMN @extschema@.audit_log.tbl IS
  'The audited table (for a partition: its partitioned table)';
COMMENT ON COLUMN @extschema@.audit_log.table_name IS
  'Its schema-qualified name at the time of the change';
COMMENT ON COLUMN @extschema@.audit_log.op IS
  'INSERT, UPDATE, DELETE, SOFT DELETE, RESTORE or TRUNCATE';
COMMENT ON COLUMN @extschema@.audit_log.row_key IS
  'The row''s primary key (or replica identity index) as text: the value for one column, a row literal such as (a,1) for several';
COMMENT ON COLUMN @extschema@.audit_log.old_values IS
  'The old row (DELETE) or the old values of the changed columns (UPDATE), as jsonb; excluded columns left out';
COMMENT ON COLUMN @extschema@.audit_log.new_values IS
  'The new row (INSERT) or the new values of the changed columns (UPDATE), as jsonb; excluded columns left out';
COMMENT ON COLUMN @extschema@.audit_log.client_id IS
  'The row''s client, for a tenant-scoped table (as text); NULL otherwise';
COMMENT ON COLUMN @extschema@.audit_log.db_role IS
  'The role the session acted as (SET ROLE included; security definer functions and foreign-key actions not)';
COMMENT ON COLUMN @extschema@.audit_log.actor IS
  'The application''s actor: dbcore.actor, set per transaction';

-- Two indexes, each cheap to maintain per row.  A row's history: a hash
-- index on its key (row keys arrive in no order; a B-tree would descend and
-- compare at every insert); the few rows of one key are then filtered by
-- table and sorted by number.  Time and transaction: one BRIN index, since
-- both grow with the log (xid8 has no BRIN operator class of its own:
-- minmax over its B-tree operators).
CREATE OPERATOR CLASS @extschema@.xid8_minmax_ops
  FOR TYPE pg_catalog.xid8 USING brin AS
    OPERATOR 1 pg_catalog.< (pg_catalog.xid8, pg_catalog.xid8),
    OPERATOR 2 pg_catalog.<= (pg_catalog.xid8, pg_catalog.xid8),
    OPERATOR 3 pg_catalog.= (pg_catalog.xid8, pg_catalog.xid8),
    OPERATOR 4 pg_catalog.>= (pg_catalog.xid8, pg_catalog.xid8),
    OPERATOR 5 pg_catalog.> (pg_catalog.xid8, pg_catalog.xid8),
    FUNCTION 1 pg_catalog.brin_minmax_opcinfo(pg_catalog.internal),
    FUNCTION 2 pg_catalog.brin_minmax_add_value(pg_catalog.internal, pg_catalog.internal, pg_catalog.internal, pg_catalog.internal),
    FUNCTION 3 pg_catalog.brin_minmax_consistent(pg_catalog.internal, pg_catalog.internal, pg_catalog.internal),
    FUNCTION 4 pg_catalog.brin_minmax_union(pg_catalog.internal, pg_catalog.internal, pg_catalog.internal);

COMMENT ON OPERATOR CLASS @extschema@.xid8_minmax_ops USING brin IS
  'BRIN minmax for xid8, for dbcore.audit_log''s transaction column';

CREATE INDEX audit_log_row_idx ON @extschema@.audit_log USING hash (row_key);
CREATE INDEX audit_log_time_idx ON @extschema@.audit_log
  USING brin (logged_at, xact_id @extschema@.xid8_minmax_ops) WITH (autosummarize = on);

COMMENT ON INDEX @extschema@.audit_log_row_idx IS
  'The history of a row (dbcore.audit_history())';
COMMENT ON INDEX @extschema@.audit_log_time_idx IS
  'Rows by time (dbcore.purge_audit()) and by transaction (dbcore.audit_transaction())';

-- A tenant reads its own client's history, and the history of tables it may
-- read that are not tenant-scoped; superusers and BYPASSRLS roles read all.
ALTER TABLE @extschema@.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.audit_log FORCE ROW LEVEL SECURITY;

CREATE POLICY dbcore_audit_isolation ON @extschema@.audit_log
  AS RESTRICTIVE FOR SELECT TO PUBLIC
  USING (client_id IS NULL
         OR client_id OPERATOR(pg_catalog.=) (SELECT @extschema@.current_client_id_text()));
CREATE POLICY dbcore_audit_access ON @extschema@.audit_log
  AS PERMISSIVE FOR SELECT TO PUBLIC
  USING (pg_catalog.has_table_privilege(tbl, 'SELECT'));

COMMENT ON POLICY dbcore_audit_isolation ON @extschema@.audit_log IS
  'Rows of tenant-scoped tables: the current client''s only';
COMMENT ON POLICY dbcore_audit_access ON @extschema@.audit_log IS
  'Rows of tables the reader may SELECT';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audit_log_id_seq', '');

REVOKE ALL ON TABLE @extschema@.audit_log FROM PUBLIC;
GRANT SELECT ON TABLE @extschema@.audit_log TO PUBLIC;
REVOKE ALL ON SEQUENCE @extschema@.audit_log_id_seq FROM PUBLIC;

-- Append-only, for everyone but dbcore.purge_audit().
CREATE FUNCTION @extschema@._audit_log_guard()
RETURNS trigger
AS 'MODULE_PATHNAME', 'dbcore_audit_log_guard'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@._audit_log_guard() IS
  'Internal: statement trigger of dbcore.audit_log refusing UPDATE, DELETE and TRUNCATE (but the DELETE of dbcore.purge_audit())';

REVOKE ALL ON FUNCTION @extschema@._audit_log_guard() FROM PUBLIC;

CREATE TRIGGER dbcore_audit_log_append_only
  BEFORE UPDATE OR DELETE OR TRUNCATE ON @extschema@.audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._audit_log_guard();

CREATE FUNCTION @extschema@.purge_audit(older_than pg_catalog.interval)
RETURNS pg_catalog.int8
AS 'MODULE_PATHNAME', 'dbcore_purge_audit'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.purge_audit(pg_catalog.interval) IS
  'Superusers and BYPASSRLS roles: removes the audit log rows written longer than older_than ago; writers go on meanwhile; returns the number of rows';

-- The trigger and the actor -------------------------------------------------

CREATE FUNCTION @extschema@.audit()
RETURNS trigger
AS 'MODULE_PATHNAME', 'dbcore_audit'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.audit() IS
  'AFTER INSERT OR UPDATE OR DELETE row trigger (and AFTER TRUNCATE statement trigger) writing dbcore.audit_log; arguments: columns to leave out';

CREATE FUNCTION @extschema@.set_actor(actor pg_catalog.text)
RETURNS void
AS 'MODULE_PATHNAME', 'dbcore_set_actor'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.set_actor(pg_catalog.text) IS
  'Sets the actor the audit log records for the rest of the transaction (SET LOCAL dbcore.actor); NULL clears it';

-- The registry of audited tables -------------------------------------------

CREATE TABLE @extschema@.audited_tables (
    tbl              pg_catalog.regclass PRIMARY KEY,
    excluded_columns pg_catalog.name[] NOT NULL DEFAULT '{}',
    record_inserts   pg_catalog.bool NOT NULL DEFAULT true
);

COMMENT ON TABLE @extschema@.audited_tables IS
  'Audited tables and their options; written only through dbcore.enable_audit() and dbcore.disable_audit()';
COMMENT ON COLUMN @extschema@.audited_tables.tbl IS
  'The audited table (its partitions with it)';
COMMENT ON COLUMN @extschema@.audited_tables.excluded_columns IS
  'Columns left out of the log, sorted';
COMMENT ON COLUMN @extschema@.audited_tables.record_inserts IS
  'Whether INSERTs are recorded';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.audited_tables', '');

REVOKE ALL ON TABLE @extschema@.audited_tables FROM PUBLIC;
GRANT SELECT ON TABLE @extschema@.audited_tables TO PUBLIC;

-- What an audited table (and each of its partitions) must have.
CREATE FUNCTION @extschema@.audit_check_table(
    tbl pg_catalog.regclass,
    exclude_columns pg_catalog.name[],
    record_inserts pg_catalog.bool)
RETURNS TABLE(tbl pg_catalog.regclass, check_name pg_catalog.text, detail pg_catalog.text)
LANGUAGE sql
STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
WITH RECURSIVE tree AS (
    -- pg_inherits, not pg_partition_tree(): no locks, as after every DDL
    SELECT $1::pg_catalog.oid AS relid, true AS root
    UNION ALL
    SELECT i.inhrelid, false
      FROM tree t
      JOIN pg_catalog.pg_inherits i ON i.inhparent OPERATOR(pg_catalog.=) t.relid
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhrelid AND c.relispartition
), want AS (
    SELECT t.relid, v.tgname, v.tgtype,
           CASE WHEN v.row_trigger
                THEN coalesce((SELECT pg_catalog.string_agg(pg_catalog.convert_to(u.c, pg_catalog.getdatabaseencoding())
                                                              OPERATOR(pg_catalog.||) '\x00'::pg_catalog.bytea,
                                                              ''::pg_catalog.bytea ORDER BY u.o)
                                 FROM pg_catalog.unnest($2) WITH ORDINALITY AS u(c, o)),
                              ''::pg_catalog.bytea)
                ELSE ''::pg_catalog.bytea END AS tgargs
      FROM tree t
     CROSS JOIN (VALUES ('dbcore_audit'::pg_catalog.name,
                         (CASE WHEN $3 THEN 29 ELSE 25 END)::pg_catalog.int2, true),
                        ('dbcore_audit_truncate'::pg_catalog.name, 32::pg_catalog.int2, false))
                AS v(tgname, tgtype, row_trigger)
     WHERE v.row_trigger OR t.root
), problems AS (
    SELECT w.relid, 'trigger ' OPERATOR(pg_catalog.||) w.tgname AS check_name,
           CASE WHEN g.oid IS NULL
                    THEN pg_catalog.format('trigger "%s" is missing', w.tgname)
                WHEN g.tgenabled NOT IN ('O', 'A')
                    THEN pg_catalog.format('trigger "%s" is disabled', w.tgname)
                WHEN g.tgfoid OPERATOR(pg_catalog.<>) '@extschema@.audit()'::pg_catalog.regprocedure
                     OR g.tgtype OPERATOR(pg_catalog.<>) w.tgtype OR g.tgqual IS NOT NULL
                     OR pg_catalog.cardinality(g.tgattr::pg_catalog.int2[]) OPERATOR(pg_catalog.<>) 0
                     OR g.tgargs OPERATOR(pg_catalog.<>) w.tgargs
                    THEN pg_catalog.format('trigger "%s" has been redefined', w.tgname)
           END AS detail
      FROM want w
      LEFT JOIN pg_catalog.pg_trigger g
             ON g.tgrelid OPERATOR(pg_catalog.=) w.relid AND g.tgname OPERATOR(pg_catalog.=) w.tgname
)
SELECT p.relid::pg_catalog.regclass, p.check_name, p.detail
  FROM problems p
 WHERE p.detail IS NOT NULL
 ORDER BY p.relid, p.check_name
$function$;

COMMENT ON FUNCTION @extschema@.audit_check_table(pg_catalog.regclass, pg_catalog.name[], pg_catalog.bool) IS
  'What keeps a table (and its partitions) from being fully audited with the given options: one row per missing, disabled or redefined trigger';

CREATE FUNCTION @extschema@.audit_problems()
RETURNS TABLE(tbl pg_catalog.regclass, check_name pg_catalog.text, detail pg_catalog.text)
LANGUAGE sql
STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
SELECT p.tbl, p.check_name, p.detail
  FROM @extschema@.audited_tables r,
       LATERAL @extschema@.audit_check_table(r.tbl, r.excluded_columns, r.record_inserts) p
$function$;

COMMENT ON FUNCTION @extschema@.audit_problems() IS
  'Every broken piece of every table in dbcore.audited_tables (see dbcore.audit_check_table())';

CREATE FUNCTION @extschema@._audit_register(
    tbl pg_catalog.regclass,
    exclude_columns pg_catalog.name[],
    record_inserts pg_catalog.bool)
RETURNS void
AS 'MODULE_PATHNAME', 'dbcore_audit_register'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@._audit_register(pg_catalog.regclass, pg_catalog.name[], pg_catalog.bool) IS
  'Internal: records a table in dbcore.audited_tables; the caller must own it and its audit triggers must be complete';

CREATE FUNCTION @extschema@._audit_unregister(tbl pg_catalog.regclass)
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'dbcore_audit_unregister'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@._audit_unregister(pg_catalog.regclass) IS
  'Internal: removes a table from dbcore.audited_tables; needs ownership and system-level authorization (superuser or BYPASSRLS)';

-- enable_audit / disable_audit ---------------------------------------------

-- The audited table a partition's changes are recorded through, if any.
CREATE FUNCTION @extschema@._audited_ancestor(tbl pg_catalog.regclass)
RETURNS pg_catalog.regclass
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
SELECT r.tbl
  FROM pg_catalog.pg_partition_ancestors($1) a
  JOIN @extschema@.audited_tables r ON r.tbl OPERATOR(pg_catalog.=) a.relid
 WHERE a.relid OPERATOR(pg_catalog.<>) $1
 LIMIT 1
$function$;

COMMENT ON FUNCTION @extschema@._audited_ancestor(pg_catalog.regclass) IS
  'Internal: the audited partitioned table above a partition (NULL if none)';

CREATE FUNCTION @extschema@.enable_audit(
    tbl pg_catalog.regclass,
    exclude_columns pg_catalog.name[] DEFAULT '{}',
    record_inserts pg_catalog.bool DEFAULT true)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    rel       record;
    excluded  pg_catalog.name[];
    missing   pg_catalog.name;
    audited   pg_catalog.regclass;
    part      record;
    args      pg_catalog.text;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'table must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the table to audit, for example dbcore.enable_audit(''orders'').';
    END IF;
    IF exclude_columns IS NULL OR record_inserts IS NULL OR pg_catalog.array_position(exclude_columns, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'audit options must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    rel := @extschema@._owned_table(tbl, 'The audit trail', 'enable_audit');

    -- Sorted and without duplicates, so that equal options compare equal.
    excluded := ARRAY(SELECT DISTINCT u.c FROM pg_catalog.unnest(exclude_columns) u(c)
                       ORDER BY 1);
    SELECT u.c INTO missing
      FROM pg_catalog.unnest(excluded) u(c)
     WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                        WHERE a.attrelid = tbl AND a.attname = u.c
                          AND a.attnum > 0 AND NOT a.attisdropped)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'column "%" of relation "%" does not exist', missing, rel.relname
            USING ERRCODE = 'undefined_column';
    END IF;

    IF EXISTS (SELECT 1 FROM @extschema@.audited_tables r
                WHERE r.tbl = enable_audit.tbl
                  AND (r.excluded_columns <> excluded OR r.record_inserts <> enable_audit.record_inserts)) THEN
        RAISE EXCEPTION 'table "%" is already audited with other options', rel.relname
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Call dbcore.disable_audit() first, as a superuser or a role with BYPASSRLS.';
    END IF;
    audited := @extschema@._audited_ancestor(tbl);
    IF audited IS NOT NULL THEN
        RAISE EXCEPTION 'table "%" is a partition of audited table "%"', rel.relname,
                        (SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid = audited)
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Its changes are recorded through the audit trail of that table.';
    END IF;

    -- A partition audited by itself, or with an audit trigger of its own,
    -- would clash with the clone of the new trigger.
    FOR part IN
        SELECT t.relid, c.relname,
               EXISTS (SELECT 1 FROM @extschema@.audited_tables r WHERE r.tbl = t.relid) AS registered
          FROM pg_catalog.pg_partition_tree(tbl) t
          JOIN pg_catalog.pg_class c ON c.oid = t.relid
         WHERE t.relid <> tbl
           AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                        WHERE g.tgrelid = t.relid AND g.tgparentid = 0
                          AND g.tgname IN ('dbcore_audit', 'dbcore_audit_truncate'))
         ORDER BY t.level, t.relid
    LOOP
        IF part.registered THEN
            RAISE EXCEPTION 'partition "%" of table "%" is audited by itself', part.relname, rel.relname
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Call dbcore.disable_audit() on the partition first, as a superuser or a role with BYPASSRLS.';
        END IF;
        EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS dbcore_audit ON %s', part.relid::pg_catalog.regclass);
        EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS dbcore_audit_truncate ON %s', part.relid::pg_catalog.regclass);
    END LOOP;

    args := (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(u.c), ', ' ORDER BY u.o)
               FROM pg_catalog.unnest(excluded) WITH ORDINALITY AS u(c, o));
    EXECUTE pg_catalog.format('CREATE OR REPLACE TRIGGER dbcore_audit AFTER %s ON %s FOR EACH ROW EXECUTE FUNCTION %I.audit(%s)',
                              CASE WHEN record_inserts THEN 'INSERT OR UPDATE OR DELETE' ELSE 'UPDATE OR DELETE' END,
                              tbl, '@extschema@', coalesce(args, ''));
    EXECUTE pg_catalog.format('CREATE OR REPLACE TRIGGER dbcore_audit_truncate AFTER TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION %I.audit()',
                              tbl, '@extschema@');
    -- (a clone disabled on one partition is enabled again)
    FOR part IN
        SELECT g.tgrelid, g.tgname
          FROM pg_catalog.pg_trigger g
         WHERE g.tgname IN ('dbcore_audit', 'dbcore_audit_truncate')
           AND g.tgenabled NOT IN ('O', 'A')
           AND g.tgrelid IN (SELECT tbl UNION ALL SELECT t.relid FROM pg_catalog.pg_partition_tree(tbl) t)
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE TRIGGER %I', part.tgrelid::pg_catalog.regclass, part.tgname);
    END LOOP;

    PERFORM @extschema@._audit_register(tbl, excluded, record_inserts);

    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                    WHERE i.indrelid = tbl AND (i.indisprimary OR i.indisreplident)) THEN
        RAISE NOTICE 'table "%" has no primary key: its log rows carry no row key', rel.relname
            USING HINT = 'Add a primary key (or a replica identity index) to look up the history of a row.';
    END IF;
END;
$function$;

COMMENT ON FUNCTION @extschema@.enable_audit(pg_catalog.regclass, pg_catalog.name[], pg_catalog.bool) IS
  'Records every change of a table (and its partitions) in dbcore.audit_log: triggers dbcore_audit and dbcore_audit_truncate, registered in dbcore.audited_tables; exclude_columns are left out of the log; idempotent; for the table''s owner';

CREATE FUNCTION @extschema@.disable_audit(tbl pg_catalog.regclass)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    rel      record;
    audited  pg_catalog.regclass;
    removed  pg_catalog.bool;
    dropped  pg_catalog.bool := false;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'table must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT c.relname, c.relowner, c.relispartition INTO rel
      FROM pg_catalog.pg_class c WHERE c.oid = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relation with OID % does not exist', tbl::pg_catalog.oid
            USING ERRCODE = 'undefined_table';
    END IF;
    audited := @extschema@._audited_ancestor(tbl);
    IF audited IS NOT NULL THEN
        RAISE EXCEPTION 'table "%" is a partition of audited table "%"', rel.relname,
                        (SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid = audited)
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Disable the audit trail of the partitioned table instead.';
    END IF;

    -- Checks ownership and system-level authorization first.
    removed := @extschema@._audit_unregister(tbl);
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                WHERE g.tgrelid = tbl AND g.tgname = 'dbcore_audit' AND g.tgparentid = 0) THEN
        EXECUTE pg_catalog.format('DROP TRIGGER dbcore_audit ON %s', tbl);
        dropped := true;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                WHERE g.tgrelid = tbl AND g.tgname = 'dbcore_audit_truncate') THEN
        EXECUTE pg_catalog.format('DROP TRIGGER dbcore_audit_truncate ON %s', tbl);
        dropped := true;
    END IF;
    IF NOT removed AND NOT dropped THEN
        RAISE NOTICE 'table "%" is not audited, skipping', rel.relname;
    END IF;
END;
$function$;

COMMENT ON FUNCTION @extschema@.disable_audit(pg_catalog.regclass) IS
  'Stops recording the changes of a table (the log keeps its history); needs a superuser, or a role with BYPASSRLS that owns the table';

-- Reading the history -------------------------------------------------------

CREATE FUNCTION @extschema@.audit_history(tbl pg_catalog.regclass, row_key pg_catalog.text)
RETURNS SETOF @extschema@.audit_log
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
SELECT l.*
  FROM @extschema@.audit_log l
 WHERE l.tbl OPERATOR(pg_catalog.=) $1
   AND l.row_key OPERATOR(pg_catalog.=) ($2 COLLATE pg_catalog."C")
 ORDER BY l.id
$function$;

COMMENT ON FUNCTION @extschema@.audit_history(pg_catalog.regclass, pg_catalog.text) IS
  'The history of one row of an audited table, oldest first (row_key: its primary key as text, a row literal such as (a,1) for several columns); what the caller may read of the log';

CREATE FUNCTION @extschema@.audit_transaction(xact_id pg_catalog.xid8)
RETURNS SETOF @extschema@.audit_log
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
SELECT l.*
  FROM @extschema@.audit_log l
 WHERE l.xact_id OPERATOR(pg_catalog.=) $1
 ORDER BY l.id
$function$;

COMMENT ON FUNCTION @extschema@.audit_transaction(pg_catalog.xid8) IS
  'The changes one transaction made to audited tables, in order (xact_id as pg_current_xact_id() gives it); what the caller may read of the log';

-- Soft delete ----------------------------------------------------------------

CREATE FUNCTION @extschema@.soft_delete()
RETURNS trigger
AS 'MODULE_PATHNAME', 'dbcore_soft_delete'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.soft_delete() IS
  'BEFORE DELETE row trigger (argument: the mark column) that marks the row with the transaction timestamp instead of removing it';

CREATE FUNCTION @extschema@._showing_deleted_support(pg_catalog.internal)
RETURNS pg_catalog.internal
AS 'MODULE_PATHNAME', 'dbcore_showing_deleted_support'
LANGUAGE C STRICT;

COMMENT ON FUNCTION @extschema@._showing_deleted_support(pg_catalog.internal) IS
  'Internal: planner support of dbcore.showing_deleted() (its value when a statement is planned)';

REVOKE ALL ON FUNCTION @extschema@._showing_deleted_support(pg_catalog.internal) FROM PUBLIC;

CREATE FUNCTION @extschema@.showing_deleted()
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'dbcore_showing_deleted'
LANGUAGE C STABLE PARALLEL SAFE LEAKPROOF
SUPPORT @extschema@._showing_deleted_support;

COMMENT ON FUNCTION @extschema@.showing_deleted() IS
  'Whether marked rows are shown in this transaction (dbcore.show_deleted); read by the policies of soft-delete tables';

CREATE FUNCTION @extschema@.show_deleted(enabled pg_catalog.bool DEFAULT true)
RETURNS void
AS 'MODULE_PATHNAME', 'dbcore_show_deleted'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.show_deleted(pg_catalog.bool) IS
  'For roles granted EXECUTE: shows (or hides again) the rows soft delete marked, for the rest of the transaction (SET LOCAL dbcore.show_deleted)';

REVOKE ALL ON FUNCTION @extschema@.show_deleted(pg_catalog.bool) FROM PUBLIC;

-- The pieces of soft delete on one table or partition, as its owner.
CREATE FUNCTION @extschema@._soft_delete_one(
    tbl pg_catalog.regclass,
    column_name pg_catalog.name,
    own_trigger pg_catalog.bool)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    rel      record;
    col      record;
    expr     pg_catalog.text;
    printed  pg_catalog.text;
    pol      record;
BEGIN
    IF tbl IS NULL OR column_name IS NULL OR own_trigger IS NULL THEN
        RAISE EXCEPTION 'arguments of dbcore._soft_delete_one() must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    rel := @extschema@._owned_table(tbl, 'Soft delete', 'enable_soft_delete');
    SELECT a.atttypid, a.attnotnull, a.attgenerated INTO col
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = column_name
       AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of relation "%" does not exist', column_name, rel.relname
            USING ERRCODE = 'undefined_column',
                  HINT = 'Add the column first, for example ALTER TABLE ... ADD COLUMN deleted_at timestamptz, or name it in the second argument.';
    END IF;
    IF col.atttypid NOT IN ('pg_catalog.timestamptz'::pg_catalog.regtype, 'pg_catalog.timestamp'::pg_catalog.regtype) THEN
        RAISE EXCEPTION 'column "%" of relation "%" is of type %', column_name, rel.relname,
                        pg_catalog.format_type(col.atttypid, NULL)
            USING ERRCODE = 'datatype_mismatch',
                  DETAIL = 'Soft delete marks rows with a timestamp with time zone or timestamp without time zone.';
    END IF;
    IF col.attnotnull OR col.attgenerated <> '' THEN
        RAISE EXCEPTION 'column "%" of relation "%" must be a plain nullable column', column_name, rel.relname
            USING ERRCODE = 'invalid_table_definition',
                  DETAIL = 'Rows that are not deleted have NULL in it.';
    END IF;

    -- The function call is folded to its value when a statement is
    -- planned: the policy reads "col IS NULL", or nothing at all.
    expr := pg_catalog.format('%I IS NULL OR %I.showing_deleted()', column_name, '@extschema@');
    printed := pg_catalog.format('((%s IS NULL) OR %s.showing_deleted())', pg_catalog.quote_ident(column_name),
                                 pg_catalog.quote_ident('@extschema@'));

    IF NOT rel.relrowsecurity THEN
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    END IF;
    IF NOT rel.relforcerowsecurity THEN
        EXECUTE pg_catalog.format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
    END IF;

    -- Restrictive: marked rows are neither seen nor written.  Its name
    -- sorts after dbcore_tenant_isolation (tenant scoping's guard rails
    -- require that of every restrictive policy).
    SELECT p.polpermissive, p.polcmd, p.polroles,
           pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS qual,
           pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) AS wcheck
      INTO pol
      FROM pg_catalog.pg_policy p
     WHERE p.polrelid = tbl AND p.polname = 'dbcore_undeleted';
    IF FOUND AND (pol.polpermissive OR pol.polcmd <> '*') THEN
        EXECUTE pg_catalog.format('DROP POLICY dbcore_undeleted ON %s', tbl);
        pol := NULL;
    END IF;
    IF pol IS NULL THEN
        EXECUTE pg_catalog.format('CREATE POLICY dbcore_undeleted ON %s AS RESTRICTIVE FOR ALL TO PUBLIC USING (%s) WITH CHECK (%s)',
                                  tbl, expr, expr);
    ELSIF pol.polroles <> '{0}'::pg_catalog.oid[] OR pol.qual IS DISTINCT FROM printed
          OR pol.wcheck IS DISTINCT FROM printed THEN
        EXECUTE pg_catalog.format('ALTER POLICY dbcore_undeleted ON %s TO PUBLIC USING (%s) WITH CHECK (%s)',
                                  tbl, expr, expr);
    END IF;

    -- Row level security admits nothing without a permissive policy: unless
    -- the table has permissive policies of its own (which this one would
    -- widen), a companion admits every row, and the restrictive one decides.
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy p
                    WHERE p.polrelid = tbl AND p.polpermissive
                      AND p.polname NOT IN ('dbcore_tenant_access', 'dbcore_undeleted_access')) THEN
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy p
                        WHERE p.polrelid = tbl AND p.polname = 'dbcore_undeleted_access') THEN
            EXECUTE pg_catalog.format('CREATE POLICY dbcore_undeleted_access ON %s AS PERMISSIVE FOR ALL TO PUBLIC USING (true) WITH CHECK (true)',
                                      tbl);
        END IF;
    END IF;

    IF own_trigger THEN
        -- On a partitioned table it fires BEFORE UPDATE too, to tell a row
        -- moving to another partition from a delete.
        EXECUTE pg_catalog.format('CREATE OR REPLACE TRIGGER dbcore_soft_delete BEFORE %s ON %s FOR EACH ROW EXECUTE FUNCTION %I.soft_delete(%L)',
                                  CASE WHEN rel.relkind = 'p' THEN 'UPDATE OR DELETE' ELSE 'DELETE' END,
                                  tbl, '@extschema@', column_name);
    END IF;
END;
$function$;

COMMENT ON FUNCTION @extschema@._soft_delete_one(pg_catalog.regclass, pg_catalog.name, pg_catalog.bool) IS
  'Internal: creates or repairs soft delete on one table or partition (row level security enabled and forced, policies dbcore_undeleted and dbcore_undeleted_access, with own_trigger the trigger dbcore_soft_delete)';

CREATE FUNCTION @extschema@.enable_soft_delete(
    tbl pg_catalog.regclass,
    column_name pg_catalog.name DEFAULT 'deleted_at')
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    rel      record;
    current  pg_catalog.text;
    above    pg_catalog.regclass;
    part     record;
    idx      record;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'table must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the table, for example dbcore.enable_soft_delete(''orders'').';
    END IF;
    IF column_name IS NULL OR column_name = '' THEN
        RAISE EXCEPTION 'column name must not be null or empty'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Leave column_name out to use "deleted_at".';
    END IF;
    SELECT c.relname, c.relkind, c.relispartition INTO rel FROM pg_catalog.pg_class c WHERE c.oid = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relation with OID % does not exist', tbl::pg_catalog.oid
            USING ERRCODE = 'undefined_table';
    END IF;

    SELECT pg_catalog.convert_from(pg_catalog.substr(g.tgargs, 1, pg_catalog.position(g.tgargs, '\x00'::pg_catalog.bytea) - 1),
                                   pg_catalog.getdatabaseencoding())
      INTO current
      FROM pg_catalog.pg_trigger g
     WHERE g.tgrelid = tbl AND g.tgname = 'dbcore_soft_delete'
       AND g.tgfoid = '@extschema@.soft_delete()'::pg_catalog.regprocedure;
    IF current IS NOT NULL AND current <> column_name THEN
        RAISE EXCEPTION 'table "%" already has soft delete on column "%"', rel.relname, current
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Call dbcore.disable_soft_delete() first.';
    END IF;
    IF rel.relispartition THEN
        SELECT a.relid INTO above
          FROM pg_catalog.pg_partition_ancestors(tbl) a
          JOIN pg_catalog.pg_trigger g ON g.tgrelid = a.relid AND g.tgname = 'dbcore_soft_delete'
                                      AND g.tgparentid = 0
         WHERE a.relid <> tbl
         LIMIT 1;
        IF above IS NOT NULL THEN
            RAISE EXCEPTION 'table "%" is a partition of soft-delete table "%"', rel.relname,
                            (SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid = above)
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'It has soft delete through that table.';
        END IF;
    END IF;

    -- Partitions' own soft-delete triggers give way to the clone of this one.
    FOR part IN
        SELECT g.tgrelid
          FROM pg_catalog.pg_partition_tree(tbl) t
          JOIN pg_catalog.pg_trigger g ON g.tgrelid = t.relid AND g.tgname = 'dbcore_soft_delete'
                                      AND g.tgparentid = 0
         WHERE t.relid <> tbl
    LOOP
        EXECUTE pg_catalog.format('DROP TRIGGER dbcore_soft_delete ON %s', part.tgrelid::pg_catalog.regclass);
    END LOOP;

    PERFORM @extschema@._soft_delete_one(tbl, column_name, true);
    FOR part IN
        SELECT t.relid FROM pg_catalog.pg_partition_tree(tbl) t
         WHERE t.relid <> tbl ORDER BY t.level, t.relid
    LOOP
        PERFORM @extschema@._soft_delete_one(part.relid, column_name, false);
    END LOOP;

    -- A deleted row keeps its keys: unique keys should ignore marked rows.
    FOR idx IN
        SELECT ic.relname
          FROM pg_catalog.pg_index i
          JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
         WHERE i.indrelid = tbl AND i.indisunique AND NOT i.indisprimary
           AND pg_catalog.pg_get_expr(i.indpred, i.indrelid) IS DISTINCT FROM
               pg_catalog.format('(%s IS NULL)', pg_catalog.quote_ident(column_name))
         ORDER BY ic.relname
    LOOP
        RAISE NOTICE 'unique index "%" of table "%" also counts deleted rows', idx.relname, rel.relname
            USING DETAIL = 'A deleted row keeps blocking a new row with the same key.',
                  HINT = pg_catalog.format('Replace it with a partial unique index: CREATE UNIQUE INDEX ... WHERE %s IS NULL.',
                                           pg_catalog.quote_ident(column_name));
    END LOOP;
END;
$function$;

COMMENT ON FUNCTION @extschema@.enable_soft_delete(pg_catalog.regclass, pg_catalog.name) IS
  'Makes DELETE mark rows of a table (and its partitions) in a timestamp column instead of removing them, and hides marked rows (trigger dbcore_soft_delete, row level security enabled and forced, policies dbcore_undeleted and dbcore_undeleted_access); idempotent; for the table''s owner';

CREATE FUNCTION @extschema@.disable_soft_delete(tbl pg_catalog.regclass)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    rel     record;
    part    record;
    removed pg_catalog.bool;
    found_any pg_catalog.bool := false;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'table must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    rel := @extschema@._owned_table(tbl, 'Soft delete', 'disable_soft_delete');
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                WHERE g.tgrelid = tbl AND g.tgname = 'dbcore_soft_delete' AND g.tgparentid <> 0) THEN
        RAISE EXCEPTION 'table "%" is a partition of a soft-delete table', rel.relname
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Disable soft delete of the partitioned table instead.';
    END IF;

    IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                WHERE g.tgrelid = tbl AND g.tgname = 'dbcore_soft_delete') THEN
        EXECUTE pg_catalog.format('DROP TRIGGER dbcore_soft_delete ON %s', tbl);
        found_any := true;
    END IF;
    FOR part IN
        SELECT t.relid, c.relname
          FROM (SELECT tbl AS relid, 0 AS level
                UNION
                SELECT p.relid, p.level FROM pg_catalog.pg_partition_tree(tbl) p) t
          JOIN pg_catalog.pg_class c ON c.oid = t.relid
         ORDER BY t.level, t.relid
    LOOP
        removed := false;
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = part.relid AND p.polname = 'dbcore_undeleted') THEN
            EXECUTE pg_catalog.format('DROP POLICY dbcore_undeleted ON %s', part.relid::pg_catalog.regclass);
            removed := true;
        END IF;
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = part.relid AND p.polname = 'dbcore_undeleted_access') THEN
            EXECUTE pg_catalog.format('DROP POLICY dbcore_undeleted_access ON %s', part.relid::pg_catalog.regclass);
            removed := true;
        END IF;
        IF removed THEN
            found_any := true;
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = part.relid) THEN
                RAISE NOTICE 'row level security stays enabled on "%" for its other policies', part.relname;
            ELSE
                EXECUTE pg_catalog.format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY',
                                          part.relid::pg_catalog.regclass);
            END IF;
        END IF;
    END LOOP;
    IF NOT found_any THEN
        RAISE NOTICE 'table "%" has no soft delete, skipping', rel.relname;
    END IF;
END;
$function$;

COMMENT ON FUNCTION @extschema@.disable_soft_delete(pg_catalog.regclass) IS
  'Undoes dbcore.enable_soft_delete() on a table and its partitions: DELETE removes rows again and marked rows show (they keep their mark); for the table''s owner';

CREATE FUNCTION @extschema@.restore_deleted(tbl pg_catalog.regclass, marked_at pg_catalog.timestamptz)
RETURNS pg_catalog.int8
AS 'MODULE_PATHNAME', 'dbcore_restore_deleted'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.restore_deleted(pg_catalog.regclass, pg_catalog.timestamptz) IS
  'For roles granted EXECUTE: brings back the rows of a soft-delete table marked at marked_at (one transaction''s deletes), and the rows of tables below it that ON DELETE CASCADE marked with them; returns the number of rows';

CREATE FUNCTION @extschema@.purge_deleted(tbl pg_catalog.regclass, older_than pg_catalog.interval)
RETURNS pg_catalog.int8
AS 'MODULE_PATHNAME', 'dbcore_purge_deleted'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.purge_deleted(pg_catalog.regclass, pg_catalog.interval) IS
  'For roles granted EXECUTE: deletes for good the rows of a soft-delete table marked longer than older_than ago; returns the number of rows';

REVOKE ALL ON FUNCTION @extschema@.restore_deleted(pg_catalog.regclass, pg_catalog.timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.purge_deleted(pg_catalog.regclass, pg_catalog.interval) FROM PUBLIC;

-- The other functions keep PostgreSQL's default ACL (EXECUTE for PUBLIC):
-- they check what they need themselves, or run as their caller.
