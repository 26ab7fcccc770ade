/*-------------------------------------------------------------------------
 *
 * citus.c
 *		What dbcore does differently on a node of a Citus cluster.
 *
 * Citus keeps a distributed table's rows in shards, ordinary tables on the
 * worker nodes, and copies the table's policies and triggers to each shard
 * and to each worker's copy of the table.  Four things need dbcore's help
 * there; each is a no-op on a server without Citus:
 *
 *	- Citus copies every policy as PERMISSIVE, whatever it was on the
 *	  coordinator (its deparser leaves AS RESTRICTIVE out).  At the end of
 *	  each CREATE POLICY of dbcore_tenant_isolation that arrives permissive,
 *	  on any node, dbcore makes it restrictive again, in the catalog
 *	  (dbcore_citus_policy_created).
 *	- Citus forwards a setting to the workers only when it is set with the
 *	  SQL command SET LOCAL (in a transaction block) and only with
 *	  citus.propagate_set_commands = 'local'.  dbcore.set_client() and its
 *	  siblings set the client scope through SET LOCAL run by SPI, and SET
 *	  LOCAL dbcore.client_id itself runs with that setting in force
 *	  (client_scope.c and scope_forward.c decide when; this file runs the
 *	  commands).
 *	- The guard rails know the scoped tables by dbcore.tenant_tables, which
 *	  lists the coordinator's tables, not their shards.  A shard's owner
 *	  (the table's owner, often the application's role) could connect to
 *	  the node that holds it and switch its scoping off; for a relation that
 *	  carries dbcore's row guard and is not in the registry (a shard, or a
 *	  worker's copy of a scoped table), a role without system-level
 *	  authorization may not (dbcore_citus_refuse_shard_weakening), nor
 *	  TRUNCATE it (Citus keeps TRUNCATE triggers off shards).
 *	- Citus lets any role join another session's distributed transaction
 *	  (assign_distributed_transaction_id()), and with it read that
 *	  transaction's intermediate results: rows of another client.  Only
 *	  Citus's own connections and system roles may (citus_xact.c).
 *
 * Citus is recognised by its setting citus.propagate_set_commands, which
 * exists once Citus is loaded: Citus insists on coming first in
 * shared_preload_libraries, so it is there before dbcore's _PG_init().
 * Its catalogs (pg_dist_partition, pg_dist_shard, pg_dist_local_group) are
 * read directly, with a fresh snapshot: they are plain tables in pg_catalog,
 * which Citus changes within the transaction (create_reference_table(),
 * say) without the invalidations that would renew a catalog snapshot.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_policy.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "tcop/dest.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "citus.h"
#include "common.h"
#include "compat.h"

#define CITUS_PROPAGATE_GUC		"citus.propagate_set_commands"
#define CITUS_LOCAL_FAST_PATH_GUC "citus.enable_local_fast_path_query_optimization"
#define ISOLATION_POLICY		"dbcore_tenant_isolation"
#define ACCESS_POLICY			"dbcore_tenant_access"

static bool citus_loaded = false;

void
dbcore_citus_init(void)
{
	citus_loaded = GetConfigOption(CITUS_PROPAGATE_GUC, true, false) != NULL;
}

bool
dbcore_citus_loaded(void)
{
	return citus_loaded;
}

bool
dbcore_citus_installed(void)
{
	return citus_loaded && OidIsValid(get_extension_oid("citus", true));
}

/* The OID of Citus catalog pg_catalog.name, or InvalidOid. */
static Oid
citus_catalog(const char *name)
{
	if (!dbcore_citus_installed())
		return InvalidOid;
	return get_relname_relid(name, PG_CATALOG_NAMESPACE);
}

/*
 * A scan of Citus catalog pg_dist_partition for relid's row (its first
 * column, logicalrelid), with the latest snapshot, by its unique index on
 * that column (the planner's routing asks once per plan): begin returns the
 * row or NULL; end closes the scan either way.
 */
