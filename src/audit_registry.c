/*-------------------------------------------------------------------------
 *
 * audit_registry.c
 *		The registry of audited tables, dbcore.audited_tables, and what the
 *		guard rails do for it.
 *
 * dbcore.enable_audit() (SQL, as the caller) creates the triggers, then
 * registers the table through dbcore._audit_register(): the caller must
 * own the table and its triggers must be complete.  Unregistering, through
 * dbcore._audit_unregister() from dbcore.disable_audit(), also needs
 * system-level authorization: an audit trail is not its table owner's to
 * lift.  The guard rails (guard_rails.c) keep an audited table's triggers
 * whole through DDL by roles without system-level authorization, refuse
 * them DETACH PARTITION of an audited table (the partition would leave the
 * audit) and forget dropped tables.
 *
 * The registry is written only here, as its owner (the extension's), with
 * fixed statements on dbcore's table and the catalogs, search_path pinned
 * (dbcore_spi_enter_as(), doc/security.md).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "audit.h"
#include "common.h"

#define AUDIT_PROBLEM_PREFIX	"audit "

/* The registry's owner, or InvalidOid when this version has no registry. */
static Oid
registry_owner(Oid nspoid)
{
	Oid			relid = get_relname_relid(AUDIT_REGISTRY_TABLE, nspoid);

	return OidIsValid(relid) ? dbcore_relation_owner(relid) : InvalidOid;
}

static void
require_table(FunctionCallInfo fcinfo, const char *action)
{
	Oid			relid;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table must not be null")));
	relid = PG_GETARG_OID(0);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (!dbcore_owns_relation(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table \"%s\" to %s", get_rel_name(relid), action)));
}

/*
 * dbcore._audit_register(tbl regclass, exclude_columns name[],
 *						  record_inserts boolean)
 */
PG_FUNCTION_INFO_V1(dbcore_audit_register);
Datum
dbcore_audit_register(PG_FUNCTION_ARGS)
{
	Oid			nspoid = dbcore_schema_of(fcinfo);
	const char *nspname = quote_identifier(get_namespace_name(nspoid));
	Oid			argtypes[3] = {REGCLASSOID, NAMEARRAYOID, BOOLOID};
	Datum		values[3];
	DbcoreIdentity saved;

	require_table(fcinfo, "audit it");
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("audit options must not be null")));
	values[0] = PG_GETARG_DATUM(0);
	values[1] = PG_GETARG_DATUM(1);
	values[2] = PG_GETARG_DATUM(2);

	dbcore_spi_enter_as(registry_owner(nspoid), &saved);
	/* An audited table keeps its options; changing them means disabling. */
	dbcore_check_spi(SPI_execute_with_args(psprintf("SELECT 1 FROM %s.%s r WHERE r.tbl OPERATOR(pg_catalog.=) $1"
													" AND (r.excluded_columns OPERATOR(pg_catalog.<>) $2"
													"      OR r.record_inserts OPERATOR(pg_catalog.<>) $3)",
													nspname, AUDIT_REGISTRY_TABLE),
										   3, argtypes, values, NULL, false, 1),
					 SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is already audited with other options",
						get_rel_name(DatumGetObjectId(values[0]))),
				 errhint("Call dbcore.disable_audit() first, as a superuser or a role with BYPASSRLS.")));

	/* The triggers must be in place. */
	dbcore_check_spi(SPI_execute_with_args(psprintf("SELECT p.detail FROM %s.audit_check_table($1, $2, $3) p",
													nspname),
										   3, argtypes, values, NULL, false, 1),
					 SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("audit trail of table \"%s\" is incomplete",
						get_rel_name(DatumGetObjectId(values[0]))),
				 errdetail("Found: %s.", SPI_getvalue(SPI_tuptable->vals[0],
													  SPI_tuptable->tupdesc, 1)),
				 errhint("Call dbcore.enable_audit() on the table.")));

	dbcore_check_spi(SPI_execute_with_args(psprintf("INSERT INTO %s.%s AS r (tbl, excluded_columns, record_inserts)"
													" VALUES ($1, $2, $3) ON CONFLICT (tbl) DO NOTHING",
													nspname, AUDIT_REGISTRY_TABLE),
										   3, argtypes, values, NULL, false, 0),
					 SPI_OK_INSERT);
	dbcore_spi_leave(&saved);
	PG_RETURN_VOID();
}

