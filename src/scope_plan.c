/*-------------------------------------------------------------------------
 *
 * scope_plan.c
 *		A cheaper executor form for the client scope's init-plans.
 *
 * dbcore's policies compare the client column with
 * (SELECT dbcore.current_client_id()): the sub-select becomes an init-plan,
 * evaluated once per execution however many rows are scanned.  PostgreSQL
 * runs such an init-plan as a Result node that projects a function call,
 * and sets that node up afresh at every execution: a tuple descriptor, a
 * projection, the function's permission check and fmgr lookup.  On a
 * one-row lookup that set-up costs more than the lookup's index descent,
 * and an UPDATE pays it twice (one init-plan for the USING clause, one for
 * WITH CHECK).
 *
 * After planning, this file
 *	 - merges the init-plans of one plan node that compute the same dbcore
 *	   client function into one init-plan that sets all of their parameters,
 *	   and
 *	 - replaces the Result node of each such init-plan by a custom scan
 *	   node, "DbcoreClientScope", which returns the same single row: the
 *	   current client, read by the same C code as the function, with the same
 *	   errors when no (or no valid) client scope is set.
 * It checks the function's EXECUTE privilege as the Result would, skipping
 * the catalog lookup while the function keeps its default ACL (EXECUTE for
 * PUBLIC), and invokes the object access hook.
 *
 * Nothing else changes: the parameters, where they are used, when the
 * init-plan runs (lazily, at the first use of its value), and the plan's
 * invalidation.  Plans made without this (before the library was loaded in
 * a session, or with dbcore.optimize_scope_plans off) keep the Result
 * nodes and give the same results.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/plannodes.h"
#include "optimizer/planner.h"
#include "utils/acl.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "client_scope.h"
#include "compat.h"
#include "scope_plan.h"

#define CLIENT_SCAN_NAME "DbcoreClientScope"

/* The client functions, by the type they return. */
#define DBCORE_CLIENT_NONE	0
#define DBCORE_CLIENT_UUID	1
#define DBCORE_CLIENT_TEXT	2
#define DBCORE_CLIENT_INT8	3
#define DBCORE_CLIENT_INT4	4
#define DBCORE_CLIENT_KINDS	5

/* dbcore.optimize_scope_plans */
static bool optimize_scope_plans = true;

static planner_hook_type prev_planner_hook = NULL;

/* ----------------------------------------------------------------
 * Which functions are dbcore's client functions
 * ----------------------------------------------------------------
 */

/*
 * A small cache of what the planner has looked up: function OID -> client
 * kind (DBCORE_CLIENT_NONE for any other function), and whether the
 * function has the default ACL.  An entry goes when its pg_proc row may have
 * changed (an invalidation with its hash value, or of every row).  Not on
 * every pg_proc invalidation: on Citus, scope_route.c sends one that no
 * function has each time another client's scope begins, and looking the
 * client functions up again (their symbols resolved through the dynamic
 * loader) would cost every statement of the next transaction.
 */
#define FUNC_CACHE_SIZE 16

typedef struct FuncCacheEntry
{
	Oid			funcid;			/* InvalidOid: a free entry */
	uint32		hashvalue;		/* of funcid in the PROCOID syscache */
	int			kind;
	bool		default_acl;
} FuncCacheEntry;

static FuncCacheEntry func_cache[FUNC_CACHE_SIZE];
static int	func_cache_used = 0;
static int	func_cache_next = 0;
static bool func_cache_callback_registered = false;

static void
func_cache_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	int			i;

	if (hashvalue == 0)
	{
		func_cache_used = 0;
		func_cache_next = 0;
		return;
	}
	for (i = 0; i < func_cache_used; i++)
		if (func_cache[i].hashvalue == hashvalue)
			func_cache[i].funcid = InvalidOid;
}

/* The C symbols of the client functions, by kind. */
static const struct
{
	const char *symbol;
	int			kind;
	PGFunction	addr;
}			client_symbols[] =
{
	{"dbcore_current_client_id", DBCORE_CLIENT_UUID, dbcore_current_client_id},
	{"dbcore_current_client_id_text", DBCORE_CLIENT_TEXT, dbcore_current_client_id_text},
	{"dbcore_current_client_id_bigint", DBCORE_CLIENT_INT8, dbcore_current_client_id_bigint},
	{"dbcore_current_client_id_int", DBCORE_CLIENT_INT4, dbcore_current_client_id_int},
};