typedef struct DistPartitionScan
{
	Relation	rel;
	SysScanDesc scan;
	Snapshot	snapshot;
} DistPartitionScan;

static HeapTuple
dist_partition_begin(Oid relid, DistPartitionScan *dps)
{
	Oid			catalog = citus_catalog("pg_dist_partition");
	Oid			index;
	ScanKeyData key;

	dps->rel = NULL;
	if (!OidIsValid(catalog))
		return NULL;
	index = get_relname_relid("pg_dist_partition_logical_relid_index", PG_CATALOG_NAMESPACE);
	dps->rel = table_open(catalog, AccessShareLock);
	dps->snapshot = RegisterSnapshot(GetLatestSnapshot());
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	dps->scan = systable_beginscan(dps->rel, index, OidIsValid(index), dps->snapshot, 1, &key);
	return systable_getnext(dps->scan);
}

static void
dist_partition_end(DistPartitionScan *dps)
{
	if (dps->rel == NULL)
		return;
	systable_endscan(dps->scan);
	UnregisterSnapshot(dps->snapshot);
	table_close(dps->rel, AccessShareLock);
}

bool
dbcore_citus_has_shards(Oid relid)
{
	DistPartitionScan dps;
	bool		found = HeapTupleIsValid(dist_partition_begin(relid, &dps));

	dist_partition_end(&dps);
	return found;
}

/*
 * dbcore_citus_has_shards() per backend, for the planner's routing on the
 * workers: a few tables' answers, each kept until its relation's relcache
 * entry is invalidated (Citus invalidates it when it distributes or
 * undistributes the table; a stale answer would only cost routing, never
 * change a result: see scope_route.c).
 */
#define SHARDED_CACHE_SIZE 16

typedef struct ShardedCacheEntry
{
	Oid			relid;			/* InvalidOid: free */
	bool		sharded;
} ShardedCacheEntry;

static ShardedCacheEntry sharded_cache[SHARDED_CACHE_SIZE];
static int	sharded_cache_next = 0;
static bool sharded_cache_callback = false;

static void
sharded_cache_invalidate(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < SHARDED_CACHE_SIZE; i++)
		if (!OidIsValid(relid) || sharded_cache[i].relid == relid)
			sharded_cache[i].relid = InvalidOid;
}

bool
dbcore_citus_has_shards_cached(Oid relid)
{
	ShardedCacheEntry *e;
	int			i;

	for (i = 0; i < SHARDED_CACHE_SIZE; i++)
		if (sharded_cache[i].relid == relid)
			return sharded_cache[i].sharded;
	if (!sharded_cache_callback)
	{
		dbcore_register_relcache_callback(sharded_cache_invalidate, (Datum) 0);
		sharded_cache_callback = true;
	}
	e = &sharded_cache[sharded_cache_next];
	sharded_cache_next = (sharded_cache_next + 1) % SHARDED_CACHE_SIZE;
	e->relid = InvalidOid;		/* until the answer is in */
	e->sharded = dbcore_citus_has_shards(relid);
	e->relid = relid;
	return e->sharded;
}

/*
 * The distribution column of a hash-distributed Citus table, or
 * InvalidAttrNumber (not in Citus's metadata, or distributed another way:
 * reference, single-shard, local tables).  pg_dist_partition: logicalrelid
 * (1), partmethod (2, 'h' for hash), partkey (3, the column as a Var node).
 */
AttrNumber
dbcore_citus_distribution_column(Oid relid)
{
	DistPartitionScan dps;
	HeapTuple	tuple = dist_partition_begin(relid, &dps);
	AttrNumber	result = InvalidAttrNumber;

	if (HeapTupleIsValid(tuple) && RelationGetDescr(dps.rel)->natts >= 3)
	{
		bool		method_null;
		bool		key_null;
		Datum		method = heap_getattr(tuple, 2, RelationGetDescr(dps.rel), &method_null);
		Datum		partkey = heap_getattr(tuple, 3, RelationGetDescr(dps.rel), &key_null);

		if (!method_null && !key_null && DatumGetChar(method) == 'h')
		{
			Node	   *column = stringToNode(TextDatumGetCString(partkey));

			if (column != NULL && IsA(column, Var))
				result = ((Var *) column)->varattno;
		}
	}
	dist_partition_end(&dps);
	return result;
}

