/*-------------------------------------------------------------------------
 *
 * updated_at.c
 *		dbcore.updated_at(): a BEFORE ROW trigger that keeps a modification
 *		timestamp column current.
 *
 * Trigger arguments: the first names the column (default "updated_at"); any
 * further ones are options:
 *
 *	skip_noop			leave the timestamp alone when the UPDATE changed
 *						nothing else in the row
 *	keep_explicit		keep a value the UPDATE itself wrote to the column
 *	transaction_timestamp	use now(), the transaction start (the default)
 *	statement_timestamp	use statement_timestamp()
 *	clock_timestamp		use clock_timestamp(), the wall clock per row
 *
 * Fired BEFORE UPDATE it stamps the row; fired BEFORE INSERT it fills the
 * column only when the new row leaves it NULL.
 *
 * Everything the trigger needs to know about its table (column number and
 * type, parsed options) is worked out once per trigger and kept in the
 * per-trigger state of common.c, keyed by the trigger's OID; a changed table
 * (column renamed, dropped, added or retyped; trigger replaced) makes the
 * next row recompute it.  The per-row path does no catalog lookup, no SPI and no string work.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "citus.h"
#include "common.h"
#include "compat.h"
#include "updated_at.h"

#define UPDATED_AT_DEFAULT_COLUMN "updated_at"

typedef enum UpdatedAtClock
{
	UA_CLOCK_TRANSACTION,		/* now(): transaction start */
	UA_CLOCK_STATEMENT,			/* statement_timestamp() */
	UA_CLOCK_WALL				/* clock_timestamp(): each row */
} UpdatedAtClock;

/* What one trigger on one table needs per row (see DbcoreTriggerState). */
typedef struct UpdatedAtState
{
	DbcoreTriggerState common;	/* the timestamp column and its type
								 * (TIMESTAMPTZOID or TIMESTAMPOID) */
	bool		skip_noop;
	bool		keep_explicit;
	UpdatedAtClock clock;
} UpdatedAtState;

static DbcoreTriggerCache updated_at_states = {
	"dbcore updated_at trigger states", sizeof(UpdatedAtState), NULL
};

/* dbcore.auto_updated_at: attach the updated_at trigger to new tables. */
static bool auto_updated_at = false;

/* Last timestamptz -> timestamp conversion, reused while nothing changes. */
static TimestampTz local_cache_in = DT_NOBEGIN;
static pg_tz *local_cache_zone = NULL;
static Timestamp local_cache_out = 0;

PG_FUNCTION_INFO_V1(dbcore_updated_at);

