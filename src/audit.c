/*-------------------------------------------------------------------------
 *
 * audit.c
 *		The audit trail: dbcore.audit(), an AFTER row trigger (and AFTER
 *		TRUNCATE statement trigger) that writes one row of dbcore.audit_log
 *		per change, and the dbcore.actor setting.
 *
 * For each change the trigger records the operation, the table (for a
 * partition: its partitioned table), the row's key (its primary key, or
 * replica identity index, as text), the values as jsonb (the whole new row
 * for an INSERT, the whole old row for a DELETE, the changed columns old
 * and new for an UPDATE; columns named in the trigger arguments left out),
 * the client of the row when the table is tenant-scoped, the role the
 * session acts as, and the application's actor.  An UPDATE of a
 * soft-delete table that sets the mark is recorded as SOFT DELETE, one
 * that clears it as RESTORE; an UPDATE that changes no recorded column
 * writes nothing.
 *
 * Everything about the table is worked out once per trigger and kept in
 * the per-trigger state (common.c): the columns, how each converts to
 * jsonb (the rules of to_jsonb(), decided per column; arrays, composites
 * and types with a cast to json call to_jsonb() itself), the key columns
 * and their output, the client column (dbcore's row guard names it), the
 * soft-delete column.  Per row there is no catalog lookup and no SPI.
 * Output functions and casts run as the modifying role, as in any
 * trigger; nothing runs with another identity.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/partition.h"
#include "catalog/pg_cast.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "audit.h"
#include "citus.h"
#include "common.h"
#include "compat.h"
#include "soft_delete.h"

#define ACTOR_GUC			"dbcore.actor"
#define ACTOR_MAX_LEN		1024

/* dbcore.actor */
static char *actor_setting = NULL;

/* ----------------------------------------------------------------
 * dbcore.actor
 * ----------------------------------------------------------------
 */

static bool
check_actor(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (!dbcore_guc_check_session_source(ACTOR_GUC, source,
										 "The actor must not outlive the transaction that sets it.",
										 "Set the actor in each transaction with dbcore.set_actor() or SET LOCAL " ACTOR_GUC "."))
		return false;
	if (strlen(*newval) > ACTOR_MAX_LEN)
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		GUC_check_errmsg("value for %s is too long", ACTOR_GUC);
		GUC_check_errdetail("At most %d bytes are accepted.", ACTOR_MAX_LEN);
		return false;
	}
	return true;
}

/* Like the client scope, the actor ends with its transaction. */
static void
audit_xact_callback(XactEvent event, void *arg)
{
	if ((event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE) &&
		actor_setting != NULL && actor_setting[0] != '\0')
		dbcore_guc_set_session(ACTOR_GUC, "");
}

/* The name of the last role that wrote the log, as text (TopMemoryContext). */
static Oid	role_name_of = InvalidOid;
static Datum role_name = (Datum) 0;

/* A role was renamed or dropped: look the name up again. */
static void
role_name_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	role_name_of = InvalidOid;
}

/* The name of the role that changes the row (the session's, as SET ROLE made it). */
static Datum
current_role_name(void)
{
	Oid			roleid = GetOuterUserId();

	if (roleid != role_name_of)
	{
		char	   *name = GetUserNameFromId(roleid, false);

		if (role_name != (Datum) 0)
			pfree(DatumGetPointer(role_name));
		role_name = PointerGetDatum(MemoryContextAlloc(TopMemoryContext, VARHDRSZ + strlen(name)));
		SET_VARSIZE(DatumGetPointer(role_name), VARHDRSZ + strlen(name));
		memcpy(VARDATA(DatumGetPointer(role_name)), name, strlen(name));
		role_name_of = roleid;
	}
	return role_name;
}

void
dbcore_audit_init(void)
{
	DefineCustomStringVariable(ACTOR_GUC,
							   "Who the application acts for: recorded in dbcore's audit log.",
							   "Set it per transaction with dbcore.set_actor() or SET LOCAL.",
							   &actor_setting,
							   "",
							   PGC_USERSET,
							   GUC_NOT_IN_SAMPLE,
							   check_actor, NULL, NULL);
	RegisterXactCallback(audit_xact_callback, NULL);
	CacheRegisterSyscacheCallback(AUTHOID, role_name_callback, (Datum) 0);
	dbcore_audit_log_init();
}