/*
 * If relid is a shard of a Citus table (named <table>_<shard id>, with that
 * shard id in pg_dist_shard for that table), the table; else InvalidOid.
 */
static Oid
shard_table(Oid relid)
{
	Oid			catalog = citus_catalog("pg_dist_shard");
	char	   *relname;
	const char *suffix;
	char	   *end;
	int64		shardid;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	Snapshot	snapshot;
	HeapTuple	tuple;
	Oid			table = InvalidOid;

	if (!OidIsValid(catalog) || (relname = get_rel_name(relid)) == NULL)
		return InvalidOid;
	suffix = strrchr(relname, '_');
	if (suffix == NULL || suffix == relname || suffix[1] < '0' || suffix[1] > '9')
		return InvalidOid;
	errno = 0;
	shardid = strtoi64(suffix + 1, &end, 10);
	if (errno != 0 || *end != '\0')
		return InvalidOid;

	/* pg_dist_shard: logicalrelid (1), shardid (2) */
	rel = table_open(catalog, AccessShareLock);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	ScanKeyInit(&key, 2, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(shardid));
	scan = systable_beginscan(rel, InvalidOid, false, snapshot, 1, &key);
	while (!OidIsValid(table) && HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		logical = heap_getattr(tuple, 1, RelationGetDescr(rel), &isnull);
		char	   *logical_name;

		if (isnull)
			continue;
		logical_name = get_rel_name(DatumGetObjectId(logical));
		if (logical_name != NULL &&
			strlen(logical_name) == (size_t) (suffix - relname) &&
			strncmp(logical_name, relname, suffix - relname) == 0 &&
			get_rel_namespace(DatumGetObjectId(logical)) == get_rel_namespace(relid))
			table = DatumGetObjectId(logical);
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	return table;
}

bool
dbcore_citus_is_shard(Oid relid)
{
	return OidIsValid(shard_table(relid));
}

/*
 * The audit trail and soft delete are for the tables of one node: on a
 * shard (or a Citus table's shell) their triggers would write and check only
 * that node.  Their triggers fail closed there, when they first fire.
 */
void
dbcore_citus_refuse_trigger(Relation rel, const char *feature)
{
	Oid			relid = RelationGetRelid(rel);

	if (!citus_loaded)
		return;
	if (dbcore_citus_has_shards(relid) || dbcore_citus_is_shard(relid))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s is not supported on Citus tables", feature),
				 errdetail("Table \"%s\" is a Citus table or one of its shards; the audit trail and soft delete work on the tables of one node only.",
						   RelationGetRelationName(rel)),
				 errhint("Call dbcore.disable_audit() or dbcore.disable_soft_delete() on the distributed table, with citus.enable_unsafe_triggers on, or undistribute it.")));
}

bool
dbcore_citus_appname(const char *appname)
{
	return appname != NULL &&
		strncmp(appname, DBCORE_CITUS_INTERNAL_APPNAME, strlen(DBCORE_CITUS_INTERNAL_APPNAME)) == 0;
}

bool
dbcore_citus_internal_connection(void)
{
	/* the setting's variable: no lookup by name, on every statement */
	return citus_loaded && dbcore_citus_appname(application_name);
}

bool
dbcore_citus_is_worker(void)
{
	Oid			catalog = citus_catalog("pg_dist_local_group");
	Relation	rel;
	SysScanDesc scan;
	Snapshot	snapshot;
	HeapTuple	tuple;
	bool		worker = false;

	if (!OidIsValid(catalog))
		return false;
	/* one row: the node's group id, 0 on the coordinator */
	rel = table_open(catalog, AccessShareLock);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		groupid = heap_getattr(tuple, 1, RelationGetDescr(rel), &isnull);

		worker = !isnull && DatumGetInt32(groupid) != 0;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	return worker;
}

