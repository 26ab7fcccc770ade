/*-------------------------------------------------------------------------
 *
 * soft_delete.c
 *		Soft delete: dbcore.soft_delete(), a BEFORE DELETE row trigger that
 *		marks a row instead of removing it, and the dbcore.show_deleted
 *		setting that the policies hiding marked rows read.
 *
 * The trigger (argument: the mark column, timestamptz or timestamp) turns
 * each DELETE of an unmarked row into an UPDATE of the mark to the
 * transaction timestamp, run through the executor's own routine for a
 * single-row update (ExecSimpleRelationUpdate(), which logical replication
 * uses): BEFORE and AFTER UPDATE row triggers fire (updated_at moves, the
 * audit trail records the mark), constraints and the partition constraint
 * are checked, indexes are maintained.  Then it returns NULL, so the row
 * stays.  It runs as the deleting role and evaluates what that role's
 * UPDATE would; nothing runs with another identity.
 *
 * Foreign keys referencing the table act as a delete would make them act,
 * with the mark for the delete: ON DELETE CASCADE to a soft-delete table
 * deletes (so marks) the referencing rows; any other case that would leave
 * a visible row referencing the now invisible one is refused (NO ACTION,
 * RESTRICT, CASCADE to a table without soft delete), except SET NULL and
 * SET DEFAULT, whose rows keep their reference to the invisible row (a join
 * finds no parent, as after the real delete; a restore links them again).
 * Those statements run through SPI with plans kept per trigger.
 *
 * The trigger lets a DELETE remove the row for good in three cases: inside
 * a foreign-key action of PostgreSQL's (the referenced row is really being
 * deleted: marking the referencing one would leave it pointing at nothing),
 * inside dbcore.purge_deleted(), and when the DELETE is the first half of
 * an UPDATE that moves the row to another partition (on a partitioned
 * table the trigger also fires BEFORE UPDATE, to recognise that case).
 *
 * dbcore.showing_deleted() is true when dbcore.show_deleted is on (or a
 * maintenance function shows marked rows).  The policies call it as
 * "col IS NULL OR dbcore.showing_deleted()"; its planner support function
 * replaces the call by its value when a statement is planned, so the
 * policy reads "col IS NULL" (a partial index WHERE col IS NULL applies)
 * or "true".  Plans cached with one value are invalidated when the value
 * changes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/supportnodes.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "citus.h"
#include "common.h"
#include "compat.h"
#include "soft_delete.h"

#define SHOW_DELETED_GUC	"dbcore.show_deleted"

/* dbcore.show_deleted */
static bool show_deleted = false;

/* dbcore_soft_delete_enter() calls in progress, and those with really_delete */
static int	shown_depth = 0;
static int	delete_depth = 0;

/* Has a statement been planned with showing_deleted() folded since the
 * last invalidation of cached plans? */
static bool folded = false;

/* Bumped by every relcache invalidation: the foreign keys referencing a
 * table, and the tables they come from, are worked out again. */
static uint64 relcache_epoch = 1;

/* The row a BEFORE UPDATE trigger saw last: a DELETE of it in the same
 * command moves it to another partition. */
static Oid	moving_relid = InvalidOid;
static ItemPointerData moving_tid;

static bool
showing_now(void)
{
	return show_deleted || shown_depth > 0;
}

/* Cached plans that folded the old value must be planned again. */
static void
forget_folded_plans(void)
{
	if (folded)
	{
		folded = false;
		ResetPlanCache();
	}
}

static bool
check_show_deleted(bool *newval, void **extra, GucSource source)
{
	if (!*newval)
		return true;
	return dbcore_guc_check_session_source(SHOW_DELETED_GUC, source,
										   "Marked rows are shown only in the transaction that asks for them.",
										   "Call dbcore.show_deleted() in the transaction.");
}

static void
assign_show_deleted(bool newval, void *extra)
{
	/* (the variable still holds the old value) */
	if (newval != show_deleted && shown_depth == 0)
		forget_folded_plans();
}

static void
soft_delete_xact_callback(XactEvent event, void *arg)
{
	if (IsParallelWorker())
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			/* a plain SET must not outlive the transaction either */
			if (show_deleted)
				dbcore_guc_set_session(SHOW_DELETED_GUC, "off");
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			if (shown_depth > 0)
				forget_folded_plans();
			shown_depth = 0;
			delete_depth = 0;
			moving_relid = InvalidOid;
			break;
		default:
			break;
	}
}