/* dbcore.set_actor(actor text) RETURNS void: SET LOCAL dbcore.actor */
PG_FUNCTION_INFO_V1(dbcore_set_actor);
Datum
dbcore_set_actor(PG_FUNCTION_ARGS)
{
	(void) set_config_option(ACTOR_GUC,
							 PG_ARGISNULL(0) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(0)),
							 superuser() ? PGC_SUSET : PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
	PG_RETURN_VOID();
}

/* ----------------------------------------------------------------
 * The trigger's state
 * ----------------------------------------------------------------
 */

/* How a column's values become jsonb: to_jsonb()'s categories. */
typedef enum AuditCategory
{
	AC_BOOL,
	AC_INTEGER,					/* int2, int4, int8 */
	AC_FLOAT,					/* float4, float8: numbers unless NaN/Inf */
	AC_NUMERIC,
	AC_DATETIME,				/* date, timestamp, timestamptz: ISO 8601 */
	AC_TEXT,					/* text, varchar, bpchar: the value itself */
	AC_JSONB,
	AC_TO_JSONB,				/* json, arrays, composites, casts to json */
	AC_OUTPUT					/* anything else: its output, as a string */
} AuditCategory;

typedef struct AuditColumn
{
	int			index;			/* 0-based attribute number */
	JsonbValue	key;			/* its name, as a jsonb key */
	Oid			typid;			/* base type */
	AuditCategory category;
	FmgrInfo	func;			/* output function, or to_jsonb() */
} AuditColumn;

typedef struct AuditState
{
	DbcoreTriggerState common;	/* the first live column */
	MemoryContext cxt;			/* what the pointers below point to */
	Oid			tbl;			/* the table recorded: the partition root */
	Datum		table_name;		/* its qualified name, text */
	int			ncolumns;		/* recorded columns */
	AuditColumn *columns;
	int		   *key_order;		/* indexes into columns, in jsonb key order */
	int			nkeys;
	AttrNumber	keys[INDEX_MAX_KEYS];
	FmgrInfo	key_out;		/* the key's output: column's or record_out */
	TupleDesc	key_desc;		/* blessed, for more than one key column */
	int			client_index;	/* the client column, or -1 */
	FmgrInfo	client_out;
	int			mark_index;		/* the soft-delete column, or -1 */
} AuditState;

/* Per statement: the state and the log. */
typedef struct AuditCall
{
	AuditState *state;
	AuditLogWriter *writer;
} AuditCall;


static DbcoreTriggerCache audit_states = {
	"dbcore audit trigger states", sizeof(AuditState), NULL
};

static AuditCategory
categorize(Oid typid)
{
	Oid			castfunc;

	switch (typid)
	{
		case BOOLOID:
			return AC_BOOL;
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return AC_INTEGER;
		case FLOAT4OID:
		case FLOAT8OID:
			return AC_FLOAT;
		case NUMERICOID:
			return AC_NUMERIC;
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return AC_DATETIME;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			return AC_TEXT;
		case JSONBOID:
			return AC_JSONB;
		case JSONOID:
			return AC_TO_JSONB;
		default:
			break;
	}
	if (OidIsValid(get_element_type(typid)) || type_is_rowtype(typid))
		return AC_TO_JSONB;
	/* as to_jsonb(): a type of a user's with a cast to json uses it */
	if (typid >= FirstNormalObjectId &&
		find_coercion_pathway(JSONOID, typid, COERCION_EXPLICIT, &castfunc) == COERCION_PATH_FUNC &&
		OidIsValid(castfunc))
		return AC_TO_JSONB;
	return AC_OUTPUT;
}

/* to_jsonb(anyelement) for values of attribute attr, resolved once. */
static void
setup_to_jsonb(FmgrInfo *func, Form_pg_attribute attr, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);

	fmgr_info_cxt(F_TO_JSONB, func, cxt);
	func->fn_expr = (Node *) makeFuncExpr(F_TO_JSONB, JSONBOID,
										  list_make1(makeNullConst(attr->atttypid, attr->atttypmod,
																   attr->attcollation)),
										  InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
	MemoryContextSwitchTo(old);
}

static void
setup_output(FmgrInfo *func, Oid typid, MemoryContext cxt)
{
	Oid			outfunc;
	bool		isvarlena;

	getTypeOutputInfo(typid, &outfunc, &isvarlena);
	fmgr_info_cxt(outfunc, func, cxt);
}