void
dbcore_updated_at_init(void)
{
	DefineCustomBoolVariable("dbcore.auto_updated_at",
							 "Attaches dbcore.updated_at() to every new table that has an \"updated_at\" column.",
							 "Read by the dbcore_auto_updated_at event trigger when a table is created.",
							 &auto_updated_at,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
}

/*
 * Work out the state of one trigger from its arguments and its table's tuple
 * descriptor.  Runs once per trigger (and again after the table changed);
 * every misuse that depends on the table is reported here.
 */
static void
updated_at_compute_state(UpdatedAtState *state, TriggerData *trigdata)
{
	Trigger    *trigger = trigdata->tg_trigger;
	Relation	rel = trigdata->tg_relation;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	const char *colname = UPDATED_AT_DEFAULT_COLUMN;
	const char *clock_option = NULL;
	Form_pg_attribute attr = NULL;
	int			i;

	state->common.valid = false;
	state->common.relid = RelationGetRelid(rel);
	state->skip_noop = false;
	state->keep_explicit = false;
	state->clock = UA_CLOCK_TRANSACTION;

	if (trigger->tgnargs > 0)
		colname = trigger->tgargs[0];
	if (strlen(colname) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("trigger \"%s\" on relation \"%s\" names a column longer than %d bytes",
						trigger->tgname, RelationGetRelationName(rel), NAMEDATALEN - 1),
				 errdetail("No column can have such a name."),
				 errhint("The first argument of dbcore.updated_at() is the column to maintain, such as 'updated_at'.")));
	if (colname[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("trigger \"%s\" on relation \"%s\" names an empty column",
						trigger->tgname, RelationGetRelationName(rel)),
				 errhint("The first argument of dbcore.updated_at() is the column to maintain, such as 'updated_at'.")));

	for (i = 1; i < trigger->tgnargs; i++)
	{
		const char *opt = trigger->tgargs[i];
		UpdatedAtClock clock = UA_CLOCK_TRANSACTION;

		if (pg_strcasecmp(opt, "skip_noop") == 0)
		{
			state->skip_noop = true;
			continue;
		}
		if (pg_strcasecmp(opt, "keep_explicit") == 0)
		{
			state->keep_explicit = true;
			continue;
		}
		if (pg_strcasecmp(opt, "transaction_timestamp") == 0)
			clock = UA_CLOCK_TRANSACTION;
		else if (pg_strcasecmp(opt, "statement_timestamp") == 0)
			clock = UA_CLOCK_STATEMENT;
		else if (pg_strcasecmp(opt, "clock_timestamp") == 0)
			clock = UA_CLOCK_WALL;
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized dbcore.updated_at() option \"%s\" in trigger \"%s\" on relation \"%s\"",
							dbcore_clip(opt), trigger->tgname, RelationGetRelationName(rel)),
					 errhint("Valid options are skip_noop, keep_explicit, transaction_timestamp, statement_timestamp and clock_timestamp; the first trigger argument is the column name.")));

		if (clock_option != NULL && clock != state->clock)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("conflicting dbcore.updated_at() options \"%s\" and \"%s\" in trigger \"%s\" on relation \"%s\"",
							clock_option, opt, trigger->tgname,
							RelationGetRelationName(rel)),
					 errhint("Name at most one of transaction_timestamp, statement_timestamp and clock_timestamp.")));
		clock_option = opt;
		state->clock = clock;
	}

	attr = dbcore_find_column(tupdesc, colname);
	if (attr == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						colname, RelationGetRelationName(rel)),
				 errdetail("Trigger \"%s\" calls dbcore.updated_at() for that column.",
						   trigger->tgname),
				 errhint("Add the column, or recreate the trigger with dbcore.attach_updated_at() naming an existing column.")));

	if (attr->attgenerated != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_GENERATED_ALWAYS),
				 errmsg("column \"%s\" of relation \"%s\" is a generated column",
						colname, RelationGetRelationName(rel)),
				 errdetail("dbcore.updated_at() cannot write to a generated column."),
				 errhint("Point the trigger at a regular timestamptz or timestamp column.")));

	if (attr->atttypid != TIMESTAMPTZOID && attr->atttypid != TIMESTAMPOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of relation \"%s\" is of type %s",
						colname, RelationGetRelationName(rel),
						format_type_be(attr->atttypid)),
				 errdetail("dbcore.updated_at() maintains columns of type timestamp with time zone or timestamp without time zone."),
				 errhint("Change the column's type, or name another column in the trigger arguments.")));

	state->common.attnum = attr->attnum;
	state->common.atttypid = attr->atttypid;
	state->common.valid = true;
}

/*
 * Find (or build) the state for the trigger being fired.  The FmgrInfo of a
 * trigger lives for the whole statement, so fn_extra remembers the hash entry
 * and most rows skip even the hash lookup.
 */
static UpdatedAtState *
updated_at_get_state(FunctionCallInfo fcinfo, TriggerData *trigdata)
{
	Trigger    *trigger = trigdata->tg_trigger;
	UpdatedAtState *state = (UpdatedAtState *) fcinfo->flinfo->fn_extra;

	if (state == NULL || state->common.tgoid != trigger->tgoid)
	{
		state = (UpdatedAtState *) dbcore_trigger_state(&updated_at_states,
														trigger->tgoid);
		fcinfo->flinfo->fn_extra = state;
	}
	if (dbcore_trigger_state_stale(&state->common, trigdata))
		updated_at_compute_state(state, trigdata);
	return state;
}