static void
soft_delete_relcache_callback(Datum arg, Oid relid)
{
	relcache_epoch++;
}

void
dbcore_soft_delete_init(void)
{
	DefineCustomBoolVariable(SHOW_DELETED_GUC,
							 "Shows the rows that soft delete marked as deleted.",
							 "For the transaction that sets it: call dbcore.show_deleted(), which needs EXECUTE on it.",
							 &show_deleted,
							 false,
							 PGC_SUSET,
							 GUC_NOT_IN_SAMPLE,
							 check_show_deleted, assign_show_deleted, NULL);
	RegisterXactCallback(soft_delete_xact_callback, NULL);
	dbcore_register_relcache_callback(soft_delete_relcache_callback, (Datum) 0);
}

void
dbcore_soft_delete_enter(bool really_delete)
{
	if (shown_depth++ == 0 && !show_deleted)
		forget_folded_plans();
	if (really_delete)
		delete_depth++;
}

void
dbcore_soft_delete_leave(bool really_delete)
{
	if (really_delete && delete_depth > 0)
		delete_depth--;
	if (shown_depth > 0 && --shown_depth == 0 && !show_deleted)
		forget_folded_plans();
}

/* ----------------------------------------------------------------
 * dbcore.showing_deleted(), its planner support, dbcore.show_deleted()
 * ----------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(dbcore_showing_deleted);
Datum
dbcore_showing_deleted(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(showing_now());
}

/*
 * SupportRequestSimplify: the value in force when the statement is
 * planned.  (Whenever it changes, forget_folded_plans() makes cached plans
 * be planned again.)
 */
PG_FUNCTION_INFO_V1(dbcore_showing_deleted_support);
Datum
dbcore_showing_deleted_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);

	if (IsA(rawreq, SupportRequestSimplify))
	{
		folded = true;
		PG_RETURN_POINTER(makeBoolConst(showing_now(), false));
	}
	PG_RETURN_POINTER(NULL);
}

/*
 * dbcore.show_deleted(on boolean DEFAULT true) RETURNS void
 *
 * SET LOCAL dbcore.show_deleted for the rest of the transaction, on behalf
 * of a role granted EXECUTE (the setting itself is for superusers).
 */
PG_FUNCTION_INFO_V1(dbcore_show_deleted);
Datum
dbcore_show_deleted(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument of dbcore.show_deleted() must not be null")));
	(void) set_config_option(SHOW_DELETED_GUC, PG_GETARG_BOOL(0) ? "on" : "off",
							 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
							 true, 0, false);
	PG_RETURN_VOID();
}

/* ----------------------------------------------------------------
 * The trigger's state
 * ----------------------------------------------------------------
 */

/* A foreign key that references the table, and what a mark does to it. */
typedef struct SoftDeleteRef
{
	bool		cascade;		/* DELETE the referencing rows (they soft-delete) */
	char		action;			/* confdeltype, for messages */
	bool		child_soft;		/* the referencing table has soft delete */
	int			nkeys;
	AttrNumber	attnums[INDEX_MAX_KEYS];	/* referenced columns, here */
	Oid			types[INDEX_MAX_KEYS];
	char	   *sql;			/* the DELETE, or the SELECT that refuses */
	SPIPlanPtr	plan;			/* kept plan, NULL until first used */
	char	   *conname;
	char	   *child;			/* the referencing table's name */
} SoftDeleteRef;

typedef struct SoftDeleteState
{
	DbcoreTriggerState common;	/* the mark column, timestamptz or timestamp */
	MemoryContext cxt;			/* holds refs and their strings */
	int			busy;			/* refs in use (a cascade recurses into the
								 * same trigger): not rebuilt meanwhile */
	uint64		refs_epoch;		/* relcache_epoch of refs (0: not worked out) */
	int			nrefs;
	SoftDeleteRef *refs;
} SoftDeleteState;

static DbcoreTriggerCache soft_delete_states = {
	"dbcore soft delete trigger states", sizeof(SoftDeleteState), NULL
};

