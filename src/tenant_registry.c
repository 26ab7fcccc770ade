/*-------------------------------------------------------------------------
 *
 * tenant_registry.c
 *		The registry of tenant-scoped tables, dbcore.tenant_tables, and
 *		every statement dbcore runs on it.
 *
 * The registry is writable only by the extension's owner.  The functions
 * here let a table's owner register it (once its scoping is in place), a
 * role with system-level authorization unregister it, and the guard rails
 * (guard_rails.c) read it and keep it current.  Each runs its statements as
 * the registry's owner with dbcore_become(): a security-restricted
 * operation, search_path pinned, every name qualified; the statements read
 * the registry and the system catalogs and write the registry, nothing
 * else, so nothing a user defined is ever evaluated with that identity
 * (doc/security.md).  Results are copied out into the caller's memory
 * context.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "common.h"
#include "tenant_registry.h"

#define REGISTRY_TABLE			"tenant_tables"

void
dbcore_registry_open(FunctionCallInfo fcinfo, DbcoreRegistry *reg)
{
	Oid			regrelid;
	HeapTuple	tuple;

	reg->nspoid = dbcore_schema_of(fcinfo);
	regrelid = get_relname_relid(REGISTRY_TABLE, reg->nspoid);
	if (!OidIsValid(regrelid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("dbcore's table of tenant-scoped tables does not exist"),
				 errhint("Update the extension: ALTER EXTENSION dbcore UPDATE.")));
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(regrelid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", regrelid);
	reg->owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	reg->nspname = quote_identifier(get_namespace_name(reg->nspoid));
}

/* ----------------------------------------------------------------
 * Reading
 * ----------------------------------------------------------------
 */

/* The client column of relid in the registry, or NULL (inside SPI). */
static char *
registry_lookup(const DbcoreRegistry *reg, Oid relid)
{
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1];

	values[0] = ObjectIdGetDatum(relid);
	/* not read-only: see what this command did just before */
	dbcore_check_spi(SPI_execute_with_args(psprintf("SELECT r.column_name::pg_catalog.text FROM %s.%s r"
											 " WHERE r.tbl OPERATOR(pg_catalog.=) $1",
											 reg->nspname, REGISTRY_TABLE),
									1, argtypes, values, NULL, false, 1),
			  SPI_OK_SELECT);
	if (SPI_processed == 0)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

char *
dbcore_registry_column(const DbcoreRegistry *reg, Oid relid)
{
	MemoryContext cxt = CurrentMemoryContext;
	DbcoreIdentity saved;
	char	   *col;
	char	   *result = NULL;

	if (!OidIsValid(relid))
		return NULL;
	dbcore_spi_enter_as(reg->owner, &saved);
	col = registry_lookup(reg, relid);
	if (col != NULL)
		result = MemoryContextStrdup(cxt, col);
	dbcore_spi_leave(&saved);
	return result;
}

/* The nearest registered partitioned table above relid, or InvalidOid. */
static Oid
registry_root(const DbcoreRegistry *reg, Oid relid)
{
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1];
	bool		isnull;

	values[0] = ObjectIdGetDatum(relid);
	dbcore_check_spi(SPI_execute_with_args(psprintf("SELECT a.relid::pg_catalog.oid"
													"  FROM pg_catalog.pg_partition_ancestors($1) WITH ORDINALITY AS a(relid, n)"
													"  JOIN %s.%s x ON x.tbl OPERATOR(pg_catalog.=) a.relid"
													" WHERE a.relid OPERATOR(pg_catalog.<>) $1"
													" ORDER BY a.n LIMIT 1",
													reg->nspname, REGISTRY_TABLE),
										   1, argtypes, values, NULL, false, 1),
					 SPI_OK_SELECT);
	if (SPI_processed == 0)
		return InvalidOid;
	return DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Tables the end of a DDL command must scope.  With detached: partitions
 * in the registry that left their scoped partitioned table, outermost
 * first; otherwise partitions under a scoped partitioned table that are not
 * registered yet.  The trees are walked through pg_inherits, which takes no
 * locks: this runs after every DDL command, and pg_partition_tree() would
 * lock every partition of every scoped table, deadlocking concurrent DDL on
 * two partitions of one table.
 */
