/*-------------------------------------------------------------------------
 *
 * common.c
 *		The bottom layer: helpers that several of dbcore's files use.
 *
 * Nothing here calls into the rest of dbcore.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "common.h"
#include "compat.h"

/*
 * Find a column by name in a relation's own descriptor, as the row triggers
 * do once per trigger: partitions and inheritance children may order (and
 * drop) their columns differently from their parent.
 */
Form_pg_attribute
dbcore_find_column(TupleDesc tupdesc, const char *colname)
{
	int			i;

	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(tupdesc, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), colname) == 0)
			return a;
	}
	return NULL;
}

bool
dbcore_has_system_authorization(Oid roleid)
{
	return has_bypassrls_privilege(roleid);
}

bool
dbcore_owns_relation(Oid relid, Oid roleid)
{
	return dbcore_compat_class_ownercheck(relid, roleid);
}

Oid
dbcore_schema_of(FunctionCallInfo fcinfo)
{
	Oid			nspoid = get_func_namespace(fcinfo->flinfo->fn_oid);

	if (!OidIsValid(nspoid))
		elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
	return nspoid;
}

/*
 * By catalog lookup, not by name resolution: the caller may have no USAGE on
 * dbcore's schema, and no search_path can redirect the lookup.
 */
Oid
dbcore_function_oid(Oid nspoid, const char *name)
{
	oidvector  *noargs = buildoidvector(NULL, 0);

	return GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid,
						   CStringGetDatum(name),
						   PointerGetDatum(noargs),
						   ObjectIdGetDatum(nspoid));
}

void
dbcore_become(Oid roleid, DbcoreIdentity *saved)
{
	GetUserIdAndSecContext(&saved->save_userid, &saved->save_sec_context);
	SetUserIdAndSecContext(roleid,
						   saved->save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	saved->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

void
dbcore_unbecome(DbcoreIdentity *saved)
{
	AtEOXact_GUC(true, saved->save_nestlevel);
	SetUserIdAndSecContext(saved->save_userid, saved->save_sec_context);
}
