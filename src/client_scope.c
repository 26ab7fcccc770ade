/*-------------------------------------------------------------------------
 *
 * client_scope.c
 *		The current client: the dbcore.client_id and dbcore.session_scope
 *		settings, dbcore.set_client*() and dbcore.current_client_id*().
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
 *	  back anyway;
 *	- in strict mode (client_token.c) a non-superuser must pass a signed
 *	  token, which the hook verifies.
 *
 * The check hook also works out the client id the value stands for and
 * hands it to the assign hook as the setting's "extra"; the assign hook
 * drops the parsed forms cached below, so dbcore.current_client_id() and its
 * siblings parse a new value once, then return the cached result.
 *
 * On a Citus cluster the worker nodes must see the same scope: there the
 * scope is always set as the SQL command SET LOCAL, which Citus forwards
 * (citus.c), and scope_forward.c sends it again where Citus forgot it.
 * Whoever must know when the client changes (scope_route.c, whose plans
 * hold the client's id) registers with dbcore_client_scope_on_change().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

#include "citus.h"
#include "client_scope.h"
#include "client_token.h"
#include "common.h"
#include "compat.h"

#define CLIENT_ID_GUC			"dbcore.client_id"

static char *client_id_setting = NULL;
static bool session_scope = false;

/*
 * The "extra" of dbcore.client_id: the client id a non-empty value stands
 * for.  Allocated with dbcore_guc_malloc(); the GUC machinery frees it.
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

/* told when another client's scope begins (dbcore_client_scope_on_change) */
static DbcoreClientChange on_change = NULL;

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

static bool
check_client_id(char **newval, void **extra, GucSource source)
{
	const char *value = *newval;
	ClientScopeExtra *result;
	size_t		len;

	*extra = NULL;
	if (value == NULL || value[0] == '\0')
		return true;

	if (!dbcore_guc_check_session_source(CLIENT_ID_GUC, source,
										 "A client scope must not outlive the transaction that sets it.",
										 "Set the client in each transaction with dbcore.set_client() or SET LOCAL " CLIENT_ID_GUC "."))
		return false;

	len = strlen(value);
	if (len > DBCORE_CLIENT_ID_MAX_LEN)
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		GUC_check_errmsg("value for %s is too long", CLIENT_ID_GUC);
		GUC_check_errdetail("At most %d bytes are accepted.", DBCORE_CLIENT_ID_MAX_LEN);
		return false;
	}

	if (strncmp(value, TOKEN_PREFIX, TOKEN_PREFIX_LEN) == 0)
	{
		char	   *id;

		if (!dbcore_verify_client_token(value, !InitializingParallelWorker, &id))
			return false;
		value = id;
		len = strlen(id);
	}
	else if (dbcore_strict_mode() && !InitializingParallelWorker && !superuser())
	{
		GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
		GUC_check_errmsg("a signed client token is required to set %s", CLIENT_ID_GUC);
		GUC_check_errdetail("Strict mode is on (dbcore.signing_keys is set): only superusers may set a plain client id.");
		GUC_check_errhint("Pass a token minted by the application server, for example SELECT dbcore.set_client_token($1).");
		return false;
	}

	result = (ClientScopeExtra *) dbcore_guc_malloc(offsetof(ClientScopeExtra, id) + len + 1);
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

	if (scope.id != NULL && on_change != NULL)
		on_change(scope.id);
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
 * dbcore.client_id's own entry in PostgreSQL's table of settings (found once;
 * the entry itself never moves), for its stack of values set in the current
 * transaction.
 */
static struct config_generic *client_id_gconf = NULL;

static struct config_generic *
client_id_guc(void)
{
	if (client_id_gconf == NULL)
	{
		client_id_gconf = dbcore_compat_find_option(CLIENT_ID_GUC);
		if (client_id_gconf == NULL)
			elog(ERROR, "setting \"%s\" is not defined", CLIENT_ID_GUC);
	}
	return client_id_gconf;
}