List *
dbcore_registry_pending(const DbcoreRegistry *reg, bool detached)
{
	MemoryContext cxt = CurrentMemoryContext;
	DbcoreIdentity saved;
	const char *sql;
	List	   *result = NIL;
	uint64		i;

	if (detached)
		sql = "SELECT s.tbl::pg_catalog.oid, s.column_name::pg_catalog.text, NULL::pg_catalog.oid"
			"  FROM %1$s.tenant_tables s"
			"  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) s.tbl::pg_catalog.oid"
			" WHERE s.root IS NOT NULL"
			"   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_partition_ancestors(s.tbl) a"
			"                    WHERE a.relid OPERATOR(pg_catalog.=) s.root)"
			" ORDER BY (SELECT pg_catalog.count(*) FROM pg_catalog.pg_partition_ancestors(s.tbl)), s.tbl";
	else
		sql = "WITH RECURSIVE tree AS ("
			"    SELECT i.inhrelid AS relid, 1 AS level, s.tbl::pg_catalog.oid AS root, s.column_name"
			"      FROM %1$s.tenant_tables s"
			"      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) s.tbl::pg_catalog.oid"
			"                                AND c.relkind OPERATOR(pg_catalog.=) 'p'"
			"      JOIN pg_catalog.pg_inherits i ON i.inhparent OPERATOR(pg_catalog.=) s.tbl::pg_catalog.oid"
			"    UNION ALL"
			"    SELECT i.inhrelid, t.level OPERATOR(pg_catalog.+) 1, t.root, t.column_name"
			"      FROM tree t"
			"      JOIN pg_catalog.pg_inherits i ON i.inhparent OPERATOR(pg_catalog.=) t.relid"
			")"
			" SELECT DISTINCT ON (t.level, t.relid) t.relid, t.column_name::pg_catalog.text, t.root"
			"   FROM tree t"
			"  WHERE NOT EXISTS (SELECT 1 FROM %1$s.tenant_tables x"
			"                     WHERE x.tbl::pg_catalog.oid OPERATOR(pg_catalog.=) t.relid)"
			"  ORDER BY t.level, t.relid, t.root";

	dbcore_spi_enter_as(reg->owner, &saved);
	dbcore_check_spi(SPI_execute(psprintf(sql, reg->nspname), false, 0), SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext old = MemoryContextSwitchTo(cxt);
		DbcorePendingScope *p = (DbcorePendingScope *) palloc0(sizeof(DbcorePendingScope));
		bool		isnull;
		Datum		root;

		p->relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		p->colname = pstrdup(SPI_getvalue(tup, desc, 2));
		root = SPI_getbinval(tup, desc, 3, &isnull);
		p->root = isnull ? InvalidOid : DatumGetObjectId(root);
		p->detached = detached;
		result = lappend(result, p);
		MemoryContextSwitchTo(old);
	}
	dbcore_spi_leave(&saved);
	return result;
}

/*
 * The problems of all scoped tables (dbcore.tenant_scoping_problems()), as
 * "relid/check name" keys, in cxt; with details, also (table, detail)
 * pairs.  The query reads the registry and the catalogs, and deparses
 * dbcore's policy expressions with pg_get_expr(), which evaluates nothing.
 */
List *
dbcore_registry_problems(const DbcoreRegistry *reg, MemoryContext cxt,
						 List **details)
{
	return dbcore_problem_keys(reg->owner,
							   psprintf("SELECT p.tbl::pg_catalog.oid, p.check_name, p.tbl::pg_catalog.text, p.detail"
										" FROM %s.tenant_scoping_problems() p", reg->nspname),
							   "", cxt, details);
}

/* ----------------------------------------------------------------
 * Writing
 * ----------------------------------------------------------------
 */

/*
 * Record relid, scoped by column colname, below root (InvalidOid: none;
 * with find_root, the nearest registered partitioned table above it), once
 * its scoping is complete.  (Not read-only, so that it sees what the caller
 * did just before, with a new snapshot.)
 */
static void
registry_add(const DbcoreRegistry *reg, Oid relid, const char *colname, Oid root,
			 bool find_root)
{
	Oid			argtypes[3] = {REGCLASSOID, NAMEOID, REGCLASSOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	NameData	colnamedata;

	if (find_root)
		root = registry_root(reg, relid);
	namestrcpy(&colnamedata, colname);
	values[0] = ObjectIdGetDatum(relid);
	values[1] = NameGetDatum(&colnamedata);
	values[2] = ObjectIdGetDatum(root);
	if (!OidIsValid(root))
		nulls[2] = 'n';

	/* A table is scoped by one column; changing it means disabling first. */
	{
		char	   *registered = registry_lookup(reg, relid);

		if (registered != NULL && strcmp(registered, colname) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table \"%s\" is already tenant-scoped by column \"%s\"",
							dbcore_rel_name(relid), registered),
					 errhint("Call dbcore.disable_tenant_scoping() first, as a superuser or a role with BYPASSRLS.")));
	}

	/* The scoping must be complete. */
	dbcore_check_spi(SPI_execute_with_args(psprintf("SELECT p.detail FROM %s.tenant_check_tables(ARRAY[$1], ARRAY[$2]) p",
													reg->nspname),
										   2, argtypes, values, nulls, false, 1),
					 SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tenant scoping of table \"%s\" is incomplete", dbcore_rel_name(relid)),
				 errdetail("Found: %s.", SPI_getvalue(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1)),
				 errhint("Call dbcore.enable_tenant_scoping() on the table.")));

	dbcore_check_spi(SPI_execute_with_args(psprintf("INSERT INTO %s.%s AS r (tbl, column_name, root) VALUES ($1, $2, $3)"
													" ON CONFLICT (tbl) DO UPDATE SET root = EXCLUDED.root",
													reg->nspname, REGISTRY_TABLE),
										   3, argtypes, values, nulls, false, 0),
					 SPI_OK_INSERT);
}

