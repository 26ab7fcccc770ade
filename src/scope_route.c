/*-------------------------------------------------------------------------
 *
 * scope_route.c
 *		Citus: a scoped query goes to the current client's shard only.
 *
 * Citus sends a query on a distributed table to a single shard when the
 * query compares the distribution column with a constant or a parameter.
 * dbcore's policy compares the client column with a function call,
 * client_id = dbcore.current_client_id(), which each worker evaluates
 * itself: without a client_id condition written by the application, every
 * query would run on every shard.
 *
 * Before planning, for each table that the query reads under dbcore's
 * policy (the rewriter has put the policy's quals into the table's range
 * table entry, as securityQuals), this file adds the same comparison with
 * the current client's id as a constant, client_id = '...', among the
 * table's security quals: it filters at the table's own scan, so outer
 * joins keep their meaning, and it lets through exactly the rows that the
 * policy lets through.  Citus prunes the shards by it; the workers still
 * apply their own policies.  Nothing is added without a valid client scope
 * (the policy then raises its error on the worker, as on one node), or
 * when row level security does not apply (system-level roles).  An INSERT
 * that leaves the client column out gets the current client there, so that
 * Citus can send the row to its shard.
 *
 * Such a plan holds the client's id: it carries a plan-cache dependency
 * that this file invalidates when another client's scope begins (only such
 * plans are made again; other cached plans stay).
 *
 * Except where Citus can route by a parameter: a query on one hash-
 * distributed table by its client column, which Citus plans on its "fast
 * path" and prunes when the plan is executed.  There the comparison (or the
 * INSERT's value) is an extern parameter instead, numbered after every
 * parameter of the query (and after every value it is planned with), that
 * no caller supplies: when such a plan starts,
 * this file hands the executor a parameter list that adds it, with the
 * client of the scope then in force (or, without a valid scope, the
 * policy's error when it is read).  One cached plan then serves every
 * client.  The plan says which parameter is dbcore's by two entries of its
 * dependency list that no invalidation matches.  The coordinator's copies
 * of the policy's comparisons, which filter nothing there, are dropped from
 * such a statement (drop_client_checks()).  Only on a server with Citus
 * loaded, and while dbcore.citus_routing is on.
 *
 * On the workers, a statement that Citus sends to a shard already names
 * the client by a constant; when that is the current client, the
 * comparison is left to the shard's policy (drop_implied_client()).
 *
 * Also on Citus, whatever the scope: a statement that Citus 14.0.1 crashes
 * on (an UPDATE or upsert that assigns the distribution column, planned
 * without its parameters' values) is planned with Citus's local fast-path
 * optimization off, so that Citus refuses it instead.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/execExpr.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/params.h"
#include "parser/parsetree.h"
#include "optimizer/planner.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "citus.h"
#include "client_scope.h"
#include "scope_plan.h"
#include "scope_route.h"

/* dbcore.citus_routing */
static bool citus_routing = true;

static planner_hook_type prev_planner_hook = NULL;
static ExecutorStart_hook_type prev_executor_start = NULL;

/*
 * A plan routed by dbcore's parameter carries its number and type in two
 * PlanInvalItems with these cache ids, which no syscache has (so no
 * invalidation ever matches them).
 */
#define ROUTE_PARAM_ID_MARK		(-0x0DBC)
#define ROUTE_PARAM_TYPE_MARK	(-0x0DBD)
/* and one per client function it stands for (its OID), checked at each start */
#define ROUTE_PARAM_FUNC_MARK	(-0x0DBE)

/*
 * Plans made with the current client's id as a constant, and that id
 * (malloc'd).  They are invalidated when another client's scope begins:
 * each carries a plan-cache dependency on a pg_proc syscache hash value,
 * ROUTED_PLAN_HASH, which dbcore "invalidates" itself, locally, by calling
 * the callbacks of that syscache.  Not a hash value that a function is
 * likely to have (one that had it would only be planned again), and never
 * 0, which tells every callback to flush everything (it is the hash value
 * of OID 0): every cached plan that uses a function, every cache of
 * functions.
 */
#define ROUTED_PLAN_HASH	((uint32) 0x0DBC0DBC)

static bool routed_plans = false;
static char *routed_for = NULL;

typedef struct RouteContext
{
	bool		routed;			/* added a client constant somewhere */
	Query	   *top;			/* the query being planned */
	ParamListInfo bound;		/* its parameters' values, if planned with them */
	int			param_id;		/* dbcore's parameter, once numbered */
	Oid			param_type;
	bool		param_used;		/* added it somewhere */
	bool		shard_param;	/* in a shard statement's policy (on a worker) */
	List	   *param_funcs;	/* the client functions it stands for (OIDs) */
} RouteContext;