/* dbcore._audit_unregister(tbl regclass) RETURNS boolean */
PG_FUNCTION_INFO_V1(dbcore_audit_unregister);
Datum
dbcore_audit_unregister(PG_FUNCTION_ARGS)
{
	Oid			nspoid = dbcore_schema_of(fcinfo);
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1];
	DbcoreIdentity saved;
	bool		removed;

	require_table(fcinfo, "disable its audit trail");
	values[0] = PG_GETARG_DATUM(0);
	if (!dbcore_has_system_authorization(GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to disable the audit trail of table \"%s\"",
						get_rel_name(DatumGetObjectId(values[0]))),
				 errdetail("Lifting an audit trail needs system-level authorization."),
				 errhint("Run it as a superuser or as a role with BYPASSRLS that owns the table.")));

	dbcore_spi_enter_as(registry_owner(nspoid), &saved);
	dbcore_check_spi(SPI_execute_with_args(psprintf("DELETE FROM %s.%s r WHERE r.tbl OPERATOR(pg_catalog.=) $1",
													quote_identifier(get_namespace_name(nspoid)),
													AUDIT_REGISTRY_TABLE),
										   1, argtypes, values, NULL, false, 0),
					 SPI_OK_DELETE);
	removed = SPI_processed > 0;
	dbcore_spi_leave(&saved);
	PG_RETURN_BOOL(removed);
}

/* ----------------------------------------------------------------
 * Guard rails
 * ----------------------------------------------------------------
 */

List *
dbcore_audit_problems(const DbcoreRegistry *reg, MemoryContext cxt, List **details)
{
	Oid			owner = registry_owner(reg->nspoid);

	if (!OidIsValid(owner) || !OidIsValid(dbcore_function_oid(reg->nspoid, "audit_problems")))
		return NIL;
	return dbcore_problem_keys(owner,
							   psprintf("SELECT p.tbl::pg_catalog.oid, p.check_name, p.tbl::pg_catalog.text, p.detail"
										" FROM %s.audit_problems() p", reg->nspname),
							   AUDIT_PROBLEM_PREFIX, cxt, details);
}

bool
dbcore_audit_problem_key(const char *key)
{
	return strstr(key, "/" AUDIT_PROBLEM_PREFIX) != NULL;
}

/* Is relid, or a partitioned table above it, audited? */
static bool
audited_or_below(const DbcoreRegistry *reg, Oid owner, Oid relid)
{
	List	   *rels = lappend_oid(get_partition_ancestors(relid), relid);
	Datum	   *elems = (Datum *) palloc(sizeof(Datum) * list_length(rels));
	Oid			argtypes[1] = {OIDARRAYOID};
	Datum		values[1];
	DbcoreIdentity saved;
	ListCell   *lc;
	int			n = 0;
	bool		found;

	foreach(lc, rels)
		elems[n++] = ObjectIdGetDatum(lfirst_oid(lc));
	values[0] = PointerGetDatum(construct_array(elems, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
	dbcore_spi_enter_as(owner, &saved);
	dbcore_check_spi(SPI_execute_with_args(psprintf("SELECT 1 FROM %s.%s r"
													" WHERE r.tbl::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($1)",
													reg->nspname, AUDIT_REGISTRY_TABLE),
										   1, argtypes, values, NULL, true, 1),
					 SPI_OK_SELECT);
	found = SPI_processed > 0;
	dbcore_spi_leave(&saved);
	return found;
}

void
dbcore_audit_refuse_ddl(Node *parsetree, const DbcoreRegistry *reg)
{
	Oid			owner;
	ListCell   *lc;
	Oid			parent;

	if (parsetree == NULL || !IsA(parsetree, AlterTableStmt))
		return;
	owner = registry_owner(reg->nspoid);
	if (!OidIsValid(owner))
		return;
	foreach(lc, ((AlterTableStmt *) parsetree)->cmds)
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);

		if (cmd->subtype != AT_DetachPartition)
			continue;
		/* with the caller's search_path, as the command itself will */
		parent = RangeVarGetRelid(((AlterTableStmt *) parsetree)->relation, NoLock, true);
		if (OidIsValid(parent) && audited_or_below(reg, owner, parent))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to detach a partition from audited table \"%s\"",
							dbcore_rel_name(parent)),
					 errdetail("Its rows would leave the audit trail."),
					 errhint("Run it as a superuser or a role with BYPASSRLS.")));
	}
}

void
dbcore_audit_forget_dropped(const DbcoreRegistry *reg)
{
	Oid			owner = registry_owner(reg->nspoid);
	DbcoreIdentity saved;

	if (!OidIsValid(owner))
		return;
	dbcore_spi_enter_as(owner, &saved);
	dbcore_check_spi(SPI_execute(psprintf("DELETE FROM %s.%s r USING pg_catalog.pg_event_trigger_dropped_objects() d"
										  " WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
										  " AND d.objsubid OPERATOR(pg_catalog.=) 0"
										  " AND r.tbl::pg_catalog.oid OPERATOR(pg_catalog.=) d.objid",
										  reg->nspname, AUDIT_REGISTRY_TABLE),
								 false, 0),
					 SPI_OK_DELETE);
	dbcore_spi_leave(&saved);
}