/* ----------------------------------------------------------------
 * Settings the workers must see
 * ----------------------------------------------------------------
 */

/*
 * A Citus setting changed until the returned GUC nesting level is popped
 * (on success, with AtEOXact_GUC(true, level); an error pops it too).
 */
static int
push_citus_setting(const char *name, const char *value)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option(name, value, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

int
dbcore_citus_forward_sets_begin(void)
{
	return push_citus_setting(CITUS_PROPAGATE_GUC, "local");
}

/*
 * Back to the caller's citus.propagate_set_commands.  (A SET LOCAL made in
 * between stays: popping a nesting level on success keeps such values.)
 */
void
dbcore_citus_forward_sets_end(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}

/*
 * Planning with Citus's local fast-path optimization off, for the statements
 * that Citus 14.0.1 cannot plan with it on (scope_route.c).  Returns the GUC
 * nesting level to pass to dbcore_citus_plan_safely_end(), or -1 when the
 * setting does not exist (another Citus version) and nothing was changed.
 */
int
dbcore_citus_plan_safely_begin(void)
{
	if (GetConfigOption(CITUS_LOCAL_FAST_PATH_GUC, true, false) == NULL)
		return -1;
	return push_citus_setting(CITUS_LOCAL_FAST_PATH_GUC, "off");
}

/* Back to the caller's setting (an error on the way rolls it back too). */
void
dbcore_citus_plan_safely_end(int nestlevel)
{
	if (nestlevel >= 0)
		AtEOXact_GUC(true, nestlevel);
}

/*
 * The command goes through ProcessUtility(), and so through Citus's utility
 * hook, which forwards its text; built here rather than parsed (by SPI),
 * since set_client*() runs it in every transaction.
 */
void
dbcore_citus_set_local(const char *name, const char *value)
{
	VariableSetStmt *stmt = makeNode(VariableSetStmt);
	A_Const    *arg = makeNode(A_Const);
	PlannedStmt *pstmt = makeNode(PlannedStmt);
	char	   *sql = psprintf("SET LOCAL %s TO %s", name, quote_literal_cstr(value));
	QueryCompletion qc;

	arg->val.sval.type = T_String;
	arg->val.sval.sval = pstrdup(value);
	arg->isnull = false;
	arg->location = -1;
	stmt->kind = VAR_SET_VALUE;
	stmt->name = pstrdup(name);
	stmt->args = list_make1(arg);
	stmt->is_local = true;
	pstmt->commandType = CMD_UTILITY;
	pstmt->canSetTag = false;
	pstmt->utilityStmt = (Node *) stmt;
	pstmt->stmt_location = 0;
	pstmt->stmt_len = (int) strlen(sql);
	InitializeQueryCompletion(&qc);
	ProcessUtility(pstmt, sql, false, PROCESS_UTILITY_QUERY, NULL, NULL,
				   None_Receiver, &qc);
}

/* ----------------------------------------------------------------
 * Policies copied by Citus
 * ----------------------------------------------------------------
 */

void
dbcore_citus_policy_created(Node *parsetree)
{
	CreatePolicyStmt *stmt;
	Oid			relid;
	Relation	catalog;
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;

	if (!citus_loaded || parsetree == NULL || !IsA(parsetree, CreatePolicyStmt))
		return;
	stmt = (CreatePolicyStmt *) parsetree;
	if (!stmt->permissive || strcmp(stmt->policy_name, ISOLATION_POLICY) != 0)
		return;
	/* with the command's own search_path, as the command resolved it */
	relid = RangeVarGetRelid(stmt->table, NoLock, true);
	if (!OidIsValid(relid))
		return;


	catalog = table_open(PolicyRelationId, RowExclusiveLock);
	ScanKeyInit(&keys[0], Anum_pg_policy_polrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	ScanKeyInit(&keys[1], Anum_pg_policy_polname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum(stmt->policy_name));
	scan = systable_beginscan(catalog, PolicyPolrelidPolnameIndexId, true,
							  NULL, 2, keys);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple) && ((Form_pg_policy) GETSTRUCT(tuple))->polpermissive)
	{
		HeapTuple	copy = heap_copytuple(tuple);

		((Form_pg_policy) GETSTRUCT(copy))->polpermissive = false;
		CatalogTupleUpdate(catalog, &copy->t_self, copy);
		heap_freetuple(copy);
		/* the relation's cached policies are rebuilt from the catalog */
		CacheInvalidateRelcacheByRelid(relid);
	}
	systable_endscan(scan);
	table_close(catalog, RowExclusiveLock);
	CommandCounterIncrement();
}