/* The timestamp to store, as a Datum of the column's type. */
static Datum
updated_at_value(const UpdatedAtState *state)
{
	TimestampTz now;

	switch (state->clock)
	{
		case UA_CLOCK_STATEMENT:
			now = GetCurrentStatementStartTimestamp();
			break;
		case UA_CLOCK_WALL:
			now = GetCurrentTimestamp();
			break;
		case UA_CLOCK_TRANSACTION:
		default:
			now = GetCurrentTransactionStartTimestamp();
			break;
	}

	if (state->common.atttypid == TIMESTAMPTZOID)
		return TimestampTzGetDatum(now);

	/*
	 * timestamp without time zone: local time in the session's TimeZone, as
	 * now()::timestamp gives.  Rows of one statement usually share both the
	 * instant and the zone, so the last conversion is reused.
	 */
	if (now != local_cache_in || session_timezone != local_cache_zone)
	{
		local_cache_out = DatumGetTimestamp(DirectFunctionCall1(timestamptz_timestamp,
																TimestampTzGetDatum(now)));
		local_cache_in = now;
		local_cache_zone = session_timezone;
	}
	return TimestampGetDatum(local_cache_out);
}

/* Did the UPDATE change any column besides the timestamp column? */
static bool
updated_at_row_changed(HeapTuple oldtuple, HeapTuple newtuple,
					   TupleDesc tupdesc, int skip_attnum)
{
	int			natts = tupdesc->natts;
	Datum	   *oldvalues;
	Datum	   *newvalues;
	bool	   *oldnulls;
	bool	   *newnulls;
	int			i;

	/* Same bytes: nothing changed at all. */
	if (oldtuple->t_len == newtuple->t_len &&
		oldtuple->t_data->t_hoff == newtuple->t_data->t_hoff &&
		memcmp(oldtuple->t_data->t_bits, newtuple->t_data->t_bits,
			   oldtuple->t_len - offsetof(HeapTupleHeaderData, t_bits)) == 0 &&
		HeapTupleHeaderGetNatts(oldtuple->t_data) ==
		HeapTupleHeaderGetNatts(newtuple->t_data))
		return false;

	/* Freed with the per-tuple memory context the trigger runs in. */
	oldvalues = palloc(natts * sizeof(Datum));
	newvalues = palloc(natts * sizeof(Datum));
	oldnulls = palloc(natts * sizeof(bool));
	newnulls = palloc(natts * sizeof(bool));
	heap_deform_tuple(oldtuple, tupdesc, oldvalues, oldnulls);
	heap_deform_tuple(newtuple, tupdesc, newvalues, newnulls);

	for (i = 0; i < natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, i);

		if (attr->attisdropped || attr->attnum == skip_attnum)
			continue;
		if (!dbcore_datum_same(oldvalues[i], oldnulls[i],
							   newvalues[i], newnulls[i], attr))
			return true;
	}
	return false;
}

/*
 * Byte offset of attribute attnum within the data area of tuple, which must
 * hold a non-NULL value for it.  Walks the columns before it the way
 * heap_deform_tuple does, or uses the cached offset when the row has no
 * NULLs and only fixed-width columns come first.
 */
static uint32
updated_at_attr_offset(HeapTuple tuple, TupleDesc tupdesc, int attnum)
{
	HeapTupleHeader tup = tuple->t_data;
	char	   *tp = (char *) tup + tup->t_hoff;
	bool		hasnulls = HeapTupleHasNulls(tuple);
	Form_pg_attribute target = TupleDescAttr(tupdesc, attnum - 1);
	uint32		off = 0;
	int			i;

	if (!hasnulls && dbcore_compat_attcacheoff(tupdesc, attnum - 1) >= 0)
		return dbcore_compat_attcacheoff(tupdesc, attnum - 1);

	for (i = 0; i < attnum - 1; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);

		if (hasnulls && att_isnull(i, tup->t_bits))
			continue;
		off = att_align_pointer(off, att->attalign, att->attlen, tp + off);
		off = att_addlength_pointer(off, att->attlen, tp + off);
	}
	return att_align_nominal(off, target->attalign);
}

/*
 * Return a copy of tuple with attribute attnum set to value.  A timestamp is
 * fixed-width, so when the row already holds a value for the column the copy
 * is patched in place: much cheaper than heap_modify_tuple_by_cols, which
 * takes the whole row apart and forms it again.  A NULL or physically
 * missing column changes the row's layout and takes the general path.
 */