/*
 * Look a function up in pg_proc: is it a C function whose symbol is one of
 * the client functions of this very library?  The address comparison makes
 * sure: another library's function of the same name does not count.  The
 * symbol is resolved only for a C function without arguments whose symbol
 * name matches, so other functions cost one catalog lookup, once.
 */
static FuncCacheEntry *
lookup_func(Oid funcid)
{
	FuncCacheEntry *e;
	HeapTuple	tup;
	int			i;

	for (i = 0; i < func_cache_used; i++)
		if (func_cache[i].funcid == funcid)
			return &func_cache[i];
	/* a free entry (invalidated) first, else the next in turn */
	for (i = 0; i < func_cache_used; i++)
		if (!OidIsValid(func_cache[i].funcid))
			break;

	if (!func_cache_callback_registered)
	{
		CacheRegisterSyscacheCallback(PROCOID, func_cache_invalidate, (Datum) 0);
		func_cache_callback_registered = true;
	}

	if (i < func_cache_used)
		e = &func_cache[i];
	else if (func_cache_used < FUNC_CACHE_SIZE)
		e = &func_cache[func_cache_used++];
	else
	{
		e = &func_cache[func_cache_next];
		func_cache_next = (func_cache_next + 1) % FUNC_CACHE_SIZE;
	}
	e->funcid = funcid;
	e->hashvalue = GetSysCacheHashValue1(PROCOID, ObjectIdGetDatum(funcid));
	e->kind = DBCORE_CLIENT_NONE;
	e->default_acl = false;

	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tup))
		return e;
	if (((Form_pg_proc) GETSTRUCT(tup))->prolang == ClanguageId &&
		!((Form_pg_proc) GETSTRUCT(tup))->proretset &&
		((Form_pg_proc) GETSTRUCT(tup))->pronargs == 0)
	{
		Datum		d;
		bool		isnull;
		char	   *prosrc;

		d = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_prosrc, &isnull);
		prosrc = isnull ? NULL : TextDatumGetCString(d);
		for (i = 0; prosrc != NULL && i < (int) lengthof(client_symbols); i++)
		{
			char	   *probin;
			void	   *addr;

			if (strcmp(prosrc, client_symbols[i].symbol) != 0)
				continue;
			d = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_probin, &isnull);
			if (isnull)
				break;
			probin = TextDatumGetCString(d);
			addr = load_external_function(probin, prosrc, false, NULL);
			if (addr == (void *) client_symbols[i].addr)
				e->kind = client_symbols[i].kind;
			pfree(probin);
			break;
		}
		if (prosrc != NULL)
			pfree(prosrc);
		(void) SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_proacl, &isnull);
		e->default_acl = isnull;
	}
	ReleaseSysCache(tup);
	return e;
}

/*
 * What ExecInitFunc checks for a call of funcid, for a plan that reads the
 * client another way in its place: EXECUTE for the current role (the
 * catalog read only when the function's ACL is not the default) and the
 * object access hook.
 */
static void
check_execute(FuncCacheEntry *e, Oid funcid)
{
	if (!e->default_acl)
	{
		AclResult	aclresult = dbcore_compat_proc_aclcheck(funcid, GetUserId(), ACL_EXECUTE);

		if (aclresult != ACLCHECK_OK)
			aclcheck_error(aclresult, OBJECT_FUNCTION, get_func_name(funcid));
	}
	InvokeFunctionExecuteHook(funcid);
}

void
dbcore_client_function_check_execute(Oid funcid)
{
	check_execute(lookup_func(funcid), funcid);
}

/*
 * Is funcid one of this library's client functions?  Its result type (uuid,
 * text, bigint or integer), or InvalidOid.
 */
Oid
dbcore_client_function_type(Oid funcid)
{
	static const Oid kind_types[DBCORE_CLIENT_KINDS] = {
		[DBCORE_CLIENT_NONE] = InvalidOid,
		[DBCORE_CLIENT_UUID] = UUIDOID,
		[DBCORE_CLIENT_TEXT] = TEXTOID,
		[DBCORE_CLIENT_INT8] = INT8OID,
		[DBCORE_CLIENT_INT4] = INT4OID,
	};

	return kind_types[lookup_func(funcid)->kind];
}

