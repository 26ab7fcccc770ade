/*-------------------------------------------------------------------------
 *
 * tenant.c
 *		Tenant scoping: the current client, the row and TRUNCATE guards of
 *		tenant-scoped tables and the registry of those tables.
 *
 * The setting dbcore.client_id is the single source of truth for the
 * current client.  SET LOCAL, set_config() and dbcore.set_client() all set
 * it, and its check hook decides what may be set:
 *
 *	- only values set in a session (SET, SET LOCAL, set_config(), a
 *	  function's SET clause) are accepted; role and database defaults, the
 *	  configuration file and connection startup options are refused, so a
 *	  scope can never be planted where it outlives a transaction;
 *	- a value survives its transaction only in session mode
 *	  (dbcore.session_scope): otherwise a pre-commit callback clears a scope
 *	  that a plain SET left behind, and an aborted transaction rolls it
 *	  back anyway.
 *
 * The check hook also works out the client id the value stands for and
 * hands it to the assign hook as the setting's "extra"; the assign hook
 * drops the parsed forms cached below, so dbcore.current_client_id() and its
 * siblings parse a new value once, then return the cached result.
 *
 * The row guard, dbcore.tenant_row_guard(), is a BEFORE INSERT OR UPDATE
 * row trigger: it stamps the current client on inserted rows whose client
 * column is NULL, refuses rows naming another client and refuses any change
 * of the column.  Superusers and roles with BYPASSRLS (PostgreSQL's own
 * "system-level authorization" for row level security) pass.  The column is
 * looked up once per trigger, the role once per statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

#include "dbcore.h"

#define CLIENT_ID_GUC			"dbcore.client_id"
#define CLIENT_ID_MAX_LEN		1024
#define REGISTRY_TABLE			"tenant_tables"

/* ----------------------------------------------------------------
 * Settings
 * ----------------------------------------------------------------
 */
static char *client_id_setting = NULL;
static bool session_scope = false;

/*
 * The "extra" of dbcore.client_id: the client id a non-empty value stands
 * for.  Allocated with malloc(); the GUC machinery frees it.
 */
typedef struct ClientScopeExtra
{
	int			len;			/* strlen(id) */
	char		id[FLEXIBLE_ARRAY_MEMBER];
} ClientScopeExtra;

/*
 * The current client and its parsed forms.  "id" points into the extra of
 * the active value (NULL: no scope); the parsed forms are filled in on
 * first use and dropped by the assign hook whenever the value changes
 * (including when a transaction or subtransaction rolls it back).
 */
typedef struct ClientScope
{
	const char *id;
	bool		uuid_parsed;
	bool		uuid_ok;
	pg_uuid_t	uuid;
	bool		int8_parsed;
	bool		int8_ok;
	int64		int8;
} ClientScope;

static ClientScope scope;

/* ----------------------------------------------------------------
 * Parsing client ids
 * ----------------------------------------------------------------
 */
static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Accepts what uuid_in() accepts: 32 hex digits, optionally in braces, with
 * an optional hyphen after any group of four digits.  Unlike uuid_in() it
 * reports failure instead of raising an error.
 */
static bool
parse_uuid(const char *s, pg_uuid_t *out)
{
	const char *p = s;
	bool		braces = false;
	int			i;

	if (*p == '{')
	{
		braces = true;
		p++;
	}
	for (i = 0; i < UUID_LEN; i++)
	{
		int			hi;
		int			lo;

		hi = hex_value(p[0]);
		if (hi < 0)
			return false;
		lo = hex_value(p[1]);
		if (lo < 0)
			return false;
		out->data[i] = (unsigned char) ((hi << 4) | lo);
		p += 2;
		if (*p == '-' && i % 2 == 1 && i < UUID_LEN - 1)
			p++;
	}
	if (braces)
	{
		if (*p != '}')
			return false;
		p++;
	}
	return *p == '\0';
}

/* An optionally signed decimal integer, nothing else; no error on failure. */
static bool
parse_int64(const char *s, int64 *out)
{
	const char *p = s;
	bool		neg = false;
	uint64		acc = 0;

	if (*p == '-' || *p == '+')
	{
		neg = (*p == '-');
		p++;
	}
	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
	{
		int			digit = *p - '0';

		if (acc > (PG_UINT64_MAX - digit) / 10)
			return false;
		acc = acc * 10 + digit;
		p++;
	}
	if (*p != '\0')
		return false;
	if (neg)
	{
		if (acc > (uint64) PG_INT64_MAX + 1)
			return false;
		*out = (acc == (uint64) PG_INT64_MAX + 1) ? PG_INT64_MIN : -(int64) acc;
	}
	else
	{
		if (acc > (uint64) PG_INT64_MAX)
			return false;
		*out = (int64) acc;
	}
	return true;
}

