/*-------------------------------------------------------------------------
 *
 * row_guard.c
 *		The row and TRUNCATE guards of tenant-scoped tables.
 *
 * The row guard, dbcore.tenant_row_guard(), is a BEFORE INSERT OR UPDATE
 * row trigger: it stamps the current client on inserted rows whose client
 * column is NULL, refuses rows naming another client and refuses any change
 * of the column.  Superusers and roles with BYPASSRLS (PostgreSQL's own
 * "system-level authorization" for row level security) pass.  The column is
 * looked up once per trigger (common.c's per-trigger state), the role once
 * per statement.
 *
 * The TRUNCATE guard, dbcore.tenant_truncate_guard(), refuses TRUNCATE,
 * which ignores row level security, to roles without system-level
 * authorization.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/uuid.h"

#include "client_scope.h"
#include "common.h"

/* ----------------------------------------------------------------
 * The row guard
 * ----------------------------------------------------------------
 */

/* What the trigger needs to know about its table: the client column. */
typedef struct RowGuardState
{
	DbcoreTriggerState common;
} RowGuardState;

/* Per statement (the trigger's FmgrInfo): the state and the role check. */
typedef struct RowGuardCall
{
	RowGuardState *state;
	Oid			userid;			/* InvalidOid: not checked yet */
	bool		system;
} RowGuardCall;

static DbcoreTriggerCache row_guard_states = {
	"dbcore tenant row guard states", sizeof(RowGuardState), NULL
};

static void
row_guard_compute_state(RowGuardState *state, TriggerData *trigdata)
{
	Trigger    *trigger = trigdata->tg_trigger;
	Relation	rel = trigdata->tg_relation;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	Form_pg_attribute attr;
	const char *colname;

	state->common.valid = false;
	state->common.relid = RelationGetRelid(rel);

	if (trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on relation \"%s\" must pass exactly one argument to dbcore.tenant_row_guard()",
						trigger->tgname, RelationGetRelationName(rel)),
				 errhint("Call dbcore.enable_tenant_scoping() to create the trigger.")));
	colname = trigger->tgargs[0];

	attr = dbcore_find_column(tupdesc, colname);
	if (attr == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						colname, RelationGetRelationName(rel)),
				 errdetail("Trigger \"%s\" guards that column as the client column.",
						   trigger->tgname)));
	if (!dbcore_client_type_supported(attr->atttypid))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("client column \"%s\" of relation \"%s\" is of type %s",
						colname, RelationGetRelationName(rel),
						format_type_be(attr->atttypid)),
				 errdetail("Client columns must be of type uuid, bigint, integer or text.")));

	state->common.attnum = attr->attnum;
	state->common.atttypid = attr->atttypid;
	state->common.valid = true;
}

static RowGuardCall *
row_guard_get_call(FunctionCallInfo fcinfo, TriggerData *trigdata)
{
	Trigger    *trigger = trigdata->tg_trigger;
	RowGuardCall *call = (RowGuardCall *) fcinfo->flinfo->fn_extra;
	Oid			userid = GetUserId();

	if (call == NULL)
	{
		call = (RowGuardCall *) MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt,
													   sizeof(RowGuardCall));
		fcinfo->flinfo->fn_extra = call;
	}
	if (call->state == NULL || call->state->common.tgoid != trigger->tgoid)
		call->state = (RowGuardState *) dbcore_trigger_state(&row_guard_states,
															 trigger->tgoid);
	if (dbcore_trigger_state_stale(&call->state->common, trigdata))
		row_guard_compute_state(call->state, trigdata);

	/* The role check, once per statement and role. */
	if (call->userid != userid)
	{
		call->system = dbcore_has_system_authorization(userid);
		call->userid = userid;
	}
	return call;
}

static bool
client_values_equal(Datum a, Datum b, Oid typid)
{
	switch (typid)
	{
		case UUIDOID:
			return memcmp(DatumGetUUIDP(a), DatumGetUUIDP(b),
						  sizeof(pg_uuid_t)) == 0;
		case INT8OID:
			return DatumGetInt64(a) == DatumGetInt64(b);
		case INT4OID:
			return DatumGetInt32(a) == DatumGetInt32(b);
		default:
			{
				text	   *ta = DatumGetTextPP(a);
				text	   *tb = DatumGetTextPP(b);

				return VARSIZE_ANY_EXHDR(ta) == VARSIZE_ANY_EXHDR(tb) &&
					memcmp(VARDATA_ANY(ta), VARDATA_ANY(tb),
						   VARSIZE_ANY_EXHDR(ta)) == 0;
			}
	}
}