/* jsonb's order of object keys: shorter first, then byte by byte. */
static int
key_cmp(const void *a, const void *b, void *arg)
{
	const AuditColumn *columns = (const AuditColumn *) arg;
	const JsonbValue *ka = &columns[*(const int *) a].key;
	const JsonbValue *kb = &columns[*(const int *) b].key;

	if (ka->val.string.len != kb->val.string.len)
		return ka->val.string.len < kb->val.string.len ? -1 : 1;
	return memcmp(ka->val.string.val, kb->val.string.val, ka->val.string.len);
}

/*
 * The recorded columns in the order a jsonb object keeps its keys, worked
 * out once: objects are then built already sorted (see row_object()).
 */
static void
sort_columns(AuditState *state)
{
	int			i;

	state->key_order = (int *) MemoryContextAlloc(state->cxt, sizeof(int) * Max(state->ncolumns, 1));
	for (i = 0; i < state->ncolumns; i++)
		state->key_order[i] = i;
	qsort_arg(state->key_order, state->ncolumns, sizeof(int), key_cmp, state->columns);
}

/* The column a dbcore trigger function of the table names, or -1. */
static int
column_of_trigger(Relation rel, Oid funcoid)
{
	TriggerDesc *trigdesc = rel->trigdesc;
	int			i;

	if (trigdesc == NULL || !OidIsValid(funcoid))
		return -1;
	for (i = 0; i < trigdesc->numtriggers; i++)
	{
		Trigger    *t = &trigdesc->triggers[i];
		Form_pg_attribute attr;

		if (t->tgfoid != funcoid || t->tgenabled == TRIGGER_DISABLED || t->tgnargs < 1)
			continue;
		attr = dbcore_find_column(RelationGetDescr(rel), t->tgargs[0]);
		if (attr != NULL)
			return attr->attnum - 1;
	}
	return -1;
}

/* The key columns: the primary key's, else the replica identity index's. */
static void
find_key(AuditState *state, Relation rel)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	Oid			indexoid = dbcore_compat_primary_key_index(rel);
	HeapTuple	tuple;
	Form_pg_index index;
	int			i;

	state->nkeys = 0;
	if (!OidIsValid(indexoid))
		indexoid = RelationGetReplicaIndex(rel);
	if (!OidIsValid(indexoid))
		return;
	tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for index %u", indexoid);
	index = (Form_pg_index) GETSTRUCT(tuple);
	for (i = 0; i < index->indnkeyatts && index->indkey.values[i] > 0; i++)
		state->keys[state->nkeys++] = index->indkey.values[i];
	ReleaseSysCache(tuple);
	if (state->nkeys == 0)
		return;

	if (state->nkeys == 1)
		setup_output(&state->key_out, TupleDescAttr(tupdesc, state->keys[0] - 1)->atttypid,
					 state->cxt);
	else
	{
		MemoryContext old = MemoryContextSwitchTo(state->cxt);

		state->key_desc = CreateTemplateTupleDesc(state->nkeys);
		for (i = 0; i < state->nkeys; i++)
		{
			Form_pg_attribute attr = TupleDescAttr(tupdesc, state->keys[i] - 1);

			TupleDescInitEntry(state->key_desc, i + 1, NameStr(attr->attname),
							   attr->atttypid, attr->atttypmod, 0);
		}
		state->key_desc = BlessTupleDesc(state->key_desc);
		fmgr_info_cxt(F_RECORD_OUT, &state->key_out, state->cxt);
		MemoryContextSwitchTo(old);
	}
}