/* ----------------------------------------------------------------
 * dbcore.client_id: check and assign hooks
 * ----------------------------------------------------------------
 */

/* Where a refused value came from, in words for the error message. */
static const char *
client_id_source_words(GucSource source)
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

static bool
check_client_id(char **newval, void **extra, GucSource source)
{
	const char *value = *newval;
	ClientScopeExtra *result;
	size_t		len;

	*extra = NULL;
	if (value == NULL || value[0] == '\0')
		return true;

	/*
	 * A parallel worker restores its leader's value, which the leader has
	 * already checked.
	 */
	if (!InitializingParallelWorker && source != PGC_S_SESSION)
	{
		GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
		GUC_check_errmsg("%s cannot be set %s", CLIENT_ID_GUC,
						 client_id_source_words(source));
		GUC_check_errdetail("A client scope must not outlive the transaction that sets it.");
		GUC_check_errhint("Set the client in each transaction with dbcore.set_client() or SET LOCAL %s.",
						  CLIENT_ID_GUC);
		return false;
	}

	len = strlen(value);
	if (len > CLIENT_ID_MAX_LEN)
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		GUC_check_errmsg("value for %s is too long", CLIENT_ID_GUC);
		GUC_check_errdetail("At most %d bytes are accepted.", CLIENT_ID_MAX_LEN);
		return false;
	}

	result = (ClientScopeExtra *) malloc(offsetof(ClientScopeExtra, id) + len + 1);
	if (result == NULL)
	{
		GUC_check_errcode(ERRCODE_OUT_OF_MEMORY);
		GUC_check_errmsg("out of memory");
		return false;
	}
	result->len = (int) len;
	memcpy(result->id, value, len + 1);
	*extra = result;
	return true;
}

static void
assign_client_id(const char *newval, void *extra)
{
	ClientScopeExtra *e = (ClientScopeExtra *) extra;

	scope.id = (e != NULL) ? e->id : NULL;
	scope.uuid_parsed = false;
	scope.int8_parsed = false;
}

/*
 * Set dbcore.client_id at session level, outside of any check on the
 * caller's behalf (the empty value is always accepted).
 */
static void
clear_session_client_id(void)
{
	(void) set_config_option(CLIENT_ID_GUC, "",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SET, true, 0, false);
}

/*
 * Unless session mode is on, a scope must not outlive its transaction: clear
 * it just before commit.  (SET LOCAL values would vanish anyway; this is for
 * a plain SET.  Aborts roll the setting back by themselves.)
 */
static void
tenant_xact_callback(XactEvent event, void *arg)
{
	/*
	 * A parallel worker commits the transaction in which it restores its
	 * leader's settings: that must not clear the scope it just restored.
	 */
	if (IsParallelWorker())
		return;
	if ((event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE) &&
		scope.id != NULL && !session_scope)
		clear_session_client_id();
}

/*
 * When the library is loaded after a plain SET has already been committed
 * (the value was a placeholder until now), the scope is a leftover from an
 * earlier transaction: clear it.  A value set in the current transaction
 * has an entry on the setting's stack.
 */
static void
clear_stale_placeholder_scope(void)
{
	struct config_generic **vars;
	int			nvars;
	int			i;

	if (scope.id == NULL || session_scope)
		return;

	vars = get_guc_variables();
	nvars = GetNumConfigOptions();
	for (i = 0; i < nvars; i++)
	{
		if (strcmp(vars[i]->name, CLIENT_ID_GUC) == 0)
		{
			if (vars[i]->stack == NULL)
				clear_session_client_id();
			return;
		}
	}
}

