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

#include "access/parallel.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
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

#define DBCORE_CLIP_BYTES 64

const char *
dbcore_clip(const char *value)
{
	int			len = strlen(value);
	int			keep;

	if (len <= DBCORE_CLIP_BYTES)
		return value;
	keep = pg_mbcliplen(value, len, DBCORE_CLIP_BYTES);
	return psprintf("%.*s...", keep, value);
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

bool
dbcore_datum_same(Datum a, bool a_null, Datum b, bool b_null,
				  Form_pg_attribute attr)
{
	if (a_null || b_null)
		return a_null == b_null;

	/*
	 * An unchanged out-of-line value keeps its TOAST pointer in the new row;
	 * equal pointers mean equal values without fetching either.
	 */
	if (attr->attlen == -1 &&
		VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(a)) &&
		VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(b)) &&
		memcmp(DatumGetPointer(a), DatumGetPointer(b),
			   VARSIZE_EXTERNAL(DatumGetPointer(a))) == 0)
		return true;

	return datum_image_eq(a, b, attr->attbyval, attr->attlen);
}

Oid
dbcore_relation_owner(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/* ----------------------------------------------------------------
 * Transaction-scoped settings
 * ----------------------------------------------------------------
 */

const char *
dbcore_guc_source_words(GucSource source)
{
	switch (source)
	{
		case PGC_S_ENV_VAR:
		case PGC_S_FILE:
		case PGC_S_ARGV:
		case PGC_S_GLOBAL:
			return "in the server configuration";
		case PGC_S_DATABASE:
		case PGC_S_USER:
		case PGC_S_DATABASE_USER:
			return "as a role or database default";
		case PGC_S_CLIENT:
			return "in the connection's startup options";
		case PGC_S_TEST:
			return "as a role, database or function default";
		default:
			return "from this source";
	}
}

bool
dbcore_guc_check_session_source(const char *name, GucSource source,
								const char *detail, const char *hint)
{
	/*
	 * A parallel worker restores its leader's value, which the leader has
	 * already checked.
	 */
	if (InitializingParallelWorker || source == PGC_S_SESSION)
		return true;
	GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
	GUC_check_errmsg("%s cannot be set %s", name, dbcore_guc_source_words(source));
	GUC_check_errdetail("%s", detail);
	GUC_check_errhint("%s", hint);
	return false;
}

void
dbcore_guc_set_session(const char *name, const char *value)
{
	(void) set_config_option(name, value, PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SET, true, 0, false);
}

/* ----------------------------------------------------------------
 * Relcache invalidation
 * ----------------------------------------------------------------
 */

/*
 * PostgreSQL gives a backend ten relcache callbacks in all, shared by every
 * library it loads (Citus takes several): dbcore takes one, and calls its
 * own from it.
 */
#define MAX_DBCORE_RELCACHE_CALLBACKS 8
static struct
{
	RelcacheCallbackFunction func;
	Datum		arg;
}			relcache_callbacks[MAX_DBCORE_RELCACHE_CALLBACKS];
static int	n_relcache_callbacks = 0;

static void
relcache_dispatch(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < n_relcache_callbacks; i++)
		relcache_callbacks[i].func(relcache_callbacks[i].arg, relid);
}

void
dbcore_register_relcache_callback(RelcacheCallbackFunction func, Datum arg)
{
	if (n_relcache_callbacks >= MAX_DBCORE_RELCACHE_CALLBACKS)
		elog(ERROR, "too many dbcore relcache callbacks");
	if (n_relcache_callbacks == 0)
		CacheRegisterRelcacheCallback(relcache_dispatch, (Datum) 0);
	relcache_callbacks[n_relcache_callbacks].func = func;
	relcache_callbacks[n_relcache_callbacks].arg = arg;
	n_relcache_callbacks++;
}

/* ----------------------------------------------------------------
 * Per-trigger state
 * ----------------------------------------------------------------
 */

/* Every cache in use; one relcache callback serves them all. */
#define MAX_TRIGGER_CACHES 8
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
			dbcore_register_relcache_callback(trigger_cache_relcache_callback, (Datum) 0);
		trigger_caches[n_trigger_caches++] = cache;
	}
	state = (DbcoreTriggerState *) hash_search(cache->states, &tgoid,
											   HASH_ENTER, &found);
	if (!found)
	{
		/* zero everything after the key: callers' extra fields start empty */
		memset((char *) state + sizeof(Oid), 0, cache->entrysize - sizeof(Oid));
		state->valid = false;
	}
	return state;
}

/* ----------------------------------------------------------------
 * Running as another role
 * ----------------------------------------------------------------
 */

int
dbcore_pin_search_path(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

void
dbcore_unpin_search_path(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}

void
dbcore_become(Oid roleid, DbcoreIdentity *saved)
{
	GetUserIdAndSecContext(&saved->save_userid, &saved->save_sec_context);
	SetUserIdAndSecContext(roleid,
						   saved->save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	saved->save_nestlevel = dbcore_pin_search_path();
}

void
dbcore_unbecome(DbcoreIdentity *saved)
{
	dbcore_unpin_search_path(saved->save_nestlevel);
	SetUserIdAndSecContext(saved->save_userid, saved->save_sec_context);
}

void
dbcore_spi_enter_as(Oid roleid, DbcoreIdentity *saved)
{
	dbcore_become(roleid, saved);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

void
dbcore_spi_leave(DbcoreIdentity *saved)
{
	SPI_finish();
	dbcore_unbecome(saved);
}

void
dbcore_check_spi(int ret, int expected)
{
	if (ret != expected)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
}

List *
dbcore_problem_keys(Oid roleid, const char *query, const char *prefix,
					MemoryContext cxt, List **details)
{
	DbcoreIdentity saved;
	List	   *keys = NIL;
	uint64		i;

	dbcore_spi_enter_as(roleid, &saved);
	/* not read-only: see the current command's changes */
	dbcore_check_spi(SPI_execute(query, false, 0), SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext old = MemoryContextSwitchTo(cxt);

		keys = lappend(keys, psprintf("%s/%s%s", SPI_getvalue(tup, desc, 1), prefix,
									  SPI_getvalue(tup, desc, 2)));
		if (details)
			*details = lappend(*details,
							   list_make2(pstrdup(SPI_getvalue(tup, desc, 3)),
										  pstrdup(SPI_getvalue(tup, desc, 4))));
		MemoryContextSwitchTo(old);
	}
	dbcore_spi_leave(&saved);
	return keys;
}