/*
 * Is qual dbcore's client comparison on range table entry rti (column =
 * dbcore.current_client_id*(), either way round, with the type's equality
 * operator)?  If so, *var is the column.
 */
static bool
is_client_qual(Node *qual, Index rti, Var **var)
{
	OpExpr	   *op;
	Node	   *left;
	Node	   *right;
	FuncExpr   *func;
	bool		func_right;
	Oid			typid;

	if (qual == NULL || !IsA(qual, OpExpr))
		return false;
	op = (OpExpr *) qual;
	if (list_length(op->args) != 2)
		return false;
	left = linitial(op->args);
	right = lsecond(op->args);
	func_right = IsA(right, FuncExpr);
	*var = (Var *) (func_right ? left : right);
	func = (FuncExpr *) (func_right ? right : left);
	if (!IsA(*var, Var) || !IsA(func, FuncExpr) ||
		(*var)->varno != (int) rti || (*var)->varlevelsup != 0 || func->args != NIL)
		return false;
	typid = dbcore_client_function_type(func->funcid);
	return OidIsValid(typid) && (*var)->vartype == typid &&
		lookup_type_cache(typid, TYPECACHE_EQ_OPR)->eq_opr == op->opno;
}

/*
 * An is_client_qual() while a valid client scope is in force: then *con is
 * the current client as a constant.
 */
static bool
match_client_qual(Node *qual, Index rti, Var **var, Const **con)
{
	Oid			typid;
	Datum		value;
	int16		typlen;
	bool		typbyval;

	if (!is_client_qual(qual, rti, var))
		return false;
	typid = (*var)->vartype;
	if (!dbcore_current_client_try_datum(typid, &value))
		return false;
	get_typlenbyval(typid, &typlen, &typbyval);
	*con = makeConst(typid, -1, get_typcollation(typid), typlen, value, false, typbyval);
	return true;
}

/*
 * The same comparison as qual (a match_client_qual), with the value (a
 * constant or dbcore's parameter) in place of the function call.
 */
static Expr *
constant_qual(Node *qual, Expr *value)
{
	OpExpr	   *result = (OpExpr *) copyObject(qual);

	if (IsA(lsecond(result->args), FuncExpr))
		lsecond(result->args) = value;
	else
		linitial(result->args) = value;
	return (Expr *) result;
}

/* The highest number of an extern parameter anywhere in a query. */
static bool
max_param_walker(Node *node, int *max)
{
	if (node == NULL)
		return false;
	if (IsA(node, Param))
	{
		Param	   *param = (Param *) node;

		if (param->paramkind == PARAM_EXTERN && param->paramid > *max)
			*max = param->paramid;
		return false;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, max_param_walker, (void *) max, 0);
	return expression_tree_walker(node, max_param_walker, (void *) max);
}

/* Does node refer to column attno of range table entry rti (this level)? */
static bool
column_walker(Node *node, Var *column)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
	{
		Var		   *var = (Var *) node;

		return var->varno == column->varno && var->varattno == column->varattno &&
			var->varlevelsup == 0;
	}
	if (IsA(node, Query))
		return false;
	return expression_tree_walker(node, column_walker, (void *) column);
}

/*
 * Can the client be a parameter here: does Citus plan query on its fast
 * path, routing by column var (of the query's only table) when the WHERE
 * clause (or, for an INSERT, the row) holds it?  Its conditions, checked
 * strictly: one statement level without CTEs, sub-queries, set operations
 * or set-returning functions, one hash-distributed table distributed by
 * the client column, which the WHERE clause does not mention already, no
 * FOR UPDATE/SHARE, an UPDATE that does not set it, and for an INSERT, one
 * row (VALUES of one row, no ON CONFLICT).
 */
static bool
param_routable(Query *query, Var *var, RouteContext *ctx)
{
	RangeTblEntry *rte;

	if (query != ctx->top || query->cteList != NIL || query->hasSubLinks ||
		query->setOperations != NULL || query->hasTargetSRFs || query->hasModifyingCTE ||
		list_length(query->rtable) != 1 || var->varno != 1)
		return false;
	switch (query->commandType)
	{
		case CMD_UPDATE:
			{
				ListCell   *lc;

				/*
				 * Citus refuses to change the distribution column while
				 * planning; on its fast path with pruning left to the
				 * executor that refusal is not handled (an assertion
				 * failure in Citus 14.0.1).  Such an UPDATE keeps the
				 * constant, and Citus's error.
				 */
				foreach(lc, query->targetList)
				{
					TargetEntry *tle = (TargetEntry *) lfirst(lc);

					if (!tle->resjunk && tle->resno == var->varattno)
						return false;
				}
			}
			/* FALLTHROUGH */
		case CMD_SELECT:
		case CMD_DELETE:
			if (query->jointree == NULL || query->rowMarks != NIL ||
				column_walker(query->jointree->quals, var))
				return false;
			break;
		case CMD_INSERT:
			if (query->onConflict != NULL)
				return false;
			break;
		default:
			return false;
	}
	rte = rt_fetch(1, query->rtable);
	if (rte->rtekind != RTE_RELATION)
		return false;
	return dbcore_citus_distribution_column(rte->relid) == var->varattno;
}