void
dbcore_tenant_init(void)
{
	DefineCustomBoolVariable("dbcore.session_scope",
							 "Lets a client scope set with a plain SET last for the rest of the session.",
							 "Off by default: a scope then ends with its transaction, so a connection pooler cannot hand it to the next client.",
							 &session_scope,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable(CLIENT_ID_GUC,
							   "The current client: tenant-scoped tables show and accept only its rows.",
							   "Set it per transaction with dbcore.set_client() or SET LOCAL.",
							   &client_id_setting,
							   "",
							   PGC_USERSET,
							   GUC_NOT_IN_SAMPLE,
							   check_client_id, assign_client_id, NULL);

	RegisterXactCallback(tenant_xact_callback, NULL);

	clear_stale_placeholder_scope();
}

/* ----------------------------------------------------------------
 * Setting the client
 * ----------------------------------------------------------------
 */

/* SET LOCAL dbcore.client_id, with the caller's privileges. */
static void
set_client_local(const char *value)
{
	(void) set_config_option(CLIENT_ID_GUC, value,
							 superuser() ? PGC_SUSET : PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
}

static void
reject_null_client(FunctionCallInfo fcinfo, const char *funcname)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("client id must not be null"),
				 errhint("Pass the client of this transaction to %s(); to leave the scope, end the transaction.",
						 funcname)));
}

PG_FUNCTION_INFO_V1(dbcore_set_client_uuid);
Datum
dbcore_set_client_uuid(PG_FUNCTION_ARGS)
{
	reject_null_client(fcinfo, "dbcore.set_client");
	set_client_local(DatumGetCString(DirectFunctionCall1(uuid_out,
														PG_GETARG_DATUM(0))));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(dbcore_set_client_bigint);
Datum
dbcore_set_client_bigint(PG_FUNCTION_ARGS)
{
	reject_null_client(fcinfo, "dbcore.set_client");
	set_client_local(psprintf(INT64_FORMAT, PG_GETARG_INT64(0)));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(dbcore_set_client_text);
Datum
dbcore_set_client_text(PG_FUNCTION_ARGS)
{
	char	   *value;

	reject_null_client(fcinfo, "dbcore.set_client");
	value = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (value[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("client id must not be empty")));
	set_client_local(value);
	PG_RETURN_VOID();
}

/* ----------------------------------------------------------------
 * The current client
 * ----------------------------------------------------------------
 */
static const char *
require_scope(void)
{
	if (scope.id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("no client scope is set"),
				 errdetail("Tenant-scoped data can be used only within a client scope."),
				 errhint("Call dbcore.set_client() (or SET LOCAL %s) in this transaction first.",
						 CLIENT_ID_GUC)));
	return scope.id;
}

static void
report_bad_client_id(const char *id, const char *typname)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("current client id \"%s\" is not a valid %s", id, typname),
			 errhint("The client column is of type %s: set %s to a value of that type.",
					 typname, CLIENT_ID_GUC)));
}

static const pg_uuid_t *
current_client_uuid(void)
{
	const char *id = require_scope();

	if (!scope.uuid_parsed)
	{
		scope.uuid_ok = parse_uuid(id, &scope.uuid);
		scope.uuid_parsed = true;
	}
	if (!scope.uuid_ok)
		report_bad_client_id(id, "uuid");
	return &scope.uuid;
}

static int64
current_client_int8(void)
{
	const char *id = require_scope();

	if (!scope.int8_parsed)
	{
		scope.int8_ok = parse_int64(id, &scope.int8);
		scope.int8_parsed = true;
	}
	if (!scope.int8_ok)
		report_bad_client_id(id, "bigint");
	return scope.int8;
}

static int32
current_client_int4(void)
{
	const char *id = require_scope();
	int64		v;

	if (!scope.int8_parsed)
	{
		scope.int8_ok = parse_int64(id, &scope.int8);
		scope.int8_parsed = true;
	}
	v = scope.int8;
	if (!scope.int8_ok || v < PG_INT32_MIN || v > PG_INT32_MAX)
		report_bad_client_id(id, "integer");
	return (int32) v;
}

PG_FUNCTION_INFO_V1(dbcore_current_client_id);
Datum
dbcore_current_client_id(PG_FUNCTION_ARGS)
{
	const pg_uuid_t *u = current_client_uuid();
	pg_uuid_t  *result = (pg_uuid_t *) palloc(sizeof(pg_uuid_t));

	memcpy(result, u, sizeof(pg_uuid_t));
	PG_RETURN_UUID_P(result);
}

PG_FUNCTION_INFO_V1(dbcore_current_client_id_text);
Datum
dbcore_current_client_id_text(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(require_scope()));
}

PG_FUNCTION_INFO_V1(dbcore_current_client_id_bigint);
Datum
dbcore_current_client_id_bigint(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(current_client_int8());
}

PG_FUNCTION_INFO_V1(dbcore_current_client_id_int);
Datum
dbcore_current_client_id_int(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(current_client_int4());
}

