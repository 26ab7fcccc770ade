/*-------------------------------------------------------------------------
 *
 * citus_xact.c
 *		Citus: no joining another session's distributed transaction.
 *
 * Citus keeps the intermediate results of a distributed transaction (the
 * rows of its CTEs and sub-queries, sent to the nodes that join them) in
 * files named by the role, the node that started the transaction and the
 * transaction's number, for as long as the transaction lasts.  The number
 * is a counter that get_all_active_transactions() shows to everyone, and
 * any role may call assign_distributed_transaction_id(), with which Citus's
 * connections between the nodes start each transaction.  A session of the
 * same role (every client's, when the application connects as one role)
 * could then take on another session's transaction and read its results,
 * another client's rows, with read_intermediate_result(), on any node.
 *
 * So a role without system-level authorization may call that function only
 * the way Citus does: on a connection that Citus opened (application_name
 * "citus_internal gpid=..." in its startup packet, as noted by the
 * setting's check hook, and still), in the command that begins the
 * transaction ("BEGIN TRANSACTION ISOLATION LEVEL ...;...;SELECT
 * assign_distributed_transaction_id(...)"), where no code of the caller's
 * runs.  Nor may such a role set application_name to Citus's
 * value after connecting (run_command_on_workers() connections are Citus's
 * until they set another name; a SET back would make them so again).
 *
 * What stays open: a client that opens its own connection as the role with
 * Citus's application_name; see doc/security.md.
 *
 * Installed only when Citus is loaded.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/syscache.h"

#include "citus.h"
#include "common.h"
#include "compat.h"

#define CITUS_ASSIGN_XACT_FUNC	"assign_distributed_transaction_id"
#define CITUS_BEGIN_COMMAND		"BEGIN TRANSACTION ISOLATION LEVEL "

static object_access_hook_type prev_object_access_hook = NULL;
static GucStringCheckHook prev_appname_check_hook = NULL;
static bool startup_appname_citus = false;	/* the startup packet's name */
static Oid	assign_xact_func = InvalidOid;
static uint32 assign_xact_func_hash = 0;	/* its PROCOID hash value */
static bool assign_xact_func_known = false;

/*
 * Only a change of that function (or of every function) forgets it; while
 * it is not found, a change of any (it may be the one being created).
 * (dbcore itself calls these callbacks for another hash value whenever
 * another client's scope begins, scope_route.c.)
 */
static void
assign_xact_func_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	if (!OidIsValid(assign_xact_func) || hashvalue == 0 ||
		hashvalue == assign_xact_func_hash)
		assign_xact_func_known = false;
}

/* pg_catalog.assign_distributed_transaction_id(int4, int8, timestamptz) */
static Oid
assign_xact_func_oid(void)
{
	if (!assign_xact_func_known)
	{
		Oid			argtypes[3] = {INT4OID, INT8OID, TIMESTAMPTZOID};

		assign_xact_func = LookupFuncName(list_make2(makeString("pg_catalog"),
													 makeString(CITUS_ASSIGN_XACT_FUNC)),
										  3, argtypes, true);
		if (OidIsValid(assign_xact_func))
			assign_xact_func_hash = GetSysCacheHashValue1(PROCOID,
														  ObjectIdGetDatum(assign_xact_func));
		assign_xact_func_known = true;
	}
	return assign_xact_func;
}

/*
 * The call comes from Citus: a connection Citus opened, still named so,
 * running the command with which Citus begins a transaction there.
 */
static bool
called_as_citus(void)
{
	return startup_appname_citus && dbcore_citus_internal_connection() &&
		debug_query_string != NULL &&
		strncmp(debug_query_string, CITUS_BEGIN_COMMAND, strlen(CITUS_BEGIN_COMMAND)) == 0;
}

static void
transaction_guard(ObjectAccessType access, Oid classId, Oid objectId,
				  int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);
	if (access != OAT_FUNCTION_EXECUTE || classId != ProcedureRelationId ||
		!IsTransactionState() || objectId != assign_xact_func_oid())
		return;
	if (called_as_citus() || dbcore_has_system_authorization(GetUserId()))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for function %s", CITUS_ASSIGN_XACT_FUNC),
			 errdetail("Only Citus's connections between the nodes may join a distributed transaction: its intermediate results hold the rows that the session which started it read."),
			 errhint("A superuser or a role with BYPASSRLS may call it.")));
}

/*
 * application_name: Citus's value only from the startup packet (or from a
 * role with system-level authorization).
 */
static bool
appname_check(char **newval, void **extra, GucSource source)
{
	if (prev_appname_check_hook && !prev_appname_check_hook(newval, extra, source))
		return false;
	if (source == PGC_S_CLIENT)
		startup_appname_citus = dbcore_citus_appname(*newval);
	if (!dbcore_citus_appname(*newval) || !IsTransactionState() ||
		!(source == PGC_S_SESSION || source == PGC_S_TEST ||
		  (source >= PGC_S_GLOBAL && source <= PGC_S_DATABASE_USER)) ||
		dbcore_has_system_authorization(GetUserId()))
		return true;
	GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
	GUC_check_errmsg("permission denied to set parameter \"application_name\" to a value starting with \"%s\"",
					 DBCORE_CITUS_INTERNAL_APPNAME);
	GUC_check_errdetail("Only connections that Citus opens between the nodes carry it.");
	return false;
}

void
dbcore_citus_xact_init(void)
{
	struct config_generic *guc;

	if (!dbcore_citus_loaded())
		return;
	guc = dbcore_compat_find_option("application_name");
	prev_object_access_hook = object_access_hook;
	object_access_hook = transaction_guard;
	CacheRegisterSyscacheCallback(PROCOID, assign_xact_func_invalidate, (Datum) 0);
	if (guc != NULL && guc->vartype == PGC_STRING)
	{
		struct config_string *appname = (struct config_string *) guc;

		prev_appname_check_hook = appname->check_hook;
		appname->check_hook = appname_check;
	}
}