/* dbcore's parameter, of the client column's type. */
static Expr *
client_param(Var *var, RouteContext *ctx)
{
	Param	   *param = makeNode(Param);

	if (ctx->param_id == 0)
	{
		int			max = 0;

		/*
		 * After the query's parameters, and after every value it is planned
		 * with: the planner (and Citus's) would fold a value given for the
		 * number into the plan, of whatever type.  A generic plan is made
		 * without values; where its number is also that of a parameter the
		 * query does not use, the executor's list has dbcore's value there.
		 */
		(void) max_param_walker((Node *) ctx->top, &max);
		if (ctx->bound != NULL)
			max = Max(max, ctx->bound->numParams);
		ctx->param_id = max + 1;
		ctx->param_type = var->vartype;
	}
	Assert(ctx->param_type == var->vartype);
	param->paramkind = PARAM_EXTERN;
	param->paramid = ctx->param_id;
	param->paramtype = var->vartype;
	param->paramtypmod = -1;
	param->paramcollid = get_typcollation(var->vartype);
	param->location = -1;
	ctx->param_used = true;
	return (Expr *) param;
}

/* The client function that comparison qual (an is_client_qual) calls. */
static Oid
client_function_of(Node *qual)
{
	OpExpr	   *op = (OpExpr *) qual;

	return ((FuncExpr *) (IsA(lsecond(op->args), FuncExpr) ?
						  lsecond(op->args) : linitial(op->args)))->funcid;
}

/*
 * dbcore's parameter in place of the client function that comparison qual
 * (an is_client_qual) calls: the plan then checks that function at each
 * start, as a call of it would be (route_executor_start()).
 */
static Expr *
param_for_function(Node *qual, Var *var, RouteContext *ctx)
{
	ctx->param_funcs = list_append_unique_oid(ctx->param_funcs, client_function_of(qual));
	return client_param(var, ctx);
}

/* The comparison qual with dbcore's parameter in place of the function. */
static Expr *
param_qual(Node *qual, Var *var, RouteContext *ctx)
{
	return constant_qual(qual, param_for_function(qual, var, ctx));
}

/* Is wco a row level security check that is dbcore's client comparison? */
static bool
is_client_check(WithCheckOption *wco, Index rti, Var **var)
{
	return (wco->kind == WCO_RLS_INSERT_CHECK || wco->kind == WCO_RLS_UPDATE_CHECK) &&
		is_client_qual(wco->qual, rti, var);
}

/*
 * Does the query's own WHERE clause already compare the client column of
 * range table entry rti with a constant or a parameter (at its top level)?
 * Citus routes by that itself; adding the current client to it would only
 * add a contradiction when the application names another client, and Citus
 * fails on those in modifying CTEs ("could not find valid entry for shard
 * 0").  The workers' policies still apply.  Returns that comparison, or
 * NULL.
 */
static Node *
names_client(Query *query, Index rti, const Var *var)
{
	Node	   *quals = query->jointree ? query->jointree->quals : NULL;
	List	   *conjuncts;
	ListCell   *lc;

	if (quals == NULL)
		return NULL;
	conjuncts = (IsA(quals, BoolExpr) && ((BoolExpr *) quals)->boolop == AND_EXPR)
		? ((BoolExpr *) quals)->args : list_make1(quals);
	foreach(lc, conjuncts)
	{
		OpExpr	   *op = (OpExpr *) lfirst(lc);
		Node	   *left;
		Node	   *right;
		Node	   *other;
		Var		   *v;

		if (!IsA(op, OpExpr) || list_length(op->args) != 2)
			continue;
		left = linitial(op->args);
		right = lsecond(op->args);
		v = (Var *) (IsA(left, Var) ? left : right);
		other = IsA(left, Var) ? right : left;
		if (!IsA(v, Var) || v->varno != (int) rti || v->varlevelsup != 0 ||
			v->varattno != var->varattno ||
			(!IsA(other, Const) && !IsA(other, Param)) ||
			op->opno != lookup_type_cache(var->vartype, TYPECACHE_EQ_OPR)->eq_opr)
			continue;
		return (Node *) op;
	}
	return NULL;
}

