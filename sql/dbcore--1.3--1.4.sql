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