static HeapTuple
updated_at_set_column(HeapTuple tuple, TupleDesc tupdesc, int attnum,
					  Datum value)
{
	Form_pg_attribute att = TupleDescAttr(tupdesc, attnum - 1);
	HeapTuple	copy;
	char	   *dest;
	bool		isnull = false;

	if (attnum > HeapTupleHeaderGetNatts(tuple->t_data) ||
		heap_attisnull(tuple, attnum, tupdesc))
		return heap_modify_tuple_by_cols(tuple, tupdesc, 1, &attnum,
										 &value, &isnull);

	copy = heap_copytuple(tuple);
	dest = (char *) copy->t_data + copy->t_data->t_hoff +
		updated_at_attr_offset(copy, tupdesc, attnum);
	if (att->attbyval)
		store_att_byval(dest, value, att->attlen);
	else
		memcpy(dest, DatumGetPointer(value), att->attlen);
	return copy;
}

Datum
dbcore_updated_at(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	UpdatedAtState *state;
	TupleDesc	tupdesc;
	HeapTuple	newtuple;
	Datum		value;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function dbcore.updated_at() was not called by trigger manager"),
				 errhint("Use it in a trigger: CREATE TRIGGER ... BEFORE UPDATE ON ... FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at(), or call dbcore.attach_updated_at().")));

	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on relation \"%s\" must be fired FOR EACH ROW",
						trigdata->tg_trigger->tgname,
						RelationGetRelationName(trigdata->tg_relation)),
				 errhint("Recreate it as BEFORE UPDATE ... FOR EACH ROW, or call dbcore.attach_updated_at().")));

	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on relation \"%s\" must be fired BEFORE",
						trigdata->tg_trigger->tgname,
						RelationGetRelationName(trigdata->tg_relation)),
				 errdetail("AFTER and INSTEAD OF triggers cannot change the row being written."),
				 errhint("Recreate it as BEFORE UPDATE ... FOR EACH ROW, or call dbcore.attach_updated_at().")));

	if (!TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) &&
		!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on relation \"%s\" must be fired for UPDATE or INSERT",
						trigdata->tg_trigger->tgname,
						RelationGetRelationName(trigdata->tg_relation)),
				 errhint("Recreate it as BEFORE UPDATE (or BEFORE INSERT OR UPDATE) ... FOR EACH ROW.")));

	state = updated_at_get_state(fcinfo, trigdata);
	tupdesc = RelationGetDescr(trigdata->tg_relation);

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		/* INSERT: fill the column only when the row leaves it NULL. */
		newtuple = trigdata->tg_trigtuple;
		if (!heap_attisnull(newtuple, state->common.attnum, tupdesc))
			return PointerGetDatum(newtuple);
	}
	else
	{
		HeapTuple	oldtuple = trigdata->tg_trigtuple;

		newtuple = trigdata->tg_newtuple;

		if (state->keep_explicit)
		{
			bool		oldnull;
			bool		newnull;
			Datum		oldval = heap_getattr(oldtuple, state->common.attnum, tupdesc, &oldnull);
			Datum		newval = heap_getattr(newtuple, state->common.attnum, tupdesc, &newnull);

			if (!dbcore_datum_same(oldval, oldnull, newval, newnull,
								   TupleDescAttr(tupdesc, state->common.attnum - 1)))
				return PointerGetDatum(newtuple);
		}

		if (state->skip_noop &&
			!updated_at_row_changed(oldtuple, newtuple, tupdesc, state->common.attnum))
			return PointerGetDatum(newtuple);
	}

	value = updated_at_value(state);
	return PointerGetDatum(updated_at_set_column(newtuple, tupdesc,
												 state->common.attnum, value));
}

/* ----------------------------------------------------------------
 * dbcore.auto_updated_at: attach the trigger to new tables
 * ----------------------------------------------------------------
 */

/*
 * Has the new table relid an "updated_at" column that dbcore.updated_at()
 * can maintain, and no updated_at trigger yet (a partition gets its
 * parent's clone)?
 */
static bool
wants_auto_updated_at(Oid relid, Oid funcoid)
{
	char		relkind = get_rel_relkind(relid);
	AttrNumber	attnum;
	Oid			typid;
	Relation	rel;
	bool		has_trigger = false;
	int			i;

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		return false;
	attnum = get_attnum(relid, UPDATED_AT_DEFAULT_COLUMN);
	if (attnum <= 0 || get_attgenerated(relid, attnum) != '\0')
		return false;
	typid = get_atttype(relid, attnum);
	if (typid != TIMESTAMPTZOID && typid != TIMESTAMPOID)
		return false;

	rel = table_open(relid, AccessShareLock);
	if (rel->trigdesc != NULL)
		for (i = 0; i < rel->trigdesc->numtriggers; i++)
			if (rel->trigdesc->triggers[i].tgfoid == funcoid)
				has_trigger = true;
	table_close(rel, AccessShareLock);
	return !has_trigger;
}