/*
 * On the workers: a statement that Citus sends to a shard names the client,
 * WHERE ... AND client_id = '<current client>', next to the shard's own
 * policy, client_id = dbcore.current_client_id().  PostgreSQL's planner
 * would derive dbcore.current_client_id() = '<client>' from the two and run
 * it as a one-time filter in a Result node above the scan, planned and
 * started for every statement.  The comparison (conjunct, found by
 * names_client()) is dropped from the WHERE clause instead: with that
 * client's scope in force the policy lets through exactly the rows it lets
 * through, and the plan goes when another client's scope begins (the
 * caller marks it routed).  The policy stays, so the security of the
 * statement is the policy's, as for any query; only the application's own
 * comparison is taken out, so leaky functions gain nothing.  (The caller
 * then gives the policy's comparisons dbcore's parameter, param_for_checks().)
 *
 * Only on Citus's own connections, for a statement on one table that Citus
 * does not distribute (a shard): on a Citus table the comparison is what
 * routes it.  Only a constant equal to the current client: a parameter, or
 * another client (no rows), keeps the comparison.
 */
static bool
drop_implied_client(Query *query, Index rti, Node *conjunct, RouteContext *ctx)
{
	OpExpr	   *op = (OpExpr *) conjunct;
	Node	   *other;
	Const	   *con;
	Node	   *quals = query->jointree->quals;

	if (query != ctx->top || rti != 1 || list_length(query->rtable) != 1 ||
		list_length(query->jointree->fromlist) != 1 ||
		!IsA(linitial(query->jointree->fromlist), RangeTblRef) ||
		!dbcore_citus_internal_connection())
		return false;
	other = IsA(linitial(op->args), Var) ? lsecond(op->args) : linitial(op->args);
	if (!IsA(other, Const))
		return false;
	con = (Const *) other;
	if (con->constisnull || !dbcore_is_current_client(con->constvalue, con->consttype) ||
		dbcore_citus_has_shards_cached(rt_fetch(rti, query->rtable)->relid))
		return false;
	if (quals == conjunct)
		query->jointree->quals = NULL;
	else
	{
		BoolExpr   *and = (BoolExpr *) quals;

		and->args = list_delete_ptr(and->args, conjunct);
		if (and->args == NIL)
			query->jointree->quals = NULL;
		else if (list_length(and->args) == 1)
			query->jointree->quals = linitial(and->args);
	}
	return true;
}

/*
 * In a statement that Citus sends to a shard for the current client
 * (drop_implied_client()), on the worker: the policy's comparisons on table
 * rti get dbcore's parameter in place of the function call, in the WITH
 * CHECK options here, among the security quals by the caller.  The
 * parameter has the function's value, the current client, read once when
 * the statement starts (route_executor_start()), and without a valid scope
 * the function's error (route_param_fetch()); it is cheaper: the planner no
 * longer evaluates the function for its estimates (it gets the parameter's
 * value instead, estimate_params()) nor the executor looks it up for each
 * statement.  (Not in the INSERTs Citus sends to a shard: their WITH CHECK
 * options cost less with the function than numbering the parameter does.)
 * The policy in the catalog is untouched.
 */
static void
param_for_checks(Query *query, Index rti, RouteContext *ctx)
{
	ListCell   *lc;

	foreach(lc, query->withCheckOptions)
	{
		WithCheckOption *wco = (WithCheckOption *) lfirst(lc);
		Var		   *var;

		if (is_client_check(wco, rti, &var))
			wco->qual = (Node *) param_qual(wco->qual, var, ctx);
	}
}

/*
 * A statement that Citus routes by dbcore's parameter (param_routable())
 * carries the comparison that routes it, client = $n; the policy's own
 * comparisons on table rti, among the security quals and in the WITH CHECK
 * options, are dropped from the coordinator's copy of the statement.  They
 * filter nothing there: Citus reads and writes a distributed table's rows
 * on its shards only, and sends each shard the statement as text, which
 * leaves out the security quals and WITH CHECK options (as does the local
 * execution of a shard statement, which parses that text again); each
 * shard applies its own policy to it (RESTRICTIVE, citus.c), with the
 * scope that Citus forwards.  But Citus copies them, walks them and, in a
 * modification, evaluates each of their parameters and function calls, at
 * every execution.  The policy in the catalog, its other quals and the
 * statement's dependence on row level security stay; the client function's
 * EXECUTE check goes with dbcore's parameter (route_executor_start()).
 */
