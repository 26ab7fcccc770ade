/* dbcore 0.2 -> 0.3: migration bookkeeping (the ledger, its functions, health). */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION dbcore UPDATE TO '0.3'" to load this file. \quit

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
