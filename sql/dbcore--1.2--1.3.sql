/* dbcore 1.2 -> 1.3 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION dbcore UPDATE TO '1.3'" to load this file. \quit

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
