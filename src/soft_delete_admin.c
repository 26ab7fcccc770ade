/*-------------------------------------------------------------------------
 *
 * soft_delete_admin.c
 *		Maintenance of soft-deleted rows: dbcore.restore_deleted(),
 *		dbcore.purge_deleted(), and keeping soft delete whole on partitions
 *		created, attached or detached later (called by the guard rails).
 *
 * restore_deleted() and purge_deleted() run their SQL as the caller (who
 * needs UPDATE or DELETE on the tables, and is limited by their row level
 * security as for any statement), with search_path pinned and every name
 * qualified, while marked rows are shown (and, for a purge, DELETEs remove
 * rows for good: soft_delete.c).  EXECUTE on them is granted by the DBA, as
 * on dbcore.show_deleted().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "common.h"
#include "soft_delete.h"

/* Connect to SPI with search_path pinned; returns the GUC nest level. */
static int
admin_enter(void)
{
	int			nestlevel;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	nestlevel = dbcore_pin_search_path();
	return nestlevel;
}

static void
admin_leave(int nestlevel)
{
	dbcore_unpin_search_path(nestlevel);
	SPI_finish();
}

static char *
table_sql_name(Relation rel)
{
	return psprintf("%s%s",
					rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ",
					quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
											   RelationGetRelationName(rel)));
}

/* Open a soft-delete table for a maintenance function; its column in *col. */
static Relation
open_soft_delete_table(Oid relid, Oid soft_delete_fn, char **col)
{
	Relation	rel = try_relation_open(relid, AccessShareLock);

	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	*col = dbcore_soft_delete_column(rel, soft_delete_fn);
	if (*col == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" has no soft delete", RelationGetRelationName(rel)),
				 errhint("Enable it with dbcore.enable_soft_delete().")));
	return rel;
}

static void
require_args(FunctionCallInfo fcinfo, const char *funcname)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments of %s must not be null", funcname)));
}

/* ----------------------------------------------------------------
 * restore_deleted
 * ----------------------------------------------------------------
 */

/* "p.a OPERATOR(s.=) r.x AND ..." for a foreign key of r referencing p */
static char *
fk_join_condition(ForeignKeyCacheInfo *fk)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < fk->nkeys; i++)
	{
		HeapTuple	tuple = SearchSysCache1(OPEROID, ObjectIdGetDatum(fk->conpfeqop[i]));

		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "cache lookup failed for operator %u", fk->conpfeqop[i]);
		appendStringInfo(&buf, "%sp.%s OPERATOR(%s.%s) r.%s", i > 0 ? " AND " : "",
						 quote_identifier(get_attname(fk->confrelid, fk->confkey[i], false)),
						 quote_identifier(get_namespace_name(((Form_pg_operator) GETSTRUCT(tuple))->oprnamespace)),
						 NameStr(((Form_pg_operator) GETSTRUCT(tuple))->oprname),
						 quote_identifier(get_attname(fk->conrelid, fk->conkey[i], false)));
		ReleaseSysCache(tuple);
	}
	return buf.data;
}

/*
 * Restore the rows of relid marked at "at", then those of the soft-delete
 * tables that reference it ON DELETE CASCADE.  A restored row must not
 * reference a row that is still marked.  Returns the number of rows.
 */