/* ----------------------------------------------------------------
 * Shards and workers' copies of scoped tables
 * ----------------------------------------------------------------
 */

/*
 * If relid carries dbcore's row guard (dbcore.tenant_row_guard(column)),
 * its client column; else NULL.
 */
static char *
guarded_column(Oid relid, Oid nspoid)
{
	Oid			guard_fn = dbcore_function_oid(nspoid, "tenant_row_guard");
	Relation	rel;
	char	   *col = NULL;
	int			i;

	if (!OidIsValid(relid) || !OidIsValid(guard_fn) ||
		(get_rel_relkind(relid) != RELKIND_RELATION &&
		 get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE))
		return NULL;
	rel = table_open(relid, AccessShareLock);
	if (rel->trigdesc != NULL)
	{
		for (i = 0; i < rel->trigdesc->numtriggers; i++)
		{
			const Trigger *t = &rel->trigdesc->triggers[i];

			if (t->tgfoid == guard_fn && t->tgnargs == 1)
			{
				col = pstrdup(t->tgargs[0]);
				break;
			}
		}
	}
	table_close(rel, AccessShareLock);
	return col;
}

/* Is trigger tgname of relid one of dbcore's guards? */
static bool
is_guard_trigger(Oid relid, const char *tgname, Oid nspoid)
{
	Oid			guard_fn = dbcore_function_oid(nspoid, "tenant_row_guard");
	Oid			truncate_fn = dbcore_function_oid(nspoid, "tenant_truncate_guard");
	Relation	rel;
	bool		result = false;
	int			i;

	rel = table_open(relid, AccessShareLock);
	if (rel->trigdesc != NULL)
	{
		for (i = 0; i < rel->trigdesc->numtriggers; i++)
		{
			const Trigger *t = &rel->trigdesc->triggers[i];

			if (strcmp(t->tgname, tgname) == 0)
			{
				result = (t->tgfoid == guard_fn || t->tgfoid == truncate_fn);
				break;
			}
		}
	}
	table_close(rel, AccessShareLock);
	return result;
}

static bool
is_dbcore_policy(const char *polname)
{
	return strcmp(polname, ISOLATION_POLICY) == 0 ||
		strcmp(polname, ACCESS_POLICY) == 0;
}

static void
refuse(Oid relid, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to weaken tenant scoping of table \"%s\"",
					dbcore_rel_name(relid)),
			 errdetail("The table is a Citus shard, or a node's copy, of a tenant-scoped table; the command would %s.",
					   what),
			 errhint("Change the distributed table on the coordinator; only a superuser or a role with BYPASSRLS may do this.")));
}

/*
 * The relation a command names, if it carries dbcore's row guard but is not
 * a registered table (a shard, or a node's copy of a scoped table): its OID
 * and (*col) client column; else InvalidOid.
 */
static Oid
guarded_shard(RangeVar *rv, Oid nspoid, const DbcoreRegistry *reg, char **col)
{
	Oid			relid;

	if (rv == NULL)
		return InvalidOid;
	relid = RangeVarGetRelid(rv, NoLock, true);
	*col = guarded_column(relid, nspoid);
	if (*col == NULL || dbcore_registry_column(reg, relid) != NULL)
		return InvalidOid;
	return relid;
}