/*
 * The client kind an init-plan's subplan computes, or DBCORE_CLIENT_NONE:
 * a Result with no input, no quals and no init-plans of its own, whose only
 * output column is a call of a client function.
 */
static int
client_result_kind(Plan *plan)
{
	Result	   *res;
	TargetEntry *tle;
	FuncExpr   *fexpr;

	if (plan == NULL || !IsA(plan, Result))
		return DBCORE_CLIENT_NONE;
	res = (Result *) plan;
	if (res->resconstantqual != NULL || plan->qual != NIL ||
		plan->lefttree != NULL || plan->righttree != NULL ||
		plan->initPlan != NIL || list_length(plan->targetlist) != 1)
		return DBCORE_CLIENT_NONE;
	tle = linitial_node(TargetEntry, plan->targetlist);
	if (tle->resjunk || !IsA(tle->expr, FuncExpr))
		return DBCORE_CLIENT_NONE;
	fexpr = (FuncExpr *) tle->expr;
	if (fexpr->args != NIL || fexpr->funcretset)
		return DBCORE_CLIENT_NONE;
	return lookup_func(fexpr->funcid)->kind;
}

/* ----------------------------------------------------------------
 * The plan rewrite
 * ----------------------------------------------------------------
 */

static CustomScanMethods client_scan_methods;

/*
 * A DbcoreClientScope node in place of the Result node res, returning
 * ncols copies of its value.
 */
static Plan *
make_client_scan(Result *res, int ncols)
{
	CustomScan *cscan = makeNode(CustomScan);
	TargetEntry *tle = linitial_node(TargetEntry, res->plan.targetlist);
	Expr	   *fexpr = tle->expr;
	int			i;

	cscan->scan.plan.startup_cost = res->plan.startup_cost;
	cscan->scan.plan.total_cost = res->plan.total_cost;
	cscan->scan.plan.plan_rows = res->plan.plan_rows;
	cscan->scan.plan.plan_width = res->plan.plan_width;
	cscan->scan.plan.parallel_aware = false;
	cscan->scan.plan.parallel_safe = res->plan.parallel_safe;
	cscan->scan.plan.async_capable = false;
	cscan->scan.plan.plan_node_id = res->plan.plan_node_id;
	cscan->scan.plan.extParam = bms_copy(res->plan.extParam);
	cscan->scan.plan.allParam = bms_copy(res->plan.allParam);
	cscan->scan.scanrelid = 0;

	/*
	 * The scan tuple holds the function's value ncols times; the output is
	 * that tuple as it is (no projection).
	 */
	for (i = 1; i <= ncols; i++)
	{
		cscan->custom_scan_tlist =
			lappend(cscan->custom_scan_tlist,
					makeTargetEntry(copyObject(fexpr), i, NULL, false));
		cscan->scan.plan.targetlist =
			lappend(cscan->scan.plan.targetlist,
					makeTargetEntry((Expr *) makeVar(INDEX_VAR, i,
													 exprType((Node *) fexpr),
													 exprTypmod((Node *) fexpr),
													 exprCollation((Node *) fexpr),
													 0),
									i, NULL, false));
	}
	cscan->flags = 0;
	cscan->custom_plans = NIL;
	cscan->custom_exprs = NIL;
	cscan->custom_private = NIL;
	cscan->custom_relids = NULL;
	cscan->methods = &client_scan_methods;
	return (Plan *) cscan;
}

/*
 * Merge and replace the client init-plans in one plan node's initPlan list.
 * kinds[i] is the client kind of stmt->subplans' (i + 1)th plan.
 */