static int64
restore_table(Oid relid, Datum at, Oid soft_delete_fn)
{
	char	   *col;
	Relation	rel = open_soft_delete_table(relid, soft_delete_fn, &col);
	StringInfoData sql;
	List	   *parents = NIL;
	ListCell   *lc;
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		values[1] = {at};
	int64		restored;
	bool		isnull;
	uint64		i;
	int			n;

	check_stack_depth();
	initStringInfo(&sql);
	appendStringInfo(&sql, "WITH r AS (UPDATE %s x SET %s = NULL WHERE x.%s OPERATOR(pg_catalog.=) $1 RETURNING x.*)"
					 " SELECT (SELECT pg_catalog.count(*) FROM r)",
					 table_sql_name(rel), quote_identifier(col), quote_identifier(col));

	/* Foreign keys of this table to soft-delete tables. */
	foreach(lc, RelationGetFKeyList(rel))
	{
		ForeignKeyCacheInfo *fk = (ForeignKeyCacheInfo *) lfirst(lc);
		Relation	parent = table_open(fk->confrelid, AccessShareLock);
		char	   *pcol = dbcore_soft_delete_column(parent, soft_delete_fn);

		if (pcol != NULL)
		{
			appendStringInfo(&sql, ", (SELECT pg_catalog.count(*) FROM r JOIN %s p ON %s WHERE p.%s IS NOT NULL)",
							 table_sql_name(parent), fk_join_condition(fk), quote_identifier(pcol));
			parents = lappend(parents, pstrdup(RelationGetRelationName(parent)));
		}
		table_close(parent, AccessShareLock);
	}

	dbcore_check_spi(SPI_execute_with_args(sql.data, 1, argtypes, values, NULL, false, 0),
					 SPI_OK_SELECT);
	restored = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	n = 2;
	foreach(lc, parents)
	{
		if (DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, n++, &isnull)) > 0)
			ereport(ERROR,
					(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
					 errmsg("cannot restore rows of table \"%s\": they reference deleted rows of table \"%s\"",
							RelationGetRelationName(rel), (char *) lfirst(lc)),
					 errhint("Restore the rows of table \"%s\" first.", (char *) lfirst(lc))));
	}
	table_close(rel, AccessShareLock);

	/* The rows that ON DELETE CASCADE marked with these. */
	if (restored > 0)
	{
		Oid			reltypes[1] = {OIDOID};
		Datum		relvalues[1] = {ObjectIdGetDatum(relid)};
		List	   *children = NIL;

		dbcore_check_spi(SPI_execute_with_args("SELECT DISTINCT c.conrelid FROM pg_catalog.pg_constraint c"
											   " WHERE c.contype OPERATOR(pg_catalog.=) 'f'"
											   "   AND c.confdeltype OPERATOR(pg_catalog.=) 'c'"
											   "   AND c.conparentid OPERATOR(pg_catalog.=) 0"
											   "   AND c.confrelid OPERATOR(pg_catalog.=) $1"
											   "   AND c.conrelid OPERATOR(pg_catalog.<>) $1",
											   1, reltypes, relvalues, NULL, false, 0),
						 SPI_OK_SELECT);
		for (i = 0; i < SPI_processed; i++)
		{
			children = lappend_oid(children,
								   DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																  SPI_tuptable->tupdesc, 1, &isnull)));
		}
		foreach(lc, children)
		{
			Relation	child = table_open(lfirst_oid(lc), AccessShareLock);
			bool		soft = dbcore_soft_delete_column(child, soft_delete_fn) != NULL;

			table_close(child, AccessShareLock);
			if (soft)
				restored += restore_table(lfirst_oid(lc), at, soft_delete_fn);
		}
	}
	return restored;
}

/*
 * dbcore.restore_deleted(tbl regclass, marked_at timestamptz) RETURNS bigint
 *
 * Undoes the soft deletes of one transaction (its rows carry its timestamp)
 * in tbl and, through ON DELETE CASCADE foreign keys, in the soft-delete
 * tables below it.
 */
PG_FUNCTION_INFO_V1(dbcore_restore_deleted);
Datum
dbcore_restore_deleted(PG_FUNCTION_ARGS)
{
	Oid			soft_delete_fn;
	int			nestlevel;
	volatile int64 restored = 0;

	require_args(fcinfo, "dbcore.restore_deleted()");
	soft_delete_fn = dbcore_function_oid(dbcore_schema_of(fcinfo), SOFT_DELETE_FUNCTION);
	nestlevel = admin_enter();
	dbcore_soft_delete_enter(false);
	PG_TRY();
	{
		restored = restore_table(PG_GETARG_OID(0), PG_GETARG_DATUM(1), soft_delete_fn);
	}
	PG_FINALLY();
	{
		dbcore_soft_delete_leave(false);
	}
	PG_END_TRY();
	admin_leave(nestlevel);
	PG_RETURN_INT64(restored);
}

/* ----------------------------------------------------------------
 * purge_deleted
 * ----------------------------------------------------------------
 */

/*
 * dbcore.purge_deleted(tbl regclass, older_than interval) RETURNS bigint
 *
 * Deletes for good the rows of tbl marked longer than older_than ago.
 * Foreign keys act as on any DELETE (ON DELETE CASCADE removes the
 * referencing rows for good, marked or not).
 */
PG_FUNCTION_INFO_V1(dbcore_purge_deleted);
Datum
dbcore_purge_deleted(PG_FUNCTION_ARGS)
{
	Oid			soft_delete_fn;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	Datum		cutoff;
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		values[1];
	char	   *col;
	Relation	rel;
	char	   *sql;
	int			nestlevel;
	volatile uint64 purged = 0;

	require_args(fcinfo, "dbcore.purge_deleted()");
	cutoff = DirectFunctionCall2(timestamptz_mi_interval, TimestampTzGetDatum(now),
								 PG_GETARG_DATUM(1));
	if (DatumGetTimestampTz(cutoff) > now)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must not be negative")));
	values[0] = cutoff;
	soft_delete_fn = dbcore_function_oid(dbcore_schema_of(fcinfo), SOFT_DELETE_FUNCTION);
	rel = open_soft_delete_table(PG_GETARG_OID(0), soft_delete_fn, &col);
	sql = psprintf("DELETE FROM %s x WHERE x.%s OPERATOR(pg_catalog.<) $1",
				   table_sql_name(rel), quote_identifier(col));
	table_close(rel, AccessShareLock);

	nestlevel = admin_enter();
	dbcore_soft_delete_enter(true);
	PG_TRY();
	{
		dbcore_check_spi(SPI_execute_with_args(sql, 1, argtypes, values, NULL, false, 0),
						 SPI_OK_DELETE);
		purged = SPI_processed;
	}
	PG_FINALLY();
	{
		dbcore_soft_delete_leave(true);
	}
	PG_END_TRY();
	admin_leave(nestlevel);
	PG_RETURN_INT64((int64) purged);
}