/* ----------------------------------------------------------------
 * System-level authorization
 * ----------------------------------------------------------------
 */

/*
 * Superusers and roles with BYPASSRLS: the roles row level security lets
 * through, and so does dbcore.
 */
static bool
has_system_authorization(Oid roleid)
{
	return has_bypassrls_privilege(roleid);
}

/* ----------------------------------------------------------------
 * The row guard
 * ----------------------------------------------------------------
 */

/* What the trigger needs to know about its table; hash key: tgoid. */
typedef struct RowGuardState
{
	Oid			tgoid;
	Oid			relid;
	bool		valid;
	int			attnum;
	Oid			atttypid;
} RowGuardState;

/* Per statement (the trigger's FmgrInfo): the state and the role check. */
typedef struct RowGuardCall
{
	RowGuardState *state;
	Oid			userid;			/* InvalidOid: not checked yet */
	bool		system;
} RowGuardCall;

static HTAB *row_guard_states = NULL;

static void
row_guard_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	RowGuardState *state;

	hash_seq_init(&status, row_guard_states);
	while ((state = (RowGuardState *) hash_seq_search(&status)) != NULL)
	{
		if (relid == InvalidOid || state->relid == relid)
			state->valid = false;
	}
}

static bool
client_type_supported(Oid typid)
{
	return typid == UUIDOID || typid == INT8OID || typid == INT4OID ||
		typid == TEXTOID;
}

static void
row_guard_compute_state(RowGuardState *state, TriggerData *trigdata)
{
	Trigger    *trigger = trigdata->tg_trigger;
	Relation	rel = trigdata->tg_relation;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	Form_pg_attribute attr = NULL;
	const char *colname;
	int			i;

	state->valid = false;
	state->relid = RelationGetRelid(rel);

	if (trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on relation \"%s\" must pass exactly one argument to dbcore.tenant_row_guard()",
						trigger->tgname, RelationGetRelationName(rel)),
				 errhint("Call dbcore.enable_tenant_scoping() to create the trigger.")));
	colname = trigger->tgargs[0];

	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(tupdesc, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), colname) == 0)
		{
			attr = a;
			break;
		}
	}
	if (attr == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						colname, RelationGetRelationName(rel)),
				 errdetail("Trigger \"%s\" guards that column as the client column.",
						   trigger->tgname)));
	if (!client_type_supported(attr->atttypid))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("client column \"%s\" of relation \"%s\" is of type %s",
						colname, RelationGetRelationName(rel),
						format_type_be(attr->atttypid)),
				 errdetail("Client columns must be of type uuid, bigint, integer or text.")));

	state->attnum = attr->attnum;
	state->atttypid = attr->atttypid;
	state->valid = true;
}

static RowGuardCall *
row_guard_get_call(FunctionCallInfo fcinfo, TriggerData *trigdata)
{
	Trigger    *trigger = trigdata->tg_trigger;
	RowGuardCall *call = (RowGuardCall *) fcinfo->flinfo->fn_extra;
	RowGuardState *state;
	TupleDesc	tupdesc = RelationGetDescr(trigdata->tg_relation);
	Oid			userid = GetUserId();

	if (call == NULL)
	{
		call = (RowGuardCall *) MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt,
													   sizeof(RowGuardCall));
		fcinfo->flinfo->fn_extra = call;
	}

	if (call->state == NULL || call->state->tgoid != trigger->tgoid)
	{
		bool		found;

		if (row_guard_states == NULL)
		{
			HASHCTL		ctl;

			ctl.keysize = sizeof(Oid);
			ctl.entrysize = sizeof(RowGuardState);
			ctl.hcxt = TopMemoryContext;
			row_guard_states = hash_create("dbcore tenant row guard states", 32,
										   &ctl,
										   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
			CacheRegisterRelcacheCallback(row_guard_relcache_callback, (Datum) 0);
		}
		call->state = (RowGuardState *) hash_search(row_guard_states,
													&trigger->tgoid,
													HASH_ENTER, &found);
		if (!found)
			call->state->valid = false;
	}
	state = call->state;

	if (!state->valid ||
		state->relid != RelationGetRelid(trigdata->tg_relation) ||
		state->attnum > tupdesc->natts ||
		TupleDescAttr(tupdesc, state->attnum - 1)->attisdropped ||
		TupleDescAttr(tupdesc, state->attnum - 1)->atttypid != state->atttypid)
		row_guard_compute_state(state, trigdata);

	/* The role check, once per statement and role. */
	if (call->userid != userid)
	{
		call->system = has_system_authorization(userid);
		call->userid = userid;
	}
	return call;
}