char *
dbcore_soft_delete_column(Relation rel, Oid soft_delete_fn)
{
	TriggerDesc *trigdesc = rel->trigdesc;
	int			i;

	if (trigdesc == NULL || !OidIsValid(soft_delete_fn))
		return NULL;
	for (i = 0; i < trigdesc->numtriggers; i++)
	{
		Trigger    *t = &trigdesc->triggers[i];

		if (t->tgfoid == soft_delete_fn && t->tgenabled != TRIGGER_DISABLED &&
			t->tgnargs >= 1)
			return pstrdup(t->tgargs[0]);
	}
	return NULL;
}

static void
forget_refs(SoftDeleteState *state)
{
	int			i;

	for (i = 0; i < state->nrefs; i++)
		if (state->refs[i].plan != NULL)
			SPI_freeplan(state->refs[i].plan);
	state->nrefs = 0;
	state->refs = NULL;
	state->refs_epoch = 0;
	if (state->cxt != NULL)
		MemoryContextReset(state->cxt);
	else
		state->cxt = AllocSetContextCreate(TopMemoryContext,
										   "dbcore soft delete trigger state",
										   ALLOCSET_SMALL_SIZES);
}

static void
soft_delete_compute_state(SoftDeleteState *state, TriggerData *trigdata)
{
	Trigger    *trigger = trigdata->tg_trigger;
	Relation	rel = trigdata->tg_relation;
	Form_pg_attribute attr;

	state->common.valid = false;
	state->common.relid = RelationGetRelid(rel);
	dbcore_citus_refuse_trigger(rel, "soft delete");
	if (state->busy == 0)
		forget_refs(state);

	if (trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on relation \"%s\" must pass exactly one argument to dbcore.soft_delete()",
						trigger->tgname, RelationGetRelationName(rel)),
				 errhint("Call dbcore.enable_soft_delete() to create the trigger.")));
	attr = dbcore_find_column(RelationGetDescr(rel), trigger->tgargs[0]);
	if (attr == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						trigger->tgargs[0], RelationGetRelationName(rel)),
				 errdetail("Trigger \"%s\" marks deleted rows in that column.",
						   trigger->tgname)));
	if (attr->atttypid != TIMESTAMPTZOID && attr->atttypid != TIMESTAMPOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of relation \"%s\" is of type %s",
						trigger->tgargs[0], RelationGetRelationName(rel),
						format_type_be(attr->atttypid)),
				 errdetail("Soft delete marks rows with a timestamp with time zone or timestamp without time zone.")));
	state->common.attnum = attr->attnum;
	state->common.atttypid = attr->atttypid;
	state->common.valid = true;
}

static SoftDeleteState *
soft_delete_get_state(FunctionCallInfo fcinfo, TriggerData *trigdata)
{
	Trigger    *trigger = trigdata->tg_trigger;
	SoftDeleteState *state = (SoftDeleteState *) fcinfo->flinfo->fn_extra;

	if (state == NULL || state->common.tgoid != trigger->tgoid)
	{
		state = (SoftDeleteState *) dbcore_trigger_state(&soft_delete_states,
														 trigger->tgoid);
		fcinfo->flinfo->fn_extra = state;
	}
	if (dbcore_trigger_state_stale(&state->common, trigdata))
		soft_delete_compute_state(state, trigdata);
	return state;
}

/* "schema.table", or "ONLY schema.table" for a table that is not partitioned */
static char *
qualified_table(Relation rel, bool only)
{
	return psprintf("%s%s", only ? "ONLY " : "",
					quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
											   RelationGetRelationName(rel)));
}

/* "OPERATOR(schema.op)" for operator oproid */
static char *
qualified_operator(Oid oproid)
{
	HeapTuple	tuple = SearchSysCache1(OPEROID, ObjectIdGetDatum(oproid));
	Form_pg_operator op;
	char	   *result;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for operator %u", oproid);
	op = (Form_pg_operator) GETSTRUCT(tuple);
	result = psprintf("OPERATOR(%s.%s)",
					  quote_identifier(get_namespace_name(op->oprnamespace)),
					  NameStr(op->oprname));
	ReleaseSysCache(tuple);
	return result;
}

/*
 * One foreign key referencing rel (constraint conoid, from the action
 * trigger PostgreSQL keeps on rel), or false when a mark leaves it alone.
 */