static void
report_foreign_client(Relation rel, const char *colname)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("new row for relation \"%s\" belongs to another client",
					RelationGetRelationName(rel)),
			 errdetail("Column \"%s\" must hold the current client, dbcore.current_client_id().",
					   colname),
			 errhint("Leave the column NULL (or out of the INSERT) to have the current client filled in.")));
}

PG_FUNCTION_INFO_V1(dbcore_tenant_row_guard);
Datum
dbcore_tenant_row_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	RowGuardCall *call;
	RowGuardState *state;
	TupleDesc	tupdesc;
	HeapTuple	newtuple;
	Datum		value;
	bool		isnull;
	const char *colname;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function dbcore.tenant_row_guard() was not called by trigger manager"),
				 errhint("Call dbcore.enable_tenant_scoping() to create the trigger.")));
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ||
		  TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on relation \"%s\" must be fired BEFORE INSERT OR UPDATE FOR EACH ROW",
						trigdata->tg_trigger->tgname,
						RelationGetRelationName(trigdata->tg_relation)),
				 errhint("Call dbcore.enable_tenant_scoping() to create the trigger.")));

	call = row_guard_get_call(fcinfo, trigdata);
	state = call->state;
	tupdesc = RelationGetDescr(trigdata->tg_relation);
	colname = NameStr(TupleDescAttr(tupdesc, state->common.attnum - 1)->attname);

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		newtuple = trigdata->tg_trigtuple;
		value = heap_getattr(newtuple, state->common.attnum, tupdesc, &isnull);
		if (isnull)
		{
			Datum		stamp;

			/*
			 * A system role without a scope leaves the column NULL: the NOT
			 * NULL constraint then reports the missing client.
			 */
			if (call->system && dbcore_scope_in_force() == NULL)
				return PointerGetDatum(newtuple);
			stamp = dbcore_current_client_datum(state->common.atttypid);
			isnull = false;
			newtuple = heap_modify_tuple_by_cols(newtuple, tupdesc, 1,
												 &state->common.attnum, &stamp, &isnull);
			return PointerGetDatum(newtuple);
		}
		if (!call->system && !dbcore_is_current_client(value, state->common.atttypid))
			report_foreign_client(trigdata->tg_relation, colname);
		return PointerGetDatum(newtuple);
	}
	else
	{
		Datum		oldvalue;
		bool		oldnull;

		newtuple = trigdata->tg_newtuple;
		if (call->system)
			return PointerGetDatum(newtuple);

		value = heap_getattr(newtuple, state->common.attnum, tupdesc, &isnull);
		oldvalue = heap_getattr(trigdata->tg_trigtuple, state->common.attnum,
								tupdesc, &oldnull);
		if (isnull != oldnull ||
			(!isnull && !client_values_equal(value, oldvalue, state->common.atttypid)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("cannot change client column \"%s\" of relation \"%s\"",
							colname, RelationGetRelationName(trigdata->tg_relation)),
					 errdetail("Rows cannot move from one client to another."),
					 errhint("Only a superuser or a role with BYPASSRLS can move rows between clients.")));
		if (!isnull && !dbcore_is_current_client(value, state->common.atttypid))
			report_foreign_client(trigdata->tg_relation, colname);
		return PointerGetDatum(newtuple);
	}
}

/* ----------------------------------------------------------------
 * The TRUNCATE guard
 * ----------------------------------------------------------------
 */
PG_FUNCTION_INFO_V1(dbcore_tenant_truncate_guard);
Datum
dbcore_tenant_truncate_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function dbcore.tenant_truncate_guard() was not called by trigger manager"),
				 errhint("Call dbcore.enable_tenant_scoping() to create the trigger.")));
	if (!TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on relation \"%s\" must be fired BEFORE TRUNCATE",
						trigdata->tg_trigger->tgname,
						RelationGetRelationName(trigdata->tg_relation)),
				 errhint("Call dbcore.enable_tenant_scoping() to create the trigger.")));

	if (!dbcore_has_system_authorization(GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to truncate tenant-scoped table \"%s\"",
						RelationGetRelationName(trigdata->tg_relation)),
				 errdetail("TRUNCATE ignores row level security and would remove the rows of every client."),
				 errhint("Remove the current client's rows with DELETE, or run TRUNCATE as a superuser or a role with BYPASSRLS.")));

	return PointerGetDatum(NULL);
}