static void
rewrite_initplans(PlannedStmt *stmt, Plan *plan, const int *kinds)
{
	List	   *keep = NIL;
	ListCell   *lc;
	SubPlan    *firsts[DBCORE_CLIENT_KINDS] = {0};
	bool		changed = false;

	foreach(lc, plan->initPlan)
	{
		SubPlan    *sp = lfirst_node(SubPlan, lc);
		int			kind = DBCORE_CLIENT_NONE;

		if (sp->subLinkType == EXPR_SUBLINK && sp->testexpr == NULL &&
			sp->parParam == NIL && sp->args == NIL && !sp->useHashTable &&
			list_length(sp->setParam) == 1 &&
			sp->plan_id >= 1 && sp->plan_id <= list_length(stmt->subplans))
			kind = kinds[sp->plan_id - 1];

		if (kind == DBCORE_CLIENT_NONE)
		{
			keep = lappend(keep, sp);
			continue;
		}
		changed = true;
		if (firsts[kind] == NULL)
		{
			firsts[kind] = sp;
			keep = lappend(keep, sp);
		}
		else
		{
			/* The first one sets this one's parameter too. */
			SubPlan    *first = firsts[kind];

			first->setParam = list_concat(list_copy(first->setParam), sp->setParam);
			first->parallel_safe = first->parallel_safe && sp->parallel_safe;
			list_nth_cell(stmt->subplans, sp->plan_id - 1)->ptr_value = NULL;
		}
	}
	if (!changed)
		return;

	for (int kind = 0; kind < DBCORE_CLIENT_KINDS; kind++)
	{
		SubPlan    *sp = firsts[kind];
		ListCell   *cell;

		if (sp == NULL)
			continue;
		cell = list_nth_cell(stmt->subplans, sp->plan_id - 1);
		cell->ptr_value = make_client_scan((Result *) lfirst(cell),
										   list_length(sp->setParam));
		if (DBCORE_INITPLAN_NAME_LISTS_PARAMS && list_length(sp->setParam) > 1)
		{
			/* EXPLAIN's label: "InitPlan n (returns $a,$b)" */
			StringInfoData name;
			ListCell   *pc;

			initStringInfo(&name);
			appendStringInfo(&name, "InitPlan %d (returns", sp->plan_id);
			foreach(pc, sp->setParam)
				appendStringInfo(&name, "%s$%d", pc == list_head(sp->setParam) ? " " : ",",
								 lfirst_int(pc));
			appendStringInfoChar(&name, ')');
			sp->plan_name = name.data;
		}
	}
	plan->initPlan = keep;
}

/* Visit every plan node under plan (not into other subplans). */
static void
walk_plan(PlannedStmt *stmt, Plan *plan, const int *kinds)
{
	ListCell   *lc;

	if (plan == NULL)
		return;
	check_stack_depth();
	if (plan->initPlan != NIL)
		rewrite_initplans(stmt, plan, kinds);

	switch (nodeTag(plan))
	{
		case T_Append:
			foreach(lc, ((Append *) plan)->appendplans)
				walk_plan(stmt, lfirst(lc), kinds);
			break;
		case T_MergeAppend:
			foreach(lc, ((MergeAppend *) plan)->mergeplans)
				walk_plan(stmt, lfirst(lc), kinds);
			break;
		case T_BitmapAnd:
			foreach(lc, ((BitmapAnd *) plan)->bitmapplans)
				walk_plan(stmt, lfirst(lc), kinds);
			break;
		case T_BitmapOr:
			foreach(lc, ((BitmapOr *) plan)->bitmapplans)
				walk_plan(stmt, lfirst(lc), kinds);
			break;
		case T_SubqueryScan:
			walk_plan(stmt, ((SubqueryScan *) plan)->subplan, kinds);
			break;
		case T_CustomScan:
			foreach(lc, ((CustomScan *) plan)->custom_plans)
				walk_plan(stmt, lfirst(lc), kinds);
			break;
		default:
			break;
	}
	walk_plan(stmt, plan->lefttree, kinds);
	walk_plan(stmt, plan->righttree, kinds);
}