static bool
build_ref(SoftDeleteRef *ref, Relation rel, Oid conoid, Oid soft_delete_fn)
{
	HeapTuple	tuple = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	Form_pg_constraint con;
	AttrNumber	conkey[INDEX_MAX_KEYS];
	AttrNumber	confkey[INDEX_MAX_KEYS];
	Oid			pf_eq_oprs[INDEX_MAX_KEYS];
	Oid			pp_eq_oprs[INDEX_MAX_KEYS];
	Oid			ff_eq_oprs[INDEX_MAX_KEYS];
	Relation	child;
	char	   *column;
	StringInfoData where;
	int			i;

	if (!HeapTupleIsValid(tuple))
		return false;
	con = (Form_pg_constraint) GETSTRUCT(tuple);
	if (con->confrelid != RelationGetRelid(rel) ||
		con->confdeltype == FKCONSTR_ACTION_SETNULL ||
		con->confdeltype == FKCONSTR_ACTION_SETDEFAULT)
	{
		ReleaseSysCache(tuple);
		return false;
	}
	DeconstructFkConstraintRow(tuple, &ref->nkeys, conkey, confkey,
							   pf_eq_oprs, pp_eq_oprs, ff_eq_oprs, NULL, NULL);
	ref->action = con->confdeltype;
	ref->conname = pstrdup(NameStr(con->conname));

	child = table_open(con->conrelid, AccessShareLock);
	column = dbcore_soft_delete_column(child, soft_delete_fn);
	ref->child_soft = (column != NULL);
	ref->cascade = ref->child_soft && con->confdeltype == FKCONSTR_ACTION_CASCADE;
	ref->child = pstrdup(RelationGetRelationName(child));

	/* The referenced value on the left, as PostgreSQL's own actions put it. */
	initStringInfo(&where);
	for (i = 0; i < ref->nkeys; i++)
	{
		ref->attnums[i] = confkey[i];
		ref->types[i] = TupleDescAttr(RelationGetDescr(rel), confkey[i] - 1)->atttypid;
		appendStringInfo(&where, "%s$%d %s x.%s", i > 0 ? " AND " : "", i + 1,
						 qualified_operator(pf_eq_oprs[i]),
						 quote_identifier(get_attname(con->conrelid, conkey[i], false)));
	}
	if (ref->cascade)
		ref->sql = psprintf("DELETE FROM %s x WHERE %s",
							qualified_table(child, child->rd_rel->relkind != RELKIND_PARTITIONED_TABLE),
							where.data);
	else
		ref->sql = psprintf("SELECT 1 FROM %s x WHERE %s LIMIT 1",
							qualified_table(child, child->rd_rel->relkind != RELKIND_PARTITIONED_TABLE),
							where.data);
	table_close(child, AccessShareLock);
	ReleaseSysCache(tuple);
	return true;
}

/* The foreign keys referencing rel, from its foreign-key action triggers. */
static void
build_refs(SoftDeleteState *state, Relation rel, Oid nspoid)
{
	TriggerDesc *trigdesc = rel->trigdesc;
	Oid			soft_delete_fn = dbcore_function_oid(nspoid, SOFT_DELETE_FUNCTION);
	MemoryContext old;
	int			i;

	forget_refs(state);
	old = MemoryContextSwitchTo(state->cxt);
	state->refs = (SoftDeleteRef *) palloc0(sizeof(SoftDeleteRef) *
											Max(trigdesc ? trigdesc->numtriggers : 0, 1));
	for (i = 0; trigdesc != NULL && i < trigdesc->numtriggers; i++)
	{
		Trigger    *t = &trigdesc->triggers[i];

		if (!t->tgisinternal || !OidIsValid(t->tgconstraint))
			continue;
		switch (t->tgfoid)
		{
			case F_RI_FKEY_CASCADE_DEL:
			case F_RI_FKEY_NOACTION_DEL:
			case F_RI_FKEY_RESTRICT_DEL:
			case F_RI_FKEY_SETNULL_DEL:
			case F_RI_FKEY_SETDEFAULT_DEL:
				if (build_ref(&state->refs[state->nrefs], rel, t->tgconstraint,
							  soft_delete_fn))
					state->nrefs++;
				break;
			default:
				break;
		}
	}
	MemoryContextSwitchTo(old);
	state->refs_epoch = relcache_epoch;
}