/* The current client as a Datum of the client column's type. */
static Datum
current_client_datum(Oid typid)
{
	switch (typid)
	{
		case UUIDOID:
			{
				pg_uuid_t  *u = (pg_uuid_t *) palloc(sizeof(pg_uuid_t));

				memcpy(u, current_client_uuid(), sizeof(pg_uuid_t));
				return UUIDPGetDatum(u);
			}
		case INT8OID:
			return Int64GetDatum(current_client_int8());
		case INT4OID:
			return Int32GetDatum(current_client_int4());
		default:
			return PointerGetDatum(cstring_to_text(require_scope()));
	}
}

/* Is a (non-null) value of the client column the current client? */
static bool
is_current_client(Datum value, Oid typid)
{
	switch (typid)
	{
		case UUIDOID:
			return memcmp(DatumGetUUIDP(value), current_client_uuid(),
						  sizeof(pg_uuid_t)) == 0;
		case INT8OID:
			return DatumGetInt64(value) == current_client_int8();
		case INT4OID:
			return DatumGetInt32(value) == current_client_int4();
		default:
			{
				text	   *t = DatumGetTextPP(value);
				const char *id = require_scope();
				size_t		len = strlen(id);

				return VARSIZE_ANY_EXHDR(t) == len &&
					memcmp(VARDATA_ANY(t), id, len) == 0;
			}
	}
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
	colname = NameStr(TupleDescAttr(tupdesc, state->attnum - 1)->attname);

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		newtuple = trigdata->tg_trigtuple;
		value = heap_getattr(newtuple, state->attnum, tupdesc, &isnull);
		if (isnull)
		{
			Datum		stamp;

			/*
			 * A system role without a scope leaves the column NULL: the NOT
			 * NULL constraint then reports the missing client.
			 */
			if (call->system && scope.id == NULL)
				return PointerGetDatum(newtuple);
			stamp = current_client_datum(state->atttypid);
			isnull = false;
			newtuple = heap_modify_tuple_by_cols(newtuple, tupdesc, 1,
												 &state->attnum, &stamp, &isnull);
			return PointerGetDatum(newtuple);
		}
		if (!call->system && !is_current_client(value, state->atttypid))
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

		value = heap_getattr(newtuple, state->attnum, tupdesc, &isnull);
		oldvalue = heap_getattr(trigdata->tg_trigtuple, state->attnum,
								tupdesc, &oldnull);
		if (isnull != oldnull ||
			(!isnull && !client_values_equal(value, oldvalue, state->atttypid)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("cannot change client column \"%s\" of relation \"%s\"",
							colname, RelationGetRelationName(trigdata->tg_relation)),
					 errdetail("Rows cannot move from one client to another."),
					 errhint("Only a superuser or a role with BYPASSRLS can move rows between clients.")));
		if (!isnull && !is_current_client(value, state->atttypid))
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

	if (!has_system_authorization(GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to truncate tenant-scoped table \"%s\"",
						RelationGetRelationName(trigdata->tg_relation)),
				 errdetail("TRUNCATE ignores row level security and would remove the rows of every client."),
				 errhint("Remove the current client's rows with DELETE, or run TRUNCATE as a superuser or a role with BYPASSRLS.")));

	return PointerGetDatum(NULL);
}

/* ----------------------------------------------------------------
 * The registry of tenant-scoped tables
 *
 * dbcore.tenant_tables is writable only by the extension's owner.  The
 * functions below let a table's owner register it (once the scoping is in
 * place) and a role with system-level authorization unregister it; they run
 * their SQL as the registry's owner with a pinned search_path.
 * ----------------------------------------------------------------
 */
typedef struct Elevation
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	const char *nspname;		/* quoted schema name of dbcore */
} Elevation;