static void
refuse_alter_table(AlterTableStmt *stmt, const DbcoreRegistry *reg)
{
	char	   *col;
	Oid			relid = guarded_shard(stmt->relation, reg->nspoid, reg, &col);
	ListCell   *lc;

	if (!OidIsValid(relid))
		return;
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);

		switch (cmd->subtype)
		{
			case AT_DisableRowSecurity:
				refuse(relid, "disable row level security");
				break;
			case AT_NoForceRowSecurity:
				refuse(relid, "stop forcing row level security on the owner");
				break;
			case AT_DisableTrigAll:
			case AT_DisableTrigUser:
				refuse(relid, "disable dbcore's triggers");
				break;
			case AT_DisableTrig:
			case AT_EnableReplicaTrig:
			case AT_EnableAlwaysTrig:
				if (cmd->name != NULL && is_guard_trigger(relid, cmd->name, reg->nspoid))
					refuse(relid, "change when dbcore's triggers fire");
				break;
			case AT_DropNotNull:
			case AT_DropColumn:
			case AT_AlterColumnType:
				if (cmd->name != NULL && strcmp(cmd->name, col) == 0)
					refuse(relid, "change or drop the client column");
				break;
			default:
				break;
		}
	}
}

/* DROP POLICY / DROP TRIGGER: each object is (table name..., object name). */
static void
refuse_drop(DropStmt *stmt, const DbcoreRegistry *reg)
{
	ListCell   *lc;

	if (stmt->removeType != OBJECT_POLICY && stmt->removeType != OBJECT_TRIGGER)
		return;
	foreach(lc, stmt->objects)
	{
		List	   *names = (List *) lfirst(lc);
		const char *objname;
		RangeVar   *rv;
		char	   *col;
		Oid			relid;

		if (list_length(names) < 2)
			continue;
		objname = strVal(llast(names));
		rv = makeRangeVarFromNameList(list_copy_head(names, list_length(names) - 1));
		relid = guarded_shard(rv, reg->nspoid, reg, &col);
		if (!OidIsValid(relid))
			continue;
		if (stmt->removeType == OBJECT_POLICY ? is_dbcore_policy(objname)
			: is_guard_trigger(relid, objname, reg->nspoid))
			refuse(relid, stmt->removeType == OBJECT_POLICY
				   ? "drop one of dbcore's policies" : "drop one of dbcore's triggers");
	}
}

void
dbcore_citus_refuse_shard_weakening(Node *parsetree, const DbcoreRegistry *reg)
{
	char	   *col;
	Oid			relid;

	if (parsetree == NULL || !dbcore_citus_installed())
		return;
	switch (nodeTag(parsetree))
	{
		case T_AlterTableStmt:
			refuse_alter_table((AlterTableStmt *) parsetree, reg);
			break;
		case T_DropStmt:
			refuse_drop((DropStmt *) parsetree, reg);
			break;
		case T_AlterPolicyStmt:
			{
				AlterPolicyStmt *stmt = (AlterPolicyStmt *) parsetree;

				relid = guarded_shard(stmt->table, reg->nspoid, reg, &col);
				if (OidIsValid(relid) && is_dbcore_policy(stmt->policy_name))
					refuse(relid, "change one of dbcore's policies");
				break;
			}
		case T_CreatePolicyStmt:
			{
				CreatePolicyStmt *stmt = (CreatePolicyStmt *) parsetree;

				/* evaluated before dbcore's, it would see every row */
				relid = guarded_shard(stmt->table, reg->nspoid, reg, &col);
				if (OidIsValid(relid) && !stmt->permissive &&
					strcmp(stmt->policy_name, ISOLATION_POLICY) < 0)
					refuse(relid, "add a restrictive policy evaluated before dbcore's");
				break;
			}
		case T_RenameStmt:
			{
				RenameStmt *stmt = (RenameStmt *) parsetree;

				if (stmt->renameType != OBJECT_POLICY && stmt->renameType != OBJECT_TRIGGER)
					break;
				relid = guarded_shard(stmt->relation, reg->nspoid, reg, &col);
				if (OidIsValid(relid) &&
					(stmt->renameType == OBJECT_POLICY ? is_dbcore_policy(stmt->subname)
					 : is_guard_trigger(relid, stmt->subname, reg->nspoid)))
					refuse(relid, "rename one of dbcore's policies or triggers");
				break;
			}
		default:
			break;
	}
}