static void
audit_compute_state(AuditState *state, TriggerData *trigdata, Oid nspoid)
{
	Trigger    *trigger = trigdata->tg_trigger;
	Relation	rel = trigdata->tg_relation;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	Oid			root = RelationGetRelid(rel);
	int			i;

	state->common.valid = false;
	state->common.relid = RelationGetRelid(rel);
	dbcore_citus_refuse_trigger(rel, "the audit trail");
	if (state->cxt == NULL)
		state->cxt = AllocSetContextCreate(TopMemoryContext, "dbcore audit trigger state",
										   ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(state->cxt);

	/* Excluded columns must exist: a renamed secret must not slip in. */
	for (i = 0; i < trigger->tgnargs; i++)
		if (dbcore_find_column(tupdesc, trigger->tgargs[i]) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							trigger->tgargs[i], RelationGetRelationName(rel)),
					 errdetail("Trigger \"%s\" leaves that column out of the audit log; its values are not recorded until the trigger names the columns that exist.",
							   trigger->tgname),
					 errhint("Call dbcore.disable_audit() and dbcore.enable_audit() with the current column names.")));

	if (rel->rd_rel->relispartition)
		root = llast_oid(get_partition_ancestors(root));
	state->tbl = root;
	{
		MemoryContext old = MemoryContextSwitchTo(state->cxt);

		state->table_name = CStringGetTextDatum(quote_qualified_identifier(get_namespace_name(get_rel_namespace(root)),
																		   get_rel_name(root)));
		state->columns = (AuditColumn *) palloc0(sizeof(AuditColumn) * Max(tupdesc->natts, 1));
		MemoryContextSwitchTo(old);
	}

	state->ncolumns = 0;
	state->common.attnum = 0;
	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, i);
		AuditColumn *col;
		int			k;
		bool		excluded = false;

		if (attr->attisdropped)
			continue;
		if (state->common.attnum == 0)
		{
			state->common.attnum = attr->attnum;
			state->common.atttypid = attr->atttypid;
		}
		for (k = 0; k < trigger->tgnargs; k++)
			if (strcmp(trigger->tgargs[k], NameStr(attr->attname)) == 0)
				excluded = true;
		if (excluded)
			continue;
		col = &state->columns[state->ncolumns++];
		col->index = i;
		col->key.type = jbvString;
		col->key.val.string.val = MemoryContextStrdup(state->cxt, NameStr(attr->attname));
		col->key.val.string.len = strlen(col->key.val.string.val);
		col->typid = getBaseType(attr->atttypid);
		col->category = categorize(col->typid);
		if (col->category == AC_TO_JSONB)
			setup_to_jsonb(&col->func, attr, state->cxt);
		else if (col->category == AC_FLOAT || col->category == AC_OUTPUT ||
				 col->category == AC_NUMERIC)
			setup_output(&col->func, col->typid, state->cxt);
	}
	/* (no column at all: the state is worked out again for each row) */
	if (state->common.attnum == 0)
		state->common.attnum = tupdesc->natts + 1;
	sort_columns(state);

	find_key(state, rel);
	state->client_index = column_of_trigger(rel, dbcore_function_oid(nspoid, "tenant_row_guard"));
	if (state->client_index >= 0)
		setup_output(&state->client_out, TupleDescAttr(tupdesc, state->client_index)->atttypid,
					 state->cxt);
	state->mark_index = column_of_trigger(rel, dbcore_function_oid(nspoid, SOFT_DELETE_FUNCTION));
	state->common.valid = true;
}

static AuditCall *
audit_get_call(FunctionCallInfo fcinfo, TriggerData *trigdata)
{
	Trigger    *trigger = trigdata->tg_trigger;
	AuditCall  *call = (AuditCall *) fcinfo->flinfo->fn_extra;

	if (call == NULL)
	{
		Oid			nspoid = dbcore_schema_of(fcinfo);

		call = (AuditCall *) MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(AuditCall));
		call->writer = dbcore_audit_log_writer(nspoid, fcinfo->flinfo->fn_mcxt);
		fcinfo->flinfo->fn_extra = call;
	}
	if (call->state == NULL || call->state->common.tgoid != trigger->tgoid)
		call->state = (AuditState *) dbcore_trigger_state(&audit_states, trigger->tgoid);
	if (dbcore_trigger_state_stale(&call->state->common, trigdata))
		audit_compute_state(call->state, trigdata, dbcore_schema_of(fcinfo));
	return call;
}


/* ----------------------------------------------------------------
 * Values as jsonb
 * ----------------------------------------------------------------
 */

static void
string_value(JsonbValue *v, char *s)
{
	v->type = jbvString;
	v->val.string.val = s;
	v->val.string.len = strlen(s);
}

/* A jsonb document as a value: a scalar, or its container. */
static void
jsonb_value(JsonbValue *v, Jsonb *jb)
{
	if (JB_ROOT_IS_SCALAR(jb))
		(void) JsonbExtractScalar(&jb->root, v);
	else
	{
		v->type = jbvBinary;
		v->val.binary.data = &jb->root;
		v->val.binary.len = VARSIZE(jb) - VARHDRSZ;
	}
}

