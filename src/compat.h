/*-------------------------------------------------------------------------
 *
 * compat.h
 *		The differences between the PostgreSQL majors dbcore builds against,
 *		in one place.  Code elsewhere calls the names defined here; an
 *		#if PG_VERSION_NUM appears only where an API differs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBCORE_COMPAT_H
#define DBCORE_COMPAT_H

#include "access/genam.h"
#include "access/tupdesc.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "executor/executor.h"
#include "nodes/parsenodes.h"
#if PG_VERSION_NUM >= 160000
#include "parser/parse_relation.h"
#endif
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/rel.h"
#include "utils/relcache.h"

/* pg_class_ownercheck() and pg_proc_aclcheck() became generic in 16. */
#if PG_VERSION_NUM >= 160000
#define dbcore_compat_class_ownercheck(relid, roleid) \
	object_ownercheck(RelationRelationId, (relid), (roleid))
#define dbcore_compat_proc_aclcheck(funcid, roleid, mode) \
	object_aclcheck(ProcedureRelationId, (funcid), (roleid), (mode))
#define dbcore_compat_namespace_aclcheck(nspoid, roleid, mode) \
	object_aclcheck(NamespaceRelationId, (nspoid), (roleid), (mode))
#else
#define dbcore_compat_class_ownercheck(relid, roleid) \
	pg_class_ownercheck((relid), (roleid))
#define dbcore_compat_proc_aclcheck(funcid, roleid, mode) \
	pg_proc_aclcheck((funcid), (roleid), (mode))
#define dbcore_compat_namespace_aclcheck(nspoid, roleid, mode) \
	pg_namespace_aclcheck((nspoid), (roleid), (mode))
#endif

/*
 * The cached byte offset of column i (0-based) in a tuple of tupdesc, or -1:
 * since 18 it lives in the compact attributes, not in pg_attribute.
 */
#if PG_VERSION_NUM >= 180000
#define dbcore_compat_attcacheoff(tupdesc, i) \
	(TupleDescCompactAttr((tupdesc), (i))->attcacheoff)
#else
#define dbcore_compat_attcacheoff(tupdesc, i) \
	(TupleDescAttr((tupdesc), (i))->attcacheoff)
#endif

/*
 * Before 17, an init-plan's name (SubPlan.plan_name) lists the parameters it
 * sets, "InitPlan 1 (returns $0,$1)", and EXPLAIN prints it as is; since 17
 * it is "InitPlan 1", and EXPLAIN names the parameters "(InitPlan 1).colN".
 */
#define DBCORE_INITPLAN_NAME_LISTS_PARAMS (PG_VERSION_NUM < 170000)

/*
 * DDL forms of newer majors that the guard rails judge (ddl_risks.c):
 * ALTER COLUMN ... SET EXPRESSION since 17, ALTER CONSTRAINT ... ENFORCED
 * since 18.
 */
#define DBCORE_HAS_AT_SET_EXPRESSION (PG_VERSION_NUM >= 170000)
#define DBCORE_HAS_CONSTRAINT_ENFORCEABILITY (PG_VERSION_NUM >= 180000)

/*
 * A setting's "extra" data: since 16 PostgreSQL allocates and frees it in
 * its own memory context (guc_malloc, guc_free); before, with malloc/free.
 * Freeing one kind with the other corrupts memory.
 */
#if PG_VERSION_NUM >= 160000
#define dbcore_guc_malloc(size)	guc_malloc(LOG, (size))
#define dbcore_guc_free(ptr)	guc_free(ptr)
#else
#define dbcore_guc_malloc(size)	malloc(size)
#define dbcore_guc_free(ptr)	free(ptr)
#endif

/*
 * A setting's entry in PostgreSQL's table of settings (for its stack of
 * values set in the current transaction): since 16 the settings live in a
 * hash table and find_option() is exported; before, the array is searched.
 */
static inline struct config_generic *
dbcore_compat_find_option(const char *name)
{
#if PG_VERSION_NUM >= 160000
	return find_option(name, false, true, ERROR);
#else
	struct config_generic **vars = get_guc_variables();
	int			nvars = GetNumConfigOptions();
	int			i;

	for (i = 0; i < nvars; i++)
		if (strcmp(vars[i]->name, name) == 0)
			return vars[i];
	return NULL;
#endif
}

/*
 * The schema of an extension: get_extension_schema() is exported since 16;
 * before, pg_extension is read.
 */
#if PG_VERSION_NUM >= 160000
#include "commands/extension.h"
#define dbcore_compat_extension_schema(extoid) get_extension_schema(extoid)
#else
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "utils/fmgroids.h"

static inline Oid
dbcore_compat_extension_schema(Oid extoid)
{
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			nspoid = InvalidOid;

	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		nspoid = ((Form_pg_extension) GETSTRUCT(tuple))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return nspoid;
}
#endif

/*
 * A table's primary key index (InvalidOid: none).  Since 18 the caller says
 * whether a deferrable one will do; dbcore only reads its columns, so it
 * will.  (Before 18 a deferrable primary key is not reported.)
 */
#if PG_VERSION_NUM >= 180000
#define dbcore_compat_primary_key_index(rel) RelationGetPrimaryKeyIndex((rel), true)
#else
#define dbcore_compat_primary_key_index(rel) RelationGetPrimaryKeyIndex(rel)
#endif

/*
 * Since 17 an index AM may keep state between index_insert() calls of one
 * IndexInfo (BRIN keeps its revmap pinned), released by
 * index_insert_cleanup(); before, there is nothing to release.
 */
#if PG_VERSION_NUM >= 170000
#define dbcore_compat_index_insert_cleanup(index, ii) index_insert_cleanup((index), (ii))
#else
#define dbcore_compat_index_insert_cleanup(index, ii) ((void) 0)
#endif

/*
 * An executor state for one UPDATE of one relation outside of a plan (the
 * soft-delete mark): the one-entry range table, with the updated columns
 * that UPDATE OF triggers look at (in an RTEPermissionInfo since 16, in
 * the range table entry before; the pruning bitmap is new in 18), and the
 * EvalPlanQual state (its list of result relations is new in 16).
 */
#if PG_VERSION_NUM >= 160000
#define dbcore_compat_epq_init(epqstate, estate) \
	EvalPlanQualInit((epqstate), (estate), NULL, NIL, -1, NIL)
#else
#define dbcore_compat_epq_init(epqstate, estate) \
	EvalPlanQualInit((epqstate), (estate), NULL, NIL, -1)
#endif

static inline void
dbcore_compat_init_update_rangetable(EState *estate, RangeTblEntry *rte,
									 Bitmapset *updated_cols)
{
#if PG_VERSION_NUM >= 160000
	List	   *perminfos = NIL;
	RTEPermissionInfo *perminfo = addRTEPermissionInfo(&perminfos, rte);

	perminfo->requiredPerms = ACL_UPDATE;
	perminfo->updatedCols = updated_cols;
#if PG_VERSION_NUM >= 180000
	ExecInitRangeTable(estate, list_make1(rte), perminfos, bms_make_singleton(1));
#else
	ExecInitRangeTable(estate, list_make1(rte), perminfos);
#endif
#else
	rte->requiredPerms = ACL_UPDATE;
	rte->updatedCols = updated_cols;
	ExecInitRangeTable(estate, list_make1(rte));
#endif
}

#endif							/* DBCORE_COMPAT_H */