static void
elevate(FunctionCallInfo fcinfo, Elevation *e)
{
	Oid			nspoid = get_func_namespace(fcinfo->flinfo->fn_oid);
	Oid			regrelid = get_relname_relid(REGISTRY_TABLE, nspoid);
	HeapTuple	tuple;
	Oid			owner;

	if (!OidIsValid(regrelid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("dbcore's table of tenant-scoped tables does not exist"),
				 errhint("Update the extension: ALTER EXTENSION dbcore UPDATE.")));
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(regrelid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", regrelid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);

	e->nspname = quote_identifier(get_namespace_name(nspoid));
	GetUserIdAndSecContext(&e->save_userid, &e->save_sec_context);
	SetUserIdAndSecContext(owner,
						   e->save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	e->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

static void
unelevate(Elevation *e)
{
	AtEOXact_GUC(true, e->save_nestlevel);
	SetUserIdAndSecContext(e->save_userid, e->save_sec_context);
}

static void
require_table_owner(Oid relid, const char *action)
{
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (!pg_class_ownercheck(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s to %s", get_rel_name(relid),
						action)));
}

/*
 * dbcore._tenant_register(tbl regclass, column_name name, root regclass)
 *
 * Records a table whose scoping is complete; called by
 * dbcore.enable_tenant_scoping() and for new partitions.
 */
PG_FUNCTION_INFO_V1(dbcore_tenant_register);
Datum
dbcore_tenant_register(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Name		colname;
	Elevation	e;
	Oid			argtypes[3] = {REGCLASSOID, NAMEOID, REGCLASSOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	int			ret;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table and column name must not be null")));
	relid = PG_GETARG_OID(0);
	colname = PG_GETARG_NAME(1);
	values[0] = ObjectIdGetDatum(relid);
	values[1] = NameGetDatum(colname);
	values[2] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	if (PG_ARGISNULL(2))
		nulls[2] = 'n';

	require_table_owner(relid, "register it for tenant scoping");

	elevate(fcinfo, &e);
	SPI_connect();

	/* A table is scoped by one column; changing it means disabling first. */
	ret = SPI_execute_with_args(psprintf("SELECT r.column_name::pg_catalog.text FROM %s.%s r WHERE r.tbl OPERATOR(pg_catalog.=) $1",
										 e.nspname, REGISTRY_TABLE),
								1, argtypes, values, nulls, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed > 0)
	{
		char	   *registered = SPI_getvalue(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1);

		if (strcmp(registered, NameStr(*colname)) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table %s is already tenant-scoped by column \"%s\"",
							get_rel_name(relid), registered),
					 errhint("Call dbcore.disable_tenant_scoping() first, as a superuser or a role with BYPASSRLS.")));
	}

	/* The scoping must be complete. */
	ret = SPI_execute_with_args(psprintf("SELECT p.detail FROM %s.tenant_check_tables(ARRAY[$1], ARRAY[$2]) p",
										 e.nspname),
								2, argtypes, values, nulls, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tenant scoping of table %s is incomplete", get_rel_name(relid)),
				 errdetail("%s", SPI_getvalue(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1)),
				 errhint("Call dbcore.enable_tenant_scoping() on the table.")));

	ret = SPI_execute_with_args(psprintf("INSERT INTO %s.%s AS r (tbl, column_name, root) VALUES ($1, $2, $3) "
										 "ON CONFLICT (tbl) DO UPDATE SET root = EXCLUDED.root",
										 e.nspname, REGISTRY_TABLE),
								3, argtypes, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));

	SPI_finish();
	unelevate(&e);
	PG_RETURN_VOID();
}

/*
 * dbcore._tenant_unregister(tbl regclass) RETURNS boolean
 *
 * Forgets a table; called by dbcore.disable_tenant_scoping().  Requires
 * ownership and system-level authorization: otherwise an owner could lift
 * the guard rails.
 */
PG_FUNCTION_INFO_V1(dbcore_tenant_unregister);
Datum
dbcore_tenant_unregister(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Elevation	e;
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1];
	int			ret;
	bool		removed;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table must not be null")));
	relid = PG_GETARG_OID(0);
	values[0] = ObjectIdGetDatum(relid);

	require_table_owner(relid, "disable its tenant scoping");
	if (!has_system_authorization(GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to disable tenant scoping of table %s",
						get_rel_name(relid)),
				 errdetail("Lifting tenant scoping needs system-level authorization."),
				 errhint("Run it as a superuser or as a role with BYPASSRLS that owns the table.")));

	elevate(fcinfo, &e);
	SPI_connect();
	ret = SPI_execute_with_args(psprintf("DELETE FROM %s.%s r WHERE r.tbl OPERATOR(pg_catalog.=) $1",
										 e.nspname, REGISTRY_TABLE),
								1, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	removed = (SPI_processed > 0);
	SPI_finish();
	unelevate(&e);
	PG_RETURN_BOOL(removed);
}