static void
rewrite_client_initplans(PlannedStmt *stmt)
{
	int			nsub = list_length(stmt->subplans);
	int		   *kinds;
	bool		any = false;
	int			i;
	List	   *roots;
	ListCell   *lc;

	kinds = palloc0(sizeof(int) * nsub);
	i = 0;
	foreach(lc, stmt->subplans)
	{
		kinds[i] = client_result_kind((Plan *) lfirst(lc));
		any |= kinds[i] != DBCORE_CLIENT_NONE;
		i++;
	}
	if (any)
	{
		/*
		 * The roots to walk, taken before any entry is replaced: the main
		 * tree and every subplan (client Results have no init-plans).
		 */
		roots = list_make1(stmt->planTree);
		i = 0;
		foreach(lc, stmt->subplans)
		{
			if (kinds[i++] == DBCORE_CLIENT_NONE && lfirst(lc) != NULL)
				roots = lappend(roots, lfirst(lc));
		}
		foreach(lc, roots)
			walk_plan(stmt, (Plan *) lfirst(lc), kinds);
		list_free(roots);
	}
	pfree(kinds);
}

static PlannedStmt *
scope_planner(Query *parse, const char *query_string, int cursorOptions,
			  ParamListInfo boundParams)
{
	PlannedStmt *stmt;

	if (prev_planner_hook)
		stmt = prev_planner_hook(parse, query_string, cursorOptions, boundParams);
	else
		stmt = standard_planner(parse, query_string, cursorOptions, boundParams);

	if (optimize_scope_plans && stmt->subplans != NIL)
		rewrite_client_initplans(stmt);
	return stmt;
}

/* ----------------------------------------------------------------
 * The DbcoreClientScope node
 * ----------------------------------------------------------------
 */

typedef struct ClientScanState
{
	CustomScanState css;
	Oid			funcid;
	Oid			typid;			/* the function's result type */
	bool		done;
} ClientScanState;

static CustomExecMethods client_exec_methods;

static Node *
client_scan_create(CustomScan *cscan)
{
	ClientScanState *state = palloc0(sizeof(ClientScanState));
	TargetEntry *tle = linitial_node(TargetEntry, cscan->custom_scan_tlist);
	FuncExpr   *fexpr = castNode(FuncExpr, tle->expr);

	NodeSetTag(state, T_CustomScanState);
	state->css.methods = &client_exec_methods;
	state->funcid = fexpr->funcid;
	state->typid = fexpr->funcresulttype;
	return (Node *) state;
}

static void
client_scan_begin(CustomScanState *node, EState *estate, int eflags)
{
	ClientScanState *state = (ClientScanState *) node;
	FuncCacheEntry *e = lookup_func(state->funcid);

	if (e->kind == DBCORE_CLIENT_NONE)
		elog(ERROR, "function %u is not a dbcore client function", state->funcid);

	check_execute(e, state->funcid);
	state->done = false;
}

static TupleTableSlot *
client_scan_exec(CustomScanState *node)
{
	ClientScanState *state = (ClientScanState *) node;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	Datum		value;
	int			i;

	ExecClearTuple(slot);
	if (state->done)
		return slot;
	value = dbcore_current_client_datum(state->typid);
	for (i = 0; i < slot->tts_tupleDescriptor->natts; i++)
	{
		slot->tts_values[i] = value;
		slot->tts_isnull[i] = false;
	}
	ExecStoreVirtualTuple(slot);
	state->done = true;
	return slot;
}

static void
client_scan_end(CustomScanState *node)
{
}

static void
client_scan_rescan(CustomScanState *node)
{
	((ClientScanState *) node)->done = false;
}

void
dbcore_scope_plan_init(void)
{
	client_scan_methods.CustomName = CLIENT_SCAN_NAME;
	client_scan_methods.CreateCustomScanState = client_scan_create;
	RegisterCustomScanMethods(&client_scan_methods);

	client_exec_methods.CustomName = CLIENT_SCAN_NAME;
	client_exec_methods.BeginCustomScan = client_scan_begin;
	client_exec_methods.ExecCustomScan = client_scan_exec;
	client_exec_methods.EndCustomScan = client_scan_end;
	client_exec_methods.ReScanCustomScan = client_scan_rescan;

	DefineCustomBoolVariable("dbcore.optimize_scope_plans",
							 "Runs the client scope's init-plans as one light node per plan node.",
							 "On: the init-plans that compute dbcore.current_client_id() in a plan node are merged into one, "
							 "run by a DbcoreClientScope node instead of a Result node.  Off: plans keep PostgreSQL's form.  "
							 "Results are the same either way.",
							 &optimize_scope_plans,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	prev_planner_hook = planner_hook;
	planner_hook = scope_planner;
}
