/* dbcore 0.3 -> 1.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION dbcore UPDATE TO '1.0'" to load this file. \quit

-- 1.0 is the hardened release of 0.3: fuzzing, memory-safety, crash,
-- dump/restore, pooler and client tests, and Debian/PGXN packaging.  It
-- changes no SQL object but the schema comment; the shared library is the
-- same for both versions.
COMMENT ON SCHEMA @extschema@ IS
  'dbcore 1.0: updated_at triggers, tenant scoping and migration bookkeeping';