/*
 * TRUNCATE ignores row level security.  Citus keeps TRUNCATE triggers on the
 * distributed table only (the coordinator's, dbcore's TRUNCATE guard among
 * them, refuse it there first), so a shard, truncated on its node by name,
 * is refused here: to a role without system-level authorization, as the
 * TRUNCATE guard would.
 */
void
dbcore_citus_refuse_shard_truncate(Node *parsetree)
{
	TruncateStmt *stmt;
	Oid			extoid;
	Oid			nspoid;
	ListCell   *lc;

	if (!IsA(parsetree, TruncateStmt) ||
		dbcore_has_system_authorization(GetUserId()) ||
		!OidIsValid(extoid = get_extension_oid("dbcore", true)))
		return;
	stmt = (TruncateStmt *) parsetree;
	nspoid = dbcore_compat_extension_schema(extoid);
	foreach(lc, stmt->relations)
	{
		Oid			relid = RangeVarGetRelid((RangeVar *) lfirst(lc), NoLock, true);

		if (guarded_column(relid, nspoid) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to truncate tenant-scoped table \"%s\"",
							dbcore_rel_name(relid)),
					 errdetail("TRUNCATE ignores row level security and would remove the rows of every client."),
					 errhint("Remove the current client's rows with DELETE, or run TRUNCATE as a superuser or a role with BYPASSRLS.")));
	}
}

/*
 * COPY table TO of a distributed table under row level security becomes
 * COPY (SELECT ... FROM ONLY table) TO: what PostgreSQL itself does with
 * such a table on one node.  Citus would copy the rows over connections of
 * its own that miss the transaction's SET LOCAL settings, the client scope
 * among them, unless an earlier statement had opened them; a query runs on
 * the transaction's connections.  Returns the statement to run.
 */
Node *
dbcore_citus_copy_to_query(Node *parsetree)
{
	CopyStmt   *stmt;
	CopyStmt   *result;
	SelectStmt *select;
	RangeVar   *from;
	Oid			relid;
	HeapTuple	tuple;
	bool		rls;
	ListCell   *lc;

	if (!citus_loaded || !IsA(parsetree, CopyStmt))
		return parsetree;
	stmt = (CopyStmt *) parsetree;
	if (stmt->is_from || stmt->relation == NULL)
		return parsetree;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid))
		return parsetree;
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		return parsetree;
	rls = ((Form_pg_class) GETSTRUCT(tuple))->relrowsecurity;
	ReleaseSysCache(tuple);
	if (!rls || !dbcore_citus_has_shards(relid))
		return parsetree;

	select = makeNode(SelectStmt);
	if (stmt->attlist == NIL)
	{
		ColumnRef  *star = makeNode(ColumnRef);
		ResTarget  *target = makeNode(ResTarget);

		star->fields = list_make1(makeNode(A_Star));
		star->location = -1;
		target->val = (Node *) star;
		target->location = -1;
		select->targetList = list_make1(target);
	}
	else
	{
		foreach(lc, stmt->attlist)
		{
			ColumnRef  *col = makeNode(ColumnRef);
			ResTarget  *target = makeNode(ResTarget);

			col->fields = list_make1(makeString(pstrdup(strVal(lfirst(lc)))));
			col->location = -1;
			target->val = (Node *) col;
			target->location = -1;
			select->targetList = lappend(select->targetList, target);
		}
	}
	from = copyObject(stmt->relation);
	from->inh = false;			/* COPY table TO copies that table only */
	select->fromClause = list_make1(from);

	result = copyObject(stmt);
	result->relation = NULL;
	result->attlist = NIL;
	result->query = (Node *) select;
	return (Node *) result;
}