static void
drop_client_checks(Query *query, RangeTblEntry *rte, Index rti)
{
	ListCell   *lc;
	Var		   *var;

	foreach(lc, rte->securityQuals)
	{
		if (is_client_qual((Node *) lfirst(lc), rti, &var))
			rte->securityQuals = foreach_delete_current(rte->securityQuals, lc);
	}
	foreach(lc, query->withCheckOptions)
	{
		if (is_client_check((WithCheckOption *) lfirst(lc), rti, &var))
			query->withCheckOptions = foreach_delete_current(query->withCheckOptions, lc);
	}
}

/*
 * Add the constant comparison for a table read under dbcore's policy: among
 * its security quals; for the target of an UPDATE or DELETE (never on the
 * nullable side of a join), to the WHERE clause, where Citus also copes
 * with a contradiction (a WHERE client_id naming another client: no shard).
 */
static void
route_rte(Query *query, RangeTblEntry *rte, Index rti, RouteContext *ctx)
{
	ListCell   *lc;

	foreach(lc, rte->securityQuals)
	{
		Var		   *var;
		Const	   *con;
		Expr	   *qual;
		Node	   *named;

		if (!match_client_qual((Node *) lfirst(lc), rti, &var, &con))
			continue;
		named = names_client(query, rti, var);
		if (named != NULL)
		{
			if (drop_implied_client(query, rti, named, ctx))
			{
				ctx->routed = true;
				lfirst(lc) = param_qual((Node *) lfirst(lc), var, ctx);
				param_for_checks(query, rti, ctx);
				ctx->shard_param = true;
			}
			return;
		}
		if (param_routable(query, var, ctx))
		{
			query->jointree->quals = make_and_qual(query->jointree->quals,
												   (Node *) param_qual((Node *) lfirst(lc), var, ctx));
			drop_client_checks(query, rte, rti);
			return;
		}
		qual = constant_qual((Node *) lfirst(lc), (Expr *) con);
		if (((query->commandType == CMD_UPDATE || query->commandType == CMD_DELETE) &&
			 rti == (Index) query->resultRelation) ||
			(query->commandType == CMD_SELECT && list_length(query->rtable) == 1 &&
			 query->jointree != NULL && list_length(query->jointree->fromlist) == 1 &&
			 IsA(linitial(query->jointree->fromlist), RangeTblRef)))
			query->jointree->quals = make_and_qual(query->jointree->quals, (Node *) qual);
		else
		{
			/* first, as the cheapest; the policy's own quals stay */
			rte->securityQuals = lcons(qual, rte->securityQuals);
		}
		ctx->routed = true;
		return;
	}
}

/*
 * An INSERT into a table under dbcore's policy (whose check the rewriter
 * put into the query's WITH CHECK options) that leaves the client column
 * out, or sets it to NULL, gets the current client there: Citus must know
 * a row's client on the coordinator to send it to its shard, and the row
 * guard would set the same value on the worker.
 */
static void
route_insert(Query *query, RouteContext *ctx)
{
	ListCell   *lc;

	if (query->commandType != CMD_INSERT || query->resultRelation <= 0)
		return;
	foreach(lc, query->withCheckOptions)
	{
		WithCheckOption *wco = (WithCheckOption *) lfirst(lc);
		Var		   *var;
		Const	   *con;
		Expr	   *value;
		ListCell   *t;
		int			pos = 0;
		TargetEntry *named = NULL;

		if (wco->kind != WCO_RLS_INSERT_CHECK ||
			!match_client_qual(wco->qual, query->resultRelation, &var, &con))
			continue;
		/* the target list is in column order */
		foreach(t, query->targetList)
		{
			TargetEntry *tle = (TargetEntry *) lfirst(t);

			if (tle->resjunk || tle->resno > var->varattno)
				break;
			if (tle->resno == var->varattno)
			{
				named = tle;
				break;
			}
			pos++;
		}
		/* a row that names its client (as Citus's on a shard do) stays */
		if (named != NULL && !(IsA(named->expr, Const) && ((Const *) named->expr)->constisnull))
			return;
		if (param_routable(query, var, ctx))
		{
			value = param_for_function(wco->qual, var, ctx);
			drop_client_checks(query, rt_fetch(query->resultRelation, query->rtable),
							   query->resultRelation);
		}
		else
			value = (Expr *) con;
		if (named != NULL)
		{
			named->expr = value;
			ctx->routed |= !IsA(value, Param);
			return;
		}
		query->targetList = list_insert_nth(query->targetList, pos,
											makeTargetEntry(value, var->varattno,
															get_attname(rt_fetch(query->resultRelation, query->rtable)->relid,
																		var->varattno, false),
															false));
		ctx->routed |= !IsA(value, Param);
		return;
	}
}

/*
 * Every query level: its range table, then its sub-queries.  A query level
 * without sub-links (the planner relies on the flag too) has sub-queries
 * only in its range table and its WITH list: its expressions are not
 * walked.
 */