/* ----------------------------------------------------------------
 * Partitions created, attached or detached later
 * ----------------------------------------------------------------
 */

/* The column of a policy "col IS NULL OR ..." (NULL if it is not one). */
static char *
policy_column(Oid relid, Node *qual)
{
	BoolExpr   *or;
	NullTest   *test;

	if (qual == NULL || !IsA(qual, BoolExpr) ||
		((BoolExpr *) qual)->boolop != OR_EXPR)
		return NULL;
	or = (BoolExpr *) qual;
	test = (NullTest *) linitial(or->args);
	if (!IsA(test, NullTest) || test->nulltesttype != IS_NULL ||
		!IsA(test->arg, Var))
		return NULL;
	return get_attname(relid, ((Var *) test->arg)->varattno, true);
}

/* Has relid dbcore's policy?  With col, its column (or NULL). */
static bool
has_soft_delete_policy(Oid relid, char **col)
{
	Relation	pol = table_open(PolicyRelationId, AccessShareLock);
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found = false;

	*col = NULL;
	ScanKeyInit(&key[0], Anum_pg_policy_polrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	ScanKeyInit(&key[1], Anum_pg_policy_polname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum(SOFT_DELETE_POLICY));
	scan = systable_beginscan(pol, PolicyPolrelidPolnameIndexId, true, NULL, 2, key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		qual = heap_getattr(tuple, Anum_pg_policy_polqual,
										RelationGetDescr(pol), &isnull);

		found = true;
		if (!isnull)
			*col = policy_column(relid, stringToNode(TextDatumGetCString(qual)));
	}
	systable_endscan(scan);
	table_close(pol, AccessShareLock);
	return found;
}

/*
 * A partition with its parent's soft-delete trigger but without the
 * policies gets them; a table with the policies but without a trigger (a
 * detached partition) gets a trigger of its own.  Through
 * dbcore._soft_delete_one(), as the role running the DDL command.
 */
static void
repair_one(Oid relid, Oid soft_delete_fn, const char *nspname)
{
	Relation	rel = try_relation_open(relid, AccessShareLock);
	char	   *col;
	char	   *policy_col;
	bool		has_policy;
	bool		own_trigger = false;
	Oid			argtypes[3] = {REGCLASSOID, TEXTOID, BOOLOID};
	Datum		values[3];

	if (rel == NULL)
		return;
	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
	{
		table_close(rel, AccessShareLock);
		return;
	}
	col = dbcore_soft_delete_column(rel, soft_delete_fn);
	has_policy = has_soft_delete_policy(relid, &policy_col);
	if (col == NULL && has_policy && policy_col != NULL && !rel->rd_rel->relispartition)
	{
		col = policy_col;
		own_trigger = true;
	}
	else if (col == NULL || has_policy)
		col = NULL;
	table_close(rel, AccessShareLock);
	if (col == NULL)
		return;

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(col);
	values[2] = BoolGetDatum(own_trigger);
	dbcore_check_spi(SPI_execute_with_args(psprintf("SELECT %s._soft_delete_one($1, $2::pg_catalog.name, $3)",
													nspname),
										   3, argtypes, values, NULL, false, 0),
					 SPI_OK_SELECT);
}

void
dbcore_soft_delete_after_ddl(Node *parsetree, Oid nspoid)
{
	Oid			soft_delete_fn = dbcore_function_oid(nspoid, SOFT_DELETE_FUNCTION);
	List	   *targets = NIL;
	ListCell   *lc;
	const char *nspname;
	int			nestlevel;

	if (parsetree == NULL || !OidIsValid(soft_delete_fn))
		return;
	if (IsA(parsetree, CreateStmt) && ((CreateStmt *) parsetree)->partbound != NULL)
		targets = lappend_oid(targets, RangeVarGetRelid(((CreateStmt *) parsetree)->relation,
														NoLock, true));
	else if (IsA(parsetree, AlterTableStmt))
	{
		foreach(lc, ((AlterTableStmt *) parsetree)->cmds)
		{
			AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);
			Oid			part;

			if ((cmd->subtype != AT_AttachPartition &&
				 cmd->subtype != AT_DetachPartition &&
				 cmd->subtype != AT_DetachPartitionFinalize) ||
				cmd->def == NULL || !IsA(cmd->def, PartitionCmd))
				continue;
			part = RangeVarGetRelid(((PartitionCmd *) cmd->def)->name, NoLock, true);
			if (!OidIsValid(part))
				continue;
			/* an attached partitioned table brings its own partitions */
			targets = list_concat(targets, cmd->subtype == AT_AttachPartition ?
								  find_all_inheritors(part, NoLock, NULL) :
								  list_make1_oid(part));
		}
	}
	if (targets == NIL)
		return;

	nspname = quote_identifier(get_namespace_name(nspoid));
	nestlevel = admin_enter();
	foreach(lc, targets)
		if (OidIsValid(lfirst_oid(lc)))
			repair_one(lfirst_oid(lc), soft_delete_fn, nspname);
	admin_leave(nestlevel);
}