/* One value, as to_jsonb() would convert it. */
static void
column_value(AuditColumn *col, Datum value, bool isnull, JsonbValue *v)
{
	char	   *s;

	if (isnull)
	{
		v->type = jbvNull;
		return;
	}
	switch (col->category)
	{
		case AC_BOOL:
			v->type = jbvBool;
			v->val.boolean = DatumGetBool(value);
			break;
		case AC_INTEGER:
			v->type = jbvNumeric;
			v->val.numeric = int64_to_numeric(col->typid == INT8OID ? DatumGetInt64(value) :
											  col->typid == INT4OID ? DatumGetInt32(value) :
											  DatumGetInt16(value));
			break;
		case AC_NUMERIC:
			{
				Numeric		n = DatumGetNumeric(value);

				if (numeric_is_nan(n) || numeric_is_inf(n))
					string_value(v, OutputFunctionCall(&col->func, value));
				else
				{
					v->type = jbvNumeric;
					v->val.numeric = n;
				}
				break;
			}
		case AC_FLOAT:
			s = OutputFunctionCall(&col->func, value);
			if (strchr(s, 'N') != NULL || strchr(s, 'n') != NULL)
				string_value(v, s);
			else
			{
				v->type = jbvNumeric;
				v->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(s),
																	 ObjectIdGetDatum(InvalidOid),
																	 Int32GetDatum(-1)));
			}
			break;
		case AC_DATETIME:
			string_value(v, JsonEncodeDateTime(NULL, value, col->typid, NULL));
			break;
		case AC_TEXT:
			{
				text	   *t = DatumGetTextPP(value);

				v->type = jbvString;
				v->val.string.val = VARDATA_ANY(t);
				v->val.string.len = VARSIZE_ANY_EXHDR(t);
				break;
			}
		case AC_JSONB:
			jsonb_value(v, DatumGetJsonbP(value));
			break;
		case AC_TO_JSONB:
			jsonb_value(v, DatumGetJsonbP(FunctionCall1(&col->func, value)));
			break;
		case AC_OUTPUT:
			string_value(v, OutputFunctionCall(&col->func, value));
			break;
	}
}

/*
 * An object of the recorded columns of a row (values/nulls): all of them,
 * or only those flagged in changed.  The pairs come in jsonb's key order
 * (key_order) with distinct keys, so when every value is a scalar the object
 * is handed to JsonbValueToJsonb() as it is, without pushJsonbValue()'s
 * per-value copying and its sort; a value that is itself an object or an
 * array (jsonb, arrays, composites) goes through pushJsonbValue(), which
 * unpacks it.
 */
static Jsonb *
row_object(AuditState *state, const Datum *values, const bool *nulls,
		   const bool *changed)
{
	JsonbPair  *pairs = (JsonbPair *) palloc(sizeof(JsonbPair) * Max(state->ncolumns, 1));
	JsonbParseState *ps = NULL;
	JsonbValue	object;
	bool		containers = false;
	int			n = 0;
	int			i;

	for (i = 0; i < state->ncolumns; i++)
	{
		int			c = state->key_order[i];
		AuditColumn *col = &state->columns[c];

		if (changed != NULL && !changed[c])
			continue;
		pairs[n].key = col->key;
		column_value(col, values[col->index], nulls[col->index], &pairs[n].value);
		pairs[n].order = n;
		containers |= (pairs[n].value.type == jbvBinary);
		n++;
	}
	if (!containers)
	{
		object.type = jbvObject;
		object.val.object.nPairs = n;
		object.val.object.pairs = pairs;
		return JsonbValueToJsonb(&object);
	}
	(void) pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	for (i = 0; i < n; i++)
	{
		(void) pushJsonbValue(&ps, WJB_KEY, &pairs[i].key);
		(void) pushJsonbValue(&ps, WJB_VALUE, &pairs[i].value);
	}
	return JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
}

/* The row's key as text (record_out's form for more than one column). */
static Datum
row_key(AuditState *state, const Datum *values, const bool *nulls)
{
	Datum		kvalues[INDEX_MAX_KEYS];
	bool		knulls[INDEX_MAX_KEYS];
	int			i;

	if (state->nkeys == 0)
		return (Datum) 0;
	if (state->nkeys == 1)
	{
		if (nulls[state->keys[0] - 1])
			return (Datum) 0;
		return CStringGetTextDatum(OutputFunctionCall(&state->key_out,
													  values[state->keys[0] - 1]));
	}
	for (i = 0; i < state->nkeys; i++)
	{
		kvalues[i] = values[state->keys[i] - 1];
		knulls[i] = nulls[state->keys[i] - 1];
	}
	return CStringGetTextDatum(OutputFunctionCall(&state->key_out,
												  HeapTupleGetDatum(heap_form_tuple(state->key_desc,
																					kvalues, knulls))));
}