/*
 * Would the value in force after this transaction commits be empty without
 * our help?  True when the only change in the transaction was SET LOCAL (or
 * set_client) over an empty session value: committing pops it.  A plain SET
 * in the transaction, or a value from before it, would survive the commit.
 */
static bool
scope_ends_with_transaction(void)
{
	GucStack   *stack = client_id_guc()->stack;
	const char *prior;

	if (stack == NULL || stack->prev != NULL || stack->state != GUC_LOCAL)
		return false;
	prior = stack->prior.val.stringval;
	return prior == NULL || prior[0] == '\0';
}

/*
 * Unless session mode is on, a scope must not outlive its transaction: clear
 * it just before commit.  (SET LOCAL values would vanish anyway; this is for
 * a plain SET.  Aborts roll the setting back by themselves.)
 */
static void
client_scope_xact_callback(XactEvent event, void *arg)
{
	/*
	 * A parallel worker commits the transaction in which it restores its
	 * leader's settings: that must not clear the scope it just restored.
	 */
	if (IsParallelWorker())
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (scope.id != NULL && !session_scope &&
				!scope_ends_with_transaction())
				clear_session_client_id();
			break;
		default:
			break;
	}
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
	if (scope.id == NULL || session_scope)
		return;
	if (client_id_guc()->stack == NULL)
		clear_session_client_id();
}

/*
 * The client scope in force, or NULL.
 *
 * A value that was not set in the current transaction has no entry on the
 * setting's stack.  Once the library is loaded, every session-level value
 * is cleared at commit, so such a value can only be a leftover: one set
 * with a plain SET before the library was loaded, and restored by the
 * rollback of a transaction that tried to clear it.  It counts as no scope,
 * unless session mode is on.  Deciding this on every read, rather than
 * clearing the value once, cannot be undone by an abort.  A parallel worker
 * restores its leader's value in a transaction of its own, so it has no
 * stack entry either; the leader has checked it.
 */
const char *
dbcore_scope_in_force(void)
{
	if (scope.id == NULL || session_scope || IsParallelWorker())
		return scope.id;
	return client_id_guc()->stack != NULL ? scope.id : NULL;
}

/*
 * The value of dbcore.client_id in force (what was set: a client id, or a
 * signed token in strict mode), or "" when no scope is in force.
 */
const char *
dbcore_client_scope_setting(void)
{
	return dbcore_scope_in_force() != NULL ? client_id_setting : "";
}

void
dbcore_client_scope_on_change(DbcoreClientChange fn)
{
	Assert(on_change == NULL);
	on_change = fn;
}

/*
 * SHOW, current_setting() and pg_settings report the scope in force: a
 * value left over from an earlier transaction (see scope_in_force) shows as
 * empty, so code that reads the setting directly cannot trust a stale one.
 */
static const char *
show_client_id(void)
{
	if (client_id_setting == NULL || client_id_setting[0] == '\0' ||
		dbcore_scope_in_force() == NULL)
		return "";
	return client_id_setting;
}

/*
 * Citus forwards a setting to the workers only in a transaction block, as
 * SET LOCAL: a scope that outlives its transaction would reach the
 * coordinator's tables only.
 */
static bool
check_session_scope(bool *newval, void **extra, GucSource source)
{
	if (*newval && dbcore_citus_loaded())
	{
		GUC_check_errcode(ERRCODE_FEATURE_NOT_SUPPORTED);
		GUC_check_errmsg("dbcore.session_scope cannot be used with Citus");
		GUC_check_errdetail("Citus passes a setting on to the worker nodes only as SET LOCAL in a transaction block, so a client scope for the whole session would not reach the distributed tables.");
		GUC_check_errhint("Set the client in each transaction with dbcore.set_client() or SET LOCAL %s.",
						  CLIENT_ID_GUC);
		return false;
	}
	return true;
}