/* ----------------------------------------------------------------
 * Marking
 * ----------------------------------------------------------------
 */

/*
 * Run the statements of the foreign keys referencing the row: with checks,
 * those that refuse the mark; otherwise the cascading DELETEs.  As the
 * deleting role, with search_path pinned (the statements name everything
 * with its schema).
 */
static void
run_refs(SoftDeleteState *state, Relation rel, HeapTuple oldtuple, bool checks)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	int			nestlevel;
	int			i;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	nestlevel = dbcore_pin_search_path();
	for (i = 0; i < state->nrefs; i++)
	{
		SoftDeleteRef *ref = &state->refs[i];
		Datum		values[INDEX_MAX_KEYS];
		char		nulls[INDEX_MAX_KEYS];
		bool		any_null = false;
		int			k;

		if (ref->cascade == checks)
			continue;
		for (k = 0; k < ref->nkeys; k++)
		{
			bool		isnull;

			values[k] = heap_getattr(oldtuple, ref->attnums[k], tupdesc, &isnull);
			nulls[k] = isnull ? 'n' : ' ';
			any_null |= isnull;
		}
		if (any_null)
			continue;			/* no row can reference it */
		if (ref->plan == NULL)
		{
			SPIPlanPtr	plan = SPI_prepare(ref->sql, ref->nkeys, ref->types);

			if (plan == NULL)
				elog(ERROR, "SPI_prepare failed for \"%s\": %s", ref->sql,
					 SPI_result_code_string(SPI_result));
			if (SPI_keepplan(plan) != 0)
				elog(ERROR, "SPI_keepplan failed");
			ref->plan = plan;
		}
		dbcore_check_spi(SPI_execute_plan(ref->plan, values, nulls, false, checks ? 1 : 0),
						 checks ? SPI_OK_SELECT : SPI_OK_DELETE);
		if (checks && SPI_processed > 0)
		{
			if (ref->action == FKCONSTR_ACTION_CASCADE)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("cannot soft-delete a row of table \"%s\": table \"%s\" references it ON DELETE CASCADE but has no soft delete",
								RelationGetRelationName(rel), ref->child),
						 errdetail("Foreign key \"%s\" would have its rows deleted for good, or left visible under an invisible row.",
								   ref->conname),
						 errhint("Enable soft delete on table \"%s\" with dbcore.enable_soft_delete(), or delete its referencing rows first.",
								 ref->child)));
			ereport(ERROR,
					(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
					 errmsg("cannot soft-delete a row of table \"%s\": table \"%s\" still references it",
							RelationGetRelationName(rel), ref->child),
					 errdetail("Foreign key \"%s\" is ON DELETE %s: its rows would stay visible under an invisible row.",
							   ref->conname,
							   ref->action == FKCONSTR_ACTION_RESTRICT ? "RESTRICT" : "NO ACTION"),
					 errhint("Delete the referencing rows first, or make the foreign key ON DELETE CASCADE.")));
		}
	}
	dbcore_unpin_search_path(nestlevel);
	SPI_finish();
}

/* The mark: the transaction timestamp, as a value of the column's type. */
static Datum
mark_value(Oid typid)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	if (typid == TIMESTAMPTZOID)
		return TimestampTzGetDatum(now);
	return DirectFunctionCall1(timestamptz_timestamp, TimestampTzGetDatum(now));
}

/*
 * UPDATE the row (locked by the DELETE that fired the trigger) to carry the
 * mark, through ExecSimpleRelationUpdate(): the table's BEFORE and AFTER
 * UPDATE row triggers fire (with the mark column as the updated column),
 * generated columns, constraints and the partition constraint are checked,
 * indexes get the new row version.  No privilege or policy is checked: the
 * mark is the effect of a DELETE the executor has already allowed.
 */