/* The client of a row of a tenant-scoped table, as text. */
static Datum
row_client(AuditState *state, const Datum *values, const bool *nulls)
{
	if (state->client_index < 0 || nulls[state->client_index])
		return (Datum) 0;
	return CStringGetTextDatum(OutputFunctionCall(&state->client_out,
												  values[state->client_index]));
}

/* ----------------------------------------------------------------
 * The trigger
 * ----------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(dbcore_audit);
Datum
dbcore_audit(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TriggerEvent event;
	AuditCall  *call;
	AuditState *state;
	AuditLogRow row = {0};
	TupleTableSlot *slot = NULL;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function dbcore.audit() was not called by trigger manager"),
				 errhint("Call dbcore.enable_audit() to create the trigger.")));
	event = trigdata->tg_event;
	if (!TRIGGER_FIRED_AFTER(event) ||
		(TRIGGER_FIRED_FOR_ROW(event) && TRIGGER_FIRED_BY_TRUNCATE(event)) ||
		(TRIGGER_FIRED_FOR_STATEMENT(event) && !TRIGGER_FIRED_BY_TRUNCATE(event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on relation \"%s\" must be fired AFTER INSERT, UPDATE or DELETE FOR EACH ROW, or AFTER TRUNCATE FOR EACH STATEMENT",
						trigdata->tg_trigger->tgname,
						RelationGetRelationName(trigdata->tg_relation)),
				 errhint("Call dbcore.enable_audit() to create the trigger.")));

	call = audit_get_call(fcinfo, trigdata);
	state = call->state;
	row.tbl = state->tbl;
	row.table_name = state->table_name;
	row.db_role = current_role_name();
	if (actor_setting != NULL && actor_setting[0] != '\0')
		row.actor = CStringGetTextDatum(actor_setting);

	if (TRIGGER_FIRED_BY_TRUNCATE(event))
		row.op = "TRUNCATE";
	else if (TRIGGER_FIRED_BY_UPDATE(event))
	{
		TupleTableSlot *oldslot = trigdata->tg_trigslot;
		bool	   *changed;
		bool		any = false;
		int			i;

		slot = trigdata->tg_newslot;
		slot_getallattrs(oldslot);
		slot_getallattrs(slot);
		changed = (bool *) palloc(sizeof(bool) * Max(state->ncolumns, 1));
		for (i = 0; i < state->ncolumns; i++)
		{
			int			k = state->columns[i].index;

			changed[i] = !dbcore_datum_same(oldslot->tts_values[k], oldslot->tts_isnull[k],
											slot->tts_values[k], slot->tts_isnull[k],
											TupleDescAttr(slot->tts_tupleDescriptor, k));
			any |= changed[i];
		}
		if (!any)
			return PointerGetDatum(NULL);
		row.op = "UPDATE";
		if (state->mark_index >= 0 &&
			oldslot->tts_isnull[state->mark_index] != slot->tts_isnull[state->mark_index])
			row.op = slot->tts_isnull[state->mark_index] ? "RESTORE" : "SOFT DELETE";
		row.old_values = row_object(state, oldslot->tts_values, oldslot->tts_isnull, changed);
		row.new_values = row_object(state, slot->tts_values, slot->tts_isnull, changed);
	}
	else
	{
		slot = trigdata->tg_trigslot;
		slot_getallattrs(slot);
		if (TRIGGER_FIRED_BY_INSERT(event))
		{
			row.op = "INSERT";
			row.new_values = row_object(state, slot->tts_values, slot->tts_isnull, NULL);
		}
		else
		{
			row.op = "DELETE";
			row.old_values = row_object(state, slot->tts_values, slot->tts_isnull, NULL);
		}
	}
	if (!TRIGGER_FIRED_BY_TRUNCATE(event))
	{
		row.row_key = row_key(state, slot->tts_values, slot->tts_isnull);
		row.client_id = row_client(state, slot->tts_values, slot->tts_isnull);
	}
	dbcore_audit_log_write(call->writer, &row);
	return PointerGetDatum(NULL);
}