void
dbcore_client_scope_init(void)
{
	DefineCustomBoolVariable("dbcore.session_scope",
							 "Lets a client scope set with a plain SET last for the rest of the session.",
							 "Off by default: a scope then ends with its transaction, so a connection pooler cannot hand it to the next client.",
							 &session_scope,
							 false,
							 PGC_SUSET,
							 0,
							 check_session_scope, NULL, NULL);

	DefineCustomStringVariable(CLIENT_ID_GUC,
							   "The current client: tenant-scoped tables show and accept only its rows.",
							   "Set it per transaction with dbcore.set_client() or SET LOCAL.",
							   &client_id_setting,
							   "",
							   PGC_USERSET,
							   GUC_NOT_IN_SAMPLE,
							   check_client_id, assign_client_id, show_client_id);

	RegisterXactCallback(client_scope_xact_callback, NULL);

	clear_stale_placeholder_scope();
}

/* ----------------------------------------------------------------
 * Setting the client
 * ----------------------------------------------------------------
 */

/*
 * SET LOCAL dbcore.client_id, with the caller's privileges; on Citus as the
 * SQL command, which is forwarded to the workers.
 */
static void
set_client_local(const char *value)
{
	if (dbcore_citus_loaded())
	{
		dbcore_citus_set_local(CLIENT_ID_GUC, value);
		return;
	}
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
	static const char hex[] = "0123456789abcdef";
	const pg_uuid_t *u;
	char		buf[UUID_LEN * 2 + 5];
	char	   *p = buf;
	int			i;

	reject_null_client(fcinfo, "dbcore.set_client");
	/* uuid_out's canonical form, without its fmgr call and palloc */
	u = PG_GETARG_UUID_P(0);
	for (i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[u->data[i] >> 4];
		*p++ = hex[u->data[i] & 0x0F];
	}
	*p = '\0';
	set_client_local(buf);
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

/*
 * dbcore.set_client_token(token text) RETURNS text
 *
 * Enters the scope a signed token names, for the rest of the transaction,
 * and returns its client id.
 */
PG_FUNCTION_INFO_V1(dbcore_set_client_token);
Datum
dbcore_set_client_token(PG_FUNCTION_ARGS)
{
	char	   *token;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("client token must not be null")));
	token = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (strncmp(token, TOKEN_PREFIX, TOKEN_PREFIX_LEN) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed client token"),
				 errdetail("A token starts with \"%s\".", TOKEN_PREFIX),
				 errhint("Use dbcore.set_client() for a plain client id.")));
	set_client_local(token);
	PG_RETURN_TEXT_P(cstring_to_text(scope.id));
}

/* ----------------------------------------------------------------
 * The current client
 * ----------------------------------------------------------------
 */

static const char *
require_scope(void)
{
	if (dbcore_scope_in_force() == NULL)
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

bool
dbcore_client_type_supported(Oid typid)
{
	return typid == UUIDOID || typid == INT8OID || typid == INT4OID ||
		typid == TEXTOID;
}

/*
 * The current client as a Datum of the client column's type (uuid, bigint,
 * integer; text for any other), with the errors of current_client_id().
 */
Datum
dbcore_current_client_datum(Oid typid)
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
bool
dbcore_is_current_client(Datum value, Oid typid)
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

/*
 * The current client as a Datum of the given client type, without errors:
 * false when no scope is in force or its id is not a valid value of the
 * type.
 */
bool
dbcore_current_client_try_datum(Oid typid, Datum *value)
{
	const char *id = dbcore_scope_in_force();

	if (id == NULL)
		return false;
	switch (typid)
	{
		case UUIDOID:
			if (!scope.uuid_parsed)
			{
				scope.uuid_ok = parse_uuid(id, &scope.uuid);
				scope.uuid_parsed = true;
			}
			if (!scope.uuid_ok)
				return false;
			break;
		case INT8OID:
		case INT4OID:
			if (!scope.int8_parsed)
			{
				scope.int8_ok = parse_int64(id, &scope.int8);
				scope.int8_parsed = true;
			}
			if (!scope.int8_ok ||
				(typid == INT4OID && (scope.int8 < PG_INT32_MIN || scope.int8 > PG_INT32_MAX)))
				return false;
			break;
		case TEXTOID:
			break;
		default:
			return false;
	}
	*value = dbcore_current_client_datum(typid);
	return true;
}