static void
mark_row(Relation rel, HeapTuple oldtuple, AttrNumber attnum, Oid typid)
{
	EState	   *estate = CreateExecutorState();
	MemoryContext old = MemoryContextSwitchTo(estate->es_query_cxt);
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	ResultRelInfo *rri = makeNode(ResultRelInfo);
	EPQState	epqstate;
	TupleTableSlot *searchslot;
	TupleTableSlot *newslot;
	Datum		value = mark_value(typid);
	bool		isnull = false;
	int			col = attnum;

	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel);
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	dbcore_compat_init_update_rangetable(estate, rte,
										 bms_make_singleton(attnum - FirstLowInvalidHeapAttributeNumber));
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	estate->es_output_cid = GetCurrentCommandId(true);
	estate->es_snapshot = GetActiveSnapshot();
	ExecOpenIndices(rri, false);
	dbcore_compat_epq_init(&epqstate, estate);

	searchslot = ExecInitExtraTupleSlot(estate, RelationGetDescr(rel), &TTSOpsHeapTuple);
	newslot = ExecInitExtraTupleSlot(estate, RelationGetDescr(rel), &TTSOpsHeapTuple);
	ExecStoreHeapTuple(heap_copytuple(oldtuple), searchslot, true);
	searchslot->tts_tid = oldtuple->t_self;
	ExecStoreHeapTuple(heap_modify_tuple_by_cols(oldtuple, RelationGetDescr(rel),
												 1, &col, &value, &isnull),
					   newslot, true);
	MemoryContextSwitchTo(old);

	ExecSimpleRelationUpdate(rri, estate, &epqstate, searchslot, newslot);

	EvalPlanQualEnd(&epqstate);
	ExecCloseIndices(rri);
	ExecResetTupleTable(estate->es_tupleTable, false);
	ExecCloseRangeTableRelations(estate);
	FreeExecutorState(estate);
}

/*
 * Refuse, mark, cascade, with the state's foreign keys held still while
 * cascades run the trigger again (they are not rebuilt meanwhile).
 */
pg_noinline static void
mark_and_cascade(FunctionCallInfo fcinfo, SoftDeleteState *state, Relation rel,
				 HeapTuple oldtuple)
{
	state->busy++;
	PG_TRY();
	{
		if (state->nrefs > 0)
			run_refs(state, rel, oldtuple, true);
		mark_row(rel, oldtuple, state->common.attnum, state->common.atttypid);
		if (state->nrefs > 0)
			run_refs(state, rel, oldtuple, false);
	}
	PG_FINALLY();
	{
		((SoftDeleteState *) fcinfo->flinfo->fn_extra)->busy--;
	}
	PG_END_TRY();
}

/* ----------------------------------------------------------------
 * The trigger
 * ----------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(dbcore_soft_delete);
Datum
dbcore_soft_delete(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	SoftDeleteState *state;
	Relation	rel;
	HeapTuple	oldtuple;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function dbcore.soft_delete() was not called by trigger manager"),
				 errhint("Call dbcore.enable_soft_delete() to create the trigger.")));
	rel = trigdata->tg_relation;
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!(TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) ||
		  TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event)) ||
		rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on relation \"%s\" must be fired BEFORE DELETE FOR EACH ROW on a table",
						trigdata->tg_trigger->tgname, RelationGetRelationName(rel)),
				 errhint("Call dbcore.enable_soft_delete() to create the trigger.")));

	state = soft_delete_get_state(fcinfo, trigdata);
	oldtuple = trigdata->tg_trigtuple;

	/*
	 * BEFORE UPDATE (partitioned tables only): remember the row; if the
	 * UPDATE moves it to another partition, its DELETE comes next.
	 */
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		moving_relid = RelationGetRelid(rel);
		moving_tid = oldtuple->t_self;
		return PointerGetDatum(trigdata->tg_newtuple);
	}

	/* Row movement, a foreign-key action, purge_deleted(): delete for good. */
	if (moving_relid == RelationGetRelid(rel) &&
		ItemPointerEquals(&moving_tid, &oldtuple->t_self))
	{
		moving_relid = InvalidOid;
		return PointerGetDatum(oldtuple);
	}
	if (delete_depth > 0 || InNoForceRLSOperation())
		return PointerGetDatum(oldtuple);

	/* Marked already (seen with dbcore.show_deleted): stays as it is. */
	if (!heap_attisnull(oldtuple, state->common.attnum, RelationGetDescr(rel)))
		return PointerGetDatum(NULL);

	if (state->refs_epoch != relcache_epoch && state->busy == 0)
		build_refs(state, rel, dbcore_schema_of(fcinfo));
	mark_and_cascade(fcinfo, state, rel, oldtuple);
	return PointerGetDatum(NULL);
}