void
dbcore_registry_add(const DbcoreRegistry *reg, const DbcorePendingScope *p)
{
	DbcoreIdentity saved;

	dbcore_spi_enter_as(reg->owner, &saved);
	registry_add(reg, p->relid, p->colname, p->root, p->detached);
	dbcore_spi_leave(&saved);
}

/* Forget the tables a DROP removed (pg_event_trigger_dropped_objects()). */
void
dbcore_registry_forget_dropped(const DbcoreRegistry *reg)
{
	DbcoreIdentity saved;

	dbcore_spi_enter_as(reg->owner, &saved);
	dbcore_check_spi(SPI_execute(psprintf("DELETE FROM %s.%s r USING pg_catalog.pg_event_trigger_dropped_objects() d"
										  " WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
										  " AND d.objsubid OPERATOR(pg_catalog.=) 0"
										  " AND r.tbl::pg_catalog.oid OPERATOR(pg_catalog.=) d.objid",
										  reg->nspname, REGISTRY_TABLE),
								 false, 0),
					 SPI_OK_DELETE);
	dbcore_spi_leave(&saved);
}

/* ----------------------------------------------------------------
 * SQL-callable
 * ----------------------------------------------------------------
 */

/* Does relid exist, and does the caller own it?  (false: not the owner) */
static bool
caller_owns_table(Oid relid)
{
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	return dbcore_owns_relation(relid, GetUserId());
}

/*
 * dbcore._tenant_register(tbl regclass, column_name name, root regclass)
 *
 * Records a table whose scoping is complete; called by
 * dbcore.enable_tenant_scoping().
 */
PG_FUNCTION_INFO_V1(dbcore_tenant_register);
Datum
dbcore_tenant_register(PG_FUNCTION_ARGS)
{
	DbcoreRegistry reg;
	DbcorePendingScope p = {0};

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table and column name must not be null")));
	p.relid = PG_GETARG_OID(0);
	p.colname = NameStr(*PG_GETARG_NAME(1));
	p.root = PG_ARGISNULL(2) ? InvalidOid : PG_GETARG_OID(2);

	if (!caller_owns_table(p.relid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table \"%s\" to register it for tenant scoping",
						get_rel_name(p.relid))));

	dbcore_registry_open(fcinfo, &reg);
	dbcore_registry_add(&reg, &p);
	PG_RETURN_VOID();
}

/*
 * dbcore._tenant_unregister(tbl regclass) RETURNS boolean
 *
 * Forgets a table; called by dbcore.disable_tenant_scoping().  Requires
 * ownership and system-level authorization: otherwise an owner could lift
 * the guard rails.
 */
PG_FUNCTION_INFO_V1(dbcore_tenant_unregister);
Datum
dbcore_tenant_unregister(PG_FUNCTION_ARGS)
{
	Oid			relid;
	DbcoreRegistry reg;
	DbcoreIdentity saved;
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1];
	bool		removed;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table must not be null")));
	relid = PG_GETARG_OID(0);
	values[0] = ObjectIdGetDatum(relid);

	if (!caller_owns_table(relid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table \"%s\" to disable its tenant scoping",
						get_rel_name(relid))));
	if (!dbcore_has_system_authorization(GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to disable tenant scoping of table \"%s\"",
						get_rel_name(relid)),
				 errdetail("Lifting tenant scoping needs system-level authorization."),
				 errhint("Run it as a superuser or as a role with BYPASSRLS that owns the table.")));

	dbcore_registry_open(fcinfo, &reg);
	dbcore_spi_enter_as(reg.owner, &saved);
	dbcore_check_spi(SPI_execute_with_args(psprintf("DELETE FROM %s.%s r WHERE r.tbl OPERATOR(pg_catalog.=) $1",
													reg.nspname, REGISTRY_TABLE),
										   1, argtypes, values, NULL, false, 0),
					 SPI_OK_DELETE);
	removed = (SPI_processed > 0);
	dbcore_spi_leave(&saved);
	PG_RETURN_BOOL(removed);
}