/*
 * dbcore.auto_attach_updated_at(), the dbcore_auto_updated_at event trigger
 * (ddl_command_end of CREATE TABLE, CREATE TABLE AS and SELECT INTO): while
 * dbcore.auto_updated_at is on, gives each new table with an updated_at
 * column the trigger dbcore_updated_at, BEFORE UPDATE, as
 * dbcore.attach_updated_at() would with its defaults.
 *
 * It runs as the role that created the table (its owner), never as anyone
 * else, and needs no privilege on dbcore's schema: the trigger function is
 * found by catalog lookup and the trigger made by the routine CREATE TRIGGER
 * uses (which checks the TRIGGER privilege and EXECUTE on the function).
 * The only SQL it runs, with search_path pinned, reads the command's
 * objects from pg_event_trigger_ddl_commands().
 */
PG_FUNCTION_INFO_V1(dbcore_auto_attach_updated_at);
Datum
dbcore_auto_attach_updated_at(PG_FUNCTION_ARGS)
{
	Oid			nspoid;
	Oid			funcoid;
	List	   *created = NIL;
	ListCell   *lc;
	int			nestlevel;
	int			ret;
	uint64		i;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function dbcore.auto_attach_updated_at() was not called by event trigger manager")));
	if (!auto_updated_at)
		PG_RETURN_VOID();
	/*
	 * On Citus, the tables Citus creates on a worker (shards, the worker's
	 * copies of distributed tables), or on the coordinator through its own
	 * connections (placements of reference tables), get their triggers from
	 * the distributed table, updated_at among them: only a table created on
	 * the coordinator by a user gets one here.
	 */
	if (dbcore_citus_is_worker() || dbcore_citus_internal_connection())
		PG_RETURN_VOID();

	nspoid = dbcore_schema_of(fcinfo);
	funcoid = dbcore_function_oid(nspoid, "updated_at");
	if (!OidIsValid(funcoid))
		PG_RETURN_VOID();

	SPI_connect();
	nestlevel = dbcore_pin_search_path();
	ret = SPI_execute("SELECT d.objid FROM pg_catalog.pg_event_trigger_ddl_commands() d"
					  " WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
					  "   AND d.objsubid OPERATOR(pg_catalog.=) 0"
					  "   AND d.command_tag OPERATOR(pg_catalog.=) ANY ('{CREATE TABLE,CREATE TABLE AS,SELECT INTO}'::pg_catalog.text[])"
					  "   AND NOT d.in_extension",
					  true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		objid = SPI_getbinval(SPI_tuptable->vals[i],
										  SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			created = lappend_oid(created, DatumGetObjectId(objid));
	}
	dbcore_unpin_search_path(nestlevel);

	foreach(lc, created)
	{
		Oid			relid = lfirst_oid(lc);
		CreateTrigStmt *stmt;

		/* (a shard on the coordinator: as on a worker) */
		if (!wants_auto_updated_at(relid, funcoid) || dbcore_citus_is_shard(relid))
			continue;
		stmt = makeNode(CreateTrigStmt);
		stmt->trigname = pstrdup("dbcore_updated_at");
		stmt->relation = makeRangeVar(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid), -1);
		stmt->funcname = list_make2(makeString(get_namespace_name(nspoid)),
									makeString(pstrdup("updated_at")));
		stmt->args = list_make1(makeString(pstrdup(UPDATED_AT_DEFAULT_COLUMN)));
		stmt->row = true;
		stmt->timing = TRIGGER_TYPE_BEFORE;
		stmt->events = TRIGGER_TYPE_UPDATE;
		(void) CreateTrigger(stmt, "CREATE TRIGGER dbcore_updated_at", relid,
							 InvalidOid, InvalidOid, InvalidOid, funcoid,
							 InvalidOid, NULL, false, false);
		CommandCounterIncrement();
	}
	SPI_finish();
	PG_RETURN_VOID();
}
