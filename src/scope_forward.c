/*-------------------------------------------------------------------------
 *
 * scope_forward.c
 *		Citus: the client scope on the worker nodes.
 *
 * Citus forwards SET LOCAL commands run in a transaction block to the
 * worker nodes' connections of that transaction, those open and those it
 * opens later, so on Citus the scope is always set with that command
 * (client_scope.c, through citus.c).  What it does not forward: a scope
 * changed another way (set_config(), a rollback to a savepoint), and the
 * SET LOCALs of a savepoint that was released, which it forgets for the
 * connections it opens afterwards.  This file keeps track of what the
 * workers were last sent in the transaction and sends the scope in force
 * again, before the next statement, when they may have another one.
 *
 * Its utility hook also runs SET LOCAL dbcore.client_id (and RESET) with
 * Citus forwarding it whatever citus.propagate_set_commands says (its value
 * hidden from pg_stat_activity by citus_activity.c), and hands TRUNCATE and
 * COPY to citus.c.  Installed only when Citus is loaded.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/memutils.h"

#include "citus.h"
#include "client_scope.h"
#include "scope_forward.h"

#define CLIENT_ID_GUC			"dbcore.client_id"

/*
 * The scope the worker nodes' connections in this transaction get (what
 * dbcore last sent; "" for none), if known, and at which transaction
 * nesting level it was sent.  Reset at the end of every transaction: new
 * connections then start without a scope.
 */
static struct
{
	bool		known;
	const char *value;			/* in TopTransactionContext; NULL: "" */
	int			level;
}			forwarded = {true, NULL, 0};

static ProcessUtility_hook_type prev_process_utility = NULL;
static ExecutorStart_hook_type prev_executor_start = NULL;

/* Remember what the workers were just sent (only a transaction block's). */
static void
note_forwarded(void)
{
	if (!IsTransactionBlock())
		return;
	forwarded.known = true;
	forwarded.value = MemoryContextStrdup(TopTransactionContext, dbcore_client_scope_setting());
	forwarded.level = GetCurrentTransactionNestLevel();
}

/*
 * Send the scope in force to the workers if they may have another one.
 * Only in a transaction block, where Citus forwards SET LOCAL (elsewhere a
 * scope lasts one statement; workers that lack it refuse the statement).
 */
static void
forward_scope_if_needed(void)
{
	const char *value;

	if (!IsTransactionBlock() || IsParallelWorker())
		return;
	value = dbcore_client_scope_setting();
	if (forwarded.known &&
		strcmp(value, forwarded.value != NULL ? forwarded.value : "") == 0)
		return;
	dbcore_citus_set_local(CLIENT_ID_GUC, pstrdup(value));
}

/*
 * Citus forgets the SET LOCALs of a savepoint that is released (for the
 * connections it opens later) or rolled back: what the workers get is then
 * unknown until sent again.
 */
static void
forwarding_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							SubTransactionId parentSubid, void *arg)
{
	if ((event == SUBXACT_EVENT_COMMIT_SUB || event == SUBXACT_EVENT_ABORT_SUB) &&
		forwarded.level >= GetCurrentTransactionNestLevel())
	{
		forwarded.known = false;
		forwarded.level = 0;
	}
}

static bool
sets_client_id(Node *parsetree)
{
	VariableSetStmt *stmt;

	if (!IsA(parsetree, VariableSetStmt))
		return false;
	stmt = (VariableSetStmt *) parsetree;
	return stmt->name != NULL && pg_strcasecmp(stmt->name, CLIENT_ID_GUC) == 0 &&
		(stmt->is_local || stmt->kind == VAR_RESET);
}

static void
run_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
					ProcessUtilityContext context, ParamListInfo params,
					QueryEnvironment *queryEnv, DestReceiver *dest,
					QueryCompletion *qc)
{
	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context, params,
							 queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
}

/*
 * On Citus (the only place this hook is installed): SET LOCAL
 * dbcore.client_id (and RESET) runs with Citus forwarding it; before any
 * other command but transaction control, the workers get the scope in force
 * if they may lack it.  TRUNCATE of a shard is judged, and COPY of a
 * distributed table rewritten, by citus.c.
 */
static void
forward_process_utility(PlannedStmt *pstmt, const char *queryString,
							 bool readOnlyTree, ProcessUtilityContext context,
							 ParamListInfo params, QueryEnvironment *queryEnv,
							 DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (sets_client_id(parsetree))
	{
		int			nestlevel;

		if (context == PROCESS_UTILITY_TOPLEVEL)
			dbcore_citus_activity_hide_value(queryString, (VariableSetStmt *) parsetree);
		nestlevel = dbcore_citus_forward_sets_begin();

		run_process_utility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
		dbcore_citus_forward_sets_end(nestlevel);
		note_forwarded();
		return;
	}
	dbcore_citus_refuse_shard_truncate(parsetree);
	if (IsA(parsetree, CopyStmt))
	{
		Node	   *copy = dbcore_citus_copy_to_query(parsetree);

		if (copy != parsetree)
		{
			pstmt = copyObject(pstmt);
			pstmt->utilityStmt = copy;
			readOnlyTree = false;
		}
	}
	if (!IsA(parsetree, TransactionStmt))
		forward_scope_if_needed();
	run_process_utility(pstmt, queryString, readOnlyTree, context, params,
						queryEnv, dest, qc);
}

static void
forward_executor_start(QueryDesc *queryDesc, int eflags)
{
	forward_scope_if_needed();
	if (prev_executor_start)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/* The next transaction's connections start without a scope. */
static void
forwarding_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			forwarded.known = true;
			forwarded.value = NULL;
			forwarded.level = 0;
			break;
		default:
			break;
	}
}

void
dbcore_scope_forward_init(void)
{
	if (!dbcore_citus_loaded())
		return;
	RegisterXactCallback(forwarding_xact_callback, NULL);
	RegisterSubXactCallback(forwarding_subxact_callback, NULL);
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = forward_process_utility;
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = forward_executor_start;
}
