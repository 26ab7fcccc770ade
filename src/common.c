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
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
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

const char *
dbcore_rel_name(Oid relid)
{
	char	   *name = get_rel_name(relid);

	return name ? name : psprintf("%u", relid);
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

/* ----------------------------------------------------------------
 * Per-trigger state
 * ----------------------------------------------------------------
 */

/* Every cache in use; one relcache callback serves them all. */
#define MAX_TRIGGER_CACHES 4
static DbcoreTriggerCache *trigger_caches[MAX_TRIGGER_CACHES];
static int	n_trigger_caches = 0;

/*
 * Relcache invalidation: mark the states of the changed table stale, or all
 * of them when the whole relcache is being flushed.
 */
static void
trigger_cache_relcache_callback(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < n_trigger_caches; i++)
	{
		HASH_SEQ_STATUS status;
		DbcoreTriggerState *state;

		hash_seq_init(&status, trigger_caches[i]->states);
		while ((state = (DbcoreTriggerState *) hash_seq_search(&status)) != NULL)
		{
			if (relid == InvalidOid || state->relid == relid)
				state->valid = false;
		}
	}
}

DbcoreTriggerState *
dbcore_trigger_state(DbcoreTriggerCache *cache, Oid tgoid)
{
	DbcoreTriggerState *state;
	bool		found;

	if (cache->states == NULL)
	{
		HASHCTL		ctl;

		if (n_trigger_caches >= MAX_TRIGGER_CACHES)
			elog(ERROR, "too many dbcore trigger caches");
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = cache->entrysize;
		ctl.hcxt = TopMemoryContext;
		cache->states = hash_create(cache->name, 32, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		if (n_trigger_caches == 0)
			CacheRegisterRelcacheCallback(trigger_cache_relcache_callback, (Datum) 0);
		trigger_caches[n_trigger_caches++] = cache;
	}
	state = (DbcoreTriggerState *) hash_search(cache->states, &tgoid,
											   HASH_ENTER, &found);
	if (!found)
		state->valid = false;
	return state;
}

/* ----------------------------------------------------------------
 * Running as another role
 * ----------------------------------------------------------------
 */

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