static bool
route_walker(Node *node, RouteContext *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *query = (Query *) node;
		ListCell   *lc;
		Index		rti = 0;

		foreach(lc, query->rtable)
		{
			RangeTblEntry *rte = (RangeTblEntry *) lfirst(lc);

			rti++;
			if (rte->rtekind == RTE_RELATION && rte->securityQuals != NIL)
				route_rte(query, rte, rti, ctx);
		}
		route_insert(query, ctx);
		if (query->hasSubLinks)
			return query_tree_walker(query, route_walker, (void *) ctx, 0);
		foreach(lc, query->rtable)
		{
			RangeTblEntry *rte = (RangeTblEntry *) lfirst(lc);

			if (rte->rtekind == RTE_SUBQUERY)
				(void) route_walker((Node *) rte->subquery, ctx);
		}
		foreach(lc, query->cteList)
			(void) route_walker(((CommonTableExpr *) lfirst(lc))->ctequery, ctx);
		return false;
	}
	return expression_tree_walker(node, route_walker, (void *) ctx);
}

/*
 * A plan is being made with the current client's id as a constant: it must
 * go when another client's scope begins.  Returns the hash value of its
 * plan-cache dependency (PlanInvalItem on PROCOID).
 */
static uint32
note_routed(void)
{
	const char *id = dbcore_scope_in_force();

	/* (plans routed for another client went when this client's scope began) */
	if (id == NULL || (routed_plans && strcmp(routed_for, id) == 0))
		return ROUTED_PLAN_HASH;
	free(routed_for);
	routed_for = strdup(id);
	if (routed_for == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	routed_plans = true;
	return ROUTED_PLAN_HASH;
}

/*
 * Another client's scope begins (called by the setting's assign hook):
 * cached plans that carry another client's id go.  A scope that merely
 * ends keeps them: they would fail for want of a scope, and the same
 * client's next scope can use them again.  Other cached plans stay.
 */
static void
client_changed(const char *id)
{
	if (routed_plans && strcmp(id, routed_for) != 0)
	{
		CallSyscacheCallbacks(PROCOID, ROUTED_PLAN_HASH);
		routed_plans = false;
	}
}

/*
 * An extern parameter that the planner has no value for (a generic plan)?
 * A list with a fetch hook counts as having none: the answer is only used
 * to choose the safer way to plan.
 */
static bool
unbound_param_walker(Node *node, ParamListInfo bound)
{
	if (node == NULL)
		return false;
	if (IsA(node, Param))
	{
		Param	   *param = (Param *) node;

		return param->paramkind == PARAM_EXTERN &&
			(bound == NULL || bound->paramFetch != NULL ||
			 param->paramid < 1 || param->paramid > bound->numParams ||
			 !OidIsValid(bound->params[param->paramid - 1].ptype));
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, unbound_param_walker, (void *) bound, 0);
	return expression_tree_walker(node, unbound_param_walker, (void *) bound);
}

/*
 * Would Citus 14.0.1 crash planning this?  An UPDATE, or an INSERT ... ON
 * CONFLICT DO UPDATE, that assigns the distribution column of its hash-
 * distributed table, planned without the values of its parameters: Citus
 * defers its refusal ("modifying the partition value of rows is not
 * allowed") to the plan's execution, and then, with its local fast-path
 * optimization on, reads the task list that such a plan does not have (a
 * NULL pointer: the backend dies and the server restarts every session).
 * Any role that may update a distributed table can get such a plan, with
 * SET plan_cache_mode = force_generic_plan.
 */
static bool
citus_cannot_plan(Query *parse, ParamListInfo bound)
{
	List	   *assigned;
	AttrNumber	column;
	ListCell   *lc;

	if (parse->resultRelation <= 0)
		return false;
	if (parse->commandType == CMD_UPDATE)
		assigned = parse->targetList;
	else if (parse->commandType == CMD_INSERT && parse->onConflict != NULL &&
			 parse->onConflict->action == ONCONFLICT_UPDATE)
		assigned = parse->onConflict->onConflictSet;
	else
		return false;
	if (!unbound_param_walker((Node *) parse, bound))
		return false;
	column = dbcore_citus_distribution_column(rt_fetch(parse->resultRelation, parse->rtable)->relid);
	if (column == InvalidAttrNumber)
		return false;
	foreach(lc, assigned)
	{
		TargetEntry *tle = (TargetEntry *) lfirst(lc);

		if (!tle->resjunk && tle->resno == column)
			return true;
	}
	return false;
}

/*
 * The parameters to plan a shard statement with when dbcore's parameter is
 * in its policy: the caller's and the current client as dbcore's, so that
 * the planner estimates the policy's selectivity from the client's own
 * statistics, as it did when it evaluated the function for its estimates.
 * Never PARAM_FLAG_CONST: the plan keeps the parameter.  A list with hooks
 * (PL/pgSQL's) is passed on as it is.
 */
static ParamListInfo
estimate_params(ParamListInfo bound, RouteContext *ctx)
{
	ParamListInfo list;
	Datum		value;
	int			i;

	if ((bound != NULL && (bound->paramFetch != NULL || bound->paramCompile != NULL)) ||
		!dbcore_current_client_try_datum(ctx->param_type, &value))
		return bound;
	list = makeParamList(ctx->param_id);
	for (i = 0; i < ctx->param_id - 1; i++)
	{
		if (bound != NULL && i < bound->numParams)
			list->params[i] = bound->params[i];
		else
		{
			list->params[i].value = (Datum) 0;
			list->params[i].isnull = true;
			list->params[i].pflags = 0;
			list->params[i].ptype = InvalidOid;
		}
	}
	list->params[ctx->param_id - 1].value = value;
	list->params[ctx->param_id - 1].isnull = false;
	list->params[ctx->param_id - 1].pflags = 0;
	list->params[ctx->param_id - 1].ptype = ctx->param_type;
	if (bound != NULL)
		list->paramValuesStr = bound->paramValuesStr;
	return list;
}

static PlannedStmt *
route_planner(Query *parse, const char *query_string, int cursorOptions,
			  ParamListInfo boundParams)
{
	RouteContext ctx = {false, parse, boundParams, 0, InvalidOid, false, false, NIL};
	PlannedStmt *result;
	int			nestlevel = -1;

	if (citus_routing && parse->commandType != CMD_UTILITY &&
		dbcore_scope_in_force() != NULL)
		(void) route_walker((Node *) parse, &ctx);
	if (ctx.shard_param)
		boundParams = estimate_params(boundParams, &ctx);
	/*
	 * Planned with the optimization off, Citus reports its own error.  (A
	 * statement routed by dbcore's parameter never assigns the column.)
	 */
	if (!ctx.param_used && citus_cannot_plan(parse, boundParams))
		nestlevel = dbcore_citus_plan_safely_begin();
	if (prev_planner_hook)
		result = prev_planner_hook(parse, query_string, cursorOptions, boundParams);
	else
		result = standard_planner(parse, query_string, cursorOptions, boundParams);
	dbcore_citus_plan_safely_end(nestlevel);
	if (ctx.routed)
	{
		/* cached, the plan goes when another client's scope begins */
		PlanInvalItem *item = makeNode(PlanInvalItem);

		item->cacheId = PROCOID;
		item->hashValue = note_routed();
		result->invalItems = lappend(result->invalItems, item);
	}
	if (ctx.param_used)
	{
		PlanInvalItem *id = makeNode(PlanInvalItem);
		PlanInvalItem *type = makeNode(PlanInvalItem);
		ListCell   *lc;

		id->cacheId = ROUTE_PARAM_ID_MARK;
		id->hashValue = (uint32) ctx.param_id;
		type->cacheId = ROUTE_PARAM_TYPE_MARK;
		type->hashValue = (uint32) ctx.param_type;
		result->invalItems = lappend(lappend(result->invalItems, id), type);
		foreach(lc, ctx.param_funcs)
		{
			PlanInvalItem *func = makeNode(PlanInvalItem);

			func->cacheId = ROUTE_PARAM_FUNC_MARK;
			func->hashValue = (uint32) lfirst_oid(lc);
			result->invalItems = lappend(result->invalItems, func);
		}
	}
	return result;
}

/*
 * The parameter list of an execution of a plan routed by dbcore's
 * parameter: the caller's (copied, or its hooks called), with dbcore's
 * parameter added.  A header before the list says which it is.
 */
typedef struct RouteParams
{
	ParamListInfo orig;			/* the caller's list, or NULL */
	int			id;				/* dbcore's parameter */
	Oid			type;
	bool		have_value;		/* a valid scope was in force at the start */
} RouteParams;

#define ROUTE_PARAMS_HEADER		MAXALIGN(sizeof(RouteParams))
#define ROUTE_PARAMS_OF(list)	((RouteParams *) ((char *) (list) - ROUTE_PARAMS_HEADER))

static ParamExternData *
route_param_fetch(ParamListInfo params, int paramid, bool speculative,
				  ParamExternData *workspace)
{
	RouteParams *rp = ROUTE_PARAMS_OF(params);

	if (paramid == rp->id)
	{
		if (rp->have_value)
			return &params->params[paramid - 1];
		/* no valid scope: the policy's error */
		if (!speculative)
			(void) dbcore_current_client_datum(rp->type);
	}
	else if (rp->orig != NULL && rp->orig->paramFetch != NULL &&
			 paramid > 0 && paramid <= rp->orig->numParams)
		return rp->orig->paramFetch(rp->orig, paramid, speculative, workspace);
	else if (paramid > 0 && paramid <= params->numParams)
		return &params->params[paramid - 1];
	workspace->value = (Datum) 0;
	workspace->isnull = true;
	workspace->pflags = 0;
	workspace->ptype = InvalidOid;
	return workspace;
}

/*
 * Only for a caller's list with a compile hook (PL/pgSQL's): dbcore's
 * parameter is read through route_param_fetch, the others as the caller
 * compiles them.
 */
static void
route_param_compile(ParamListInfo params, Param *param, ExprState *state,
					Datum *resv, bool *resnull)
{
	RouteParams *rp = ROUTE_PARAMS_OF(params);

	if (param->paramid == rp->id || rp->orig == NULL || rp->orig->paramCompile == NULL)
	{
		ExprEvalStep step = {0};

		step.opcode = EEOP_PARAM_EXTERN;
		step.resvalue = resv;
		step.resnull = resnull;
		step.d.param.paramid = param->paramid;
		step.d.param.paramtype = param->paramtype;
		ExprEvalPushStep(state, &step);
	}
	else
		rp->orig->paramCompile(rp->orig, param, state, resv, resnull);
}

static ParamListInfo
route_params(ParamListInfo orig, int id, Oid type)
{
	int			n = Max(id, orig != NULL ? orig->numParams : 0);
	char	   *mem = palloc0(ROUTE_PARAMS_HEADER + offsetof(ParamListInfoData, params) +
							  n * sizeof(ParamExternData));
	RouteParams *rp = (RouteParams *) mem;
	ParamListInfo list = (ParamListInfo) (mem + ROUTE_PARAMS_HEADER);
	Datum		value;

	rp->orig = orig;
	rp->id = id;
	rp->type = type;
	if (orig != NULL)
	{
		/* PL/pgSQL's hooks read these from the list they are handed */
		list->paramFetchArg = orig->paramFetchArg;
		list->paramCompileArg = orig->paramCompileArg;
		list->parserSetup = orig->parserSetup;
		list->parserSetupArg = orig->parserSetupArg;
		list->paramValuesStr = orig->paramValuesStr;
		if (orig->paramFetch == NULL)
			memcpy(list->params, orig->params, orig->numParams * sizeof(ParamExternData));
	}
	list->numParams = n;
	list->paramFetch = route_param_fetch;
	list->paramCompile = (orig != NULL && orig->paramCompile != NULL) ? route_param_compile : NULL;
	if (dbcore_current_client_try_datum(type, &value))
	{
		/* never PARAM_FLAG_CONST: no plan may fold a client into itself */
		list->params[id - 1].value = value;
		list->params[id - 1].isnull = false;
		list->params[id - 1].pflags = 0;
		list->params[id - 1].ptype = type;
		rp->have_value = true;
	}
	else
		list->params[id - 1].ptype = InvalidOid;
	return list;
}

static void
route_executor_start(QueryDesc *queryDesc, int eflags)
{
	PlannedStmt *stmt = queryDesc->plannedstmt;
	int			id = 0;
	Oid			type = InvalidOid;
	ListCell   *lc;

	if (stmt != NULL)
	{
		foreach(lc, stmt->invalItems)
		{
			PlanInvalItem *item = (PlanInvalItem *) lfirst(lc);

			if (item->cacheId == ROUTE_PARAM_ID_MARK)
				id = (int) item->hashValue;
			else if (item->cacheId == ROUTE_PARAM_TYPE_MARK)
				type = (Oid) item->hashValue;
			else if (item->cacheId == ROUTE_PARAM_FUNC_MARK)
				dbcore_client_function_check_execute((Oid) item->hashValue);
		}
	}
	if (id > 0 && OidIsValid(type))
		queryDesc->params = route_params(queryDesc->params, id, type);
	if (prev_executor_start)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

void
dbcore_scope_route_init(void)
{
	DefineCustomBoolVariable("dbcore.citus_routing",
							 "On Citus, sends a scoped query to the current client's shard only.",
							 "Adds the current client's id as a constant to the client comparison of dbcore's policy, so that Citus can prune shards by it. No effect without Citus.",
							 &citus_routing,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	if (dbcore_citus_loaded())
	{
		prev_planner_hook = planner_hook;
		planner_hook = route_planner;
		prev_executor_start = ExecutorStart_hook;
		ExecutorStart_hook = route_executor_start;
		dbcore_client_scope_on_change(client_changed);
	}
}
