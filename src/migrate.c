/*-------------------------------------------------------------------------
 *
 * migrate.c
 *		The migration ledger: dbcore.apply_migration() and its companions.
 *
 * Versions are groups of digits separated by ".", "_" or "-".  Their sort
 * key (migration_version_key) encodes each group, leading zeros dropped, as
 * a two-digit length and the digits, groups joined by "."; byte order of
 * keys ("C" collation) is then natural version order: 2 < 10, 1 < 1.0 < 1.1,
 * and 001 has the same key as 1.
 *
 * Every function that changes the ledger takes one transaction-level
 * advisory lock first (so concurrent deploys run one at a time, waiting as
 * lock_timeout allows), then reads the ledger afresh, with the latest
 * snapshot whatever the isolation level.  Scripts (up_sql,
 * down_sql) run with the caller's rights, in the caller's transaction; only
 * the ledger rows are read and written as the ledger table's owner, with a
 * pinned search_path in a restricted security context, the way a SECURITY
 * DEFINER function would, but without ever running the script that way.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "dbcore.h"

/* Longest migration name accepted: names are repeated in every message. */
#define MIGRATION_NAME_MAX 200

/* Longest accepted version string: keeps every group below 100 digits. */
#define MIGRATION_VERSION_MAXLEN 64

/* The advisory lock key of the ledger: "dc" << 48 | "mig". */
#define MIGRATION_LOCK_KEY ((int64) ((UINT64CONST(25699) << 48) | UINT64CONST(0x6d6967)))

PG_FUNCTION_INFO_V1(dbcore_migration_version_key);
PG_FUNCTION_INFO_V1(dbcore_migration_checksum);
PG_FUNCTION_INFO_V1(dbcore_apply_migration);
PG_FUNCTION_INFO_V1(dbcore_begin_migration);
PG_FUNCTION_INFO_V1(dbcore_finish_migration);
PG_FUNCTION_INFO_V1(dbcore_repair_migration);
PG_FUNCTION_INFO_V1(dbcore_revert_migration);
PG_FUNCTION_INFO_V1(dbcore_baseline);

/* ----------------------------------------------------------------------
 * Versions and checksums
 * ----------------------------------------------------------------------
 */

static void
report_bad_version(const char *version)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid migration version \"%s\"", version),
			 errdetail("A version is one or more groups of digits separated by \".\", \"_\" or \"-\"."),
			 errhint("Use versions such as 1, 0042, 1.2.0 or 20250802120130.")));
}

/* The natural sort key of a version; reports malformed versions. */
static char *
version_key(const char *version)
{
	size_t		len = strlen(version);
	const char *p = version;
	StringInfoData key;

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("migration version must not be empty")));
	if (len > MIGRATION_VERSION_MAXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("migration version is too long"),
				 errdetail("A version has at most %d characters; this one has %zu.",
						   MIGRATION_VERSION_MAXLEN, len)));

	initStringInfo(&key);
	for (;;)
	{
		const char *start = p;
		const char *digits;

		while (*p >= '0' && *p <= '9')
			p++;
		if (p == start)
			report_bad_version(version);

		/* Drop leading zeros, keeping one digit of an all-zero group. */
		digits = start;
		while (digits < p - 1 && *digits == '0')
			digits++;

		if (key.len > 0)
			appendStringInfoChar(&key, '.');
		appendStringInfo(&key, "%02d", (int) (p - digits));
		appendBinaryStringInfo(&key, digits, p - digits);

		if (*p == '\0')
			break;
		if (*p != '.' && *p != '_' && *p != '-')
			report_bad_version(version);
		p++;
	}
	return key.data;
}

/* SHA-256 of a script, as 64 lower-case hex digits. */
static char *
script_checksum(const char *data, size_t len)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *hex = palloc(PG_SHA256_DIGEST_STRING_LENGTH);

	if (ctx == NULL ||
		pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not compute SHA-256 checksum: %s",
						ctx ? pg_cryptohash_error(ctx) : "out of memory")));
	pg_cryptohash_free(ctx);

	hex_encode((const char *) digest, sizeof(digest), hex);
	hex[PG_SHA256_DIGEST_LENGTH * 2] = '\0';
	return hex;
}

Datum
dbcore_migration_version_key(PG_FUNCTION_ARGS)
{
	char	   *version = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_TEXT_P(cstring_to_text(version_key(version)));
}

Datum
dbcore_migration_checksum(PG_FUNCTION_ARGS)
{
	text	   *script = PG_GETARG_TEXT_PP(0);

	PG_RETURN_TEXT_P(cstring_to_text(script_checksum(VARDATA_ANY(script),
													 VARSIZE_ANY_EXHDR(script))));
}

/* ----------------------------------------------------------------------
 * Arguments
 * ----------------------------------------------------------------------
 */

/* What the caller says about one migration, checked. */
typedef struct Migration
{
	char	   *version;
	char	   *key;
	char	   *name;
	char	   *up_sql;
	char	   *down_sql;		/* NULL: none */
	char	   *checksum;		/* of up_sql */
} Migration;

/* Text argument argno; NULL only when optional, never empty. */
static char *
text_arg(FunctionCallInfo fcinfo, int argno, const char *what, bool optional)
{
	char	   *s;

	if (PG_ARGISNULL(argno))
	{
		if (optional)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	}
	s = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (s[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", what),
				 optional ? errhint("Pass NULL when the migration has no down script.") : 0));
	return s;
}

static void
version_arg(FunctionCallInfo fcinfo, Migration *m)
{
	m->version = text_arg(fcinfo, 0, "migration version", false);
	m->key = version_key(m->version);
}

/* (version, name, up_sql, down_sql) of apply_migration and begin_migration. */
static void
migration_args(FunctionCallInfo fcinfo, Migration *m)
{
	version_arg(fcinfo, m);
	m->name = text_arg(fcinfo, 1, "migration name", false);
	if (strlen(m->name) > MIGRATION_NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("migration name is too long"),
				 errdetail("A migration name is at most %d bytes; this one is %zu.",
						   MIGRATION_NAME_MAX, strlen(m->name)),
				 errhint("Describe the migration in a few words; the script itself is stored separately.")));
	m->up_sql = text_arg(fcinfo, 2, "up_sql", false);
	m->down_sql = text_arg(fcinfo, 3, "down_sql", true);
	m->checksum = script_checksum(m->up_sql, strlen(m->up_sql));
}

/* ----------------------------------------------------------------------
 * The ledger, read and written as its owner
 * ----------------------------------------------------------------------
 */

typedef enum LedgerQuery
{
	LQ_GET,						/* $1 key -> the row */
	LQ_NEWEST,					/* newest row of any state */
	LQ_IN_PROGRESS,				/* first in_progress row */
	LQ_BASELINE,				/* the baseline row */
	LQ_INSERT,					/* a new row */
	LQ_FINISH,					/* in_progress -> applied */
	LQ_DELETE,					/* remove a row */
	LQ_LOG,						/* a history event */
	LQ_ALIVE,					/* is ($1 pid, $2 start) a live session? */
	LQ_COUNT
} LedgerQuery;

typedef struct LedgerQueryDef
{
	const char *sql;			/* %1$s: the schema */
	int			nargs;
	Oid			argtypes[11];
} LedgerQueryDef;

#define LEDGER_ROW_COLUMNS \
	"m.version, m.name, m.state, m.checksum, m.down_sql, m.session_pid, m.session_start, m.applied_at, m.applied_by"

static const LedgerQueryDef ledger_queries[LQ_COUNT] = {
	[LQ_GET] = {
		"SELECT " LEDGER_ROW_COLUMNS " FROM %1$s.migrations m"
		" WHERE m.version_key OPERATOR(pg_catalog.=) $1",
		1, {TEXTOID}
	},
	[LQ_NEWEST] = {
		"SELECT " LEDGER_ROW_COLUMNS " FROM %1$s.migrations m"
		" ORDER BY m.version_key DESC LIMIT 1",
		0, {InvalidOid}
	},
	[LQ_IN_PROGRESS] = {
		"SELECT " LEDGER_ROW_COLUMNS " FROM %1$s.migrations m"
		" WHERE m.state OPERATOR(pg_catalog.=) 'in_progress'"
		" ORDER BY m.version_key LIMIT 1",
		0, {InvalidOid}
	},
	[LQ_BASELINE] = {
		"SELECT m.version, m.version_key FROM %1$s.migrations m"
		" WHERE m.state OPERATOR(pg_catalog.=) 'baseline'"
		" ORDER BY m.version_key DESC LIMIT 1",
		0, {InvalidOid}
	},
	[LQ_INSERT] = {
		"INSERT INTO %1$s.migrations (version_key, version, name, state, checksum,"
		" applied_at, applied_by, execution_ms, down_sql, session_pid, session_start)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
		11, {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID,
		FLOAT8OID, TEXTOID, INT4OID, TIMESTAMPTZOID}
	},
	[LQ_FINISH] = {
		"UPDATE %1$s.migrations SET state = 'applied', applied_at = $2,"
		" execution_ms = $3, session_pid = NULL, session_start = NULL"
		" WHERE version_key OPERATOR(pg_catalog.=) $1",
		3, {TEXTOID, TIMESTAMPTZOID, FLOAT8OID}
	},
	[LQ_DELETE] = {
		"DELETE FROM %1$s.migrations WHERE version_key OPERATOR(pg_catalog.=) $1",
		1, {TEXTOID}
	},
	[LQ_LOG] = {
		"INSERT INTO %1$s.migration_log (version, version_key, name, event, checksum,"
		" logged_at, logged_by, execution_ms)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
		8, {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, FLOAT8OID}
	},
	[LQ_ALIVE] = {
		"SELECT a.pid FROM pg_catalog.pg_stat_activity a"
		" WHERE a.pid OPERATOR(pg_catalog.=) $1"
		" AND a.backend_start OPERATOR(pg_catalog.=) $2",
		2, {INT4OID, TIMESTAMPTZOID}
	},
};

/* Plans kept for the life of the backend; plancache revalidates them. */
static SPIPlanPtr ledger_plans[LQ_COUNT];

typedef struct Ledger
{
	char	   *schema;			/* quoted name of the extension's schema */
	Oid			owner;			/* owner of the ledger table */
	char	   *caller;			/* current_user when we were called */
} Ledger;

/* One ledger row, as text (NULLs as NULL pointers). */
typedef struct LedgerRow
{
	char	   *version;
	char	   *name;
	char	   *state;
	char	   *checksum;
	char	   *down_sql;
	char	   *session_pid;
	char	   *session_start;
	char	   *applied_at;
	char	   *applied_by;
	Datum		pid_datum;
	Datum		start_datum;
	Datum		applied_at_datum;
} LedgerRow;

/* Find the ledger through the calling function's schema; connect SPI. */
static void
ledger_open(Ledger *l, FunctionCallInfo fcinfo)
{
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	char	   *nspname = get_namespace_name(nsp);
	Oid			relid = InvalidOid;
	HeapTuple	tup;

	if (nspname != NULL)
		relid = get_relname_relid("migrations", nsp);
	if (!OidIsValid(relid) ||
		!HeapTupleIsValid(tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid))))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the migration ledger table \"%s.migrations\" does not exist",
						nspname ? nspname : "dbcore"),
				 errhint("Update the extension: ALTER EXTENSION dbcore UPDATE.")));
	l->owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);

	l->schema = pstrdup(quote_identifier(nspname));
	l->caller = GetUserNameFromId(GetUserId(), false);

	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not connect to SPI")));
}

static void
ledger_close(void)
{
	SPI_finish();
}

/*
 * Run one ledger query as the ledger's owner.  Returns the SPI result; rows
 * are in SPI_tuptable.
 */
static int
ledger_run(Ledger *l, LedgerQuery q, Datum *values, const char *nulls)
{
	int			ret;
	DbcoreIdentity saved;

	dbcore_become(l->owner, &saved);

	if (ledger_plans[q] == NULL)
	{
		const LedgerQueryDef *def = &ledger_queries[q];
		char	   *sql = psprintf(def->sql, l->schema);
		SPIPlanPtr	plan = SPI_prepare(sql, def->nargs, (Oid *) def->argtypes);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("could not prepare a migration ledger query: %s",
							SPI_result_code_string(SPI_result))));
		ledger_plans[q] = plan;
	}

	/*
	 * The latest snapshot, not the transaction's: under REPEATABLE READ or
	 * SERIALIZABLE a migration another session committed while we waited
	 * for the lock must count as applied, as it does under READ COMMITTED.
	 */
	ret = SPI_execute_snapshot(ledger_plans[q], values, nulls,
							   GetLatestSnapshot(), InvalidSnapshot,
							   false, true, 0);

	dbcore_unbecome(&saved);

	if (ret < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("migration ledger query failed: %s",
						SPI_result_code_string(ret))));
	return ret;
}

static bool
ledger_fetch_row(LedgerRow *row)
{
	TupleDesc	desc;
	HeapTuple	tup;
	bool		isnull;

	memset(row, 0, sizeof(*row));
	if (SPI_processed == 0)
		return false;
	desc = SPI_tuptable->tupdesc;
	tup = SPI_tuptable->vals[0];
	row->version = SPI_getvalue(tup, desc, 1);
	row->name = SPI_getvalue(tup, desc, 2);
	row->state = SPI_getvalue(tup, desc, 3);
	row->checksum = SPI_getvalue(tup, desc, 4);
	row->down_sql = SPI_getvalue(tup, desc, 5);
	row->session_pid = SPI_getvalue(tup, desc, 6);
	row->session_start = SPI_getvalue(tup, desc, 7);
	row->applied_at = SPI_getvalue(tup, desc, 8);
	row->applied_by = SPI_getvalue(tup, desc, 9);
	row->pid_datum = SPI_getbinval(tup, desc, 6, &isnull);
	row->start_datum = SPI_getbinval(tup, desc, 7, &isnull);
	row->applied_at_datum = SPI_getbinval(tup, desc, 8, &isnull);
	return true;
}

static bool
ledger_get(Ledger *l, const char *key, LedgerRow *row)
{
	Datum		values[1] = {CStringGetTextDatum(key)};

	ledger_run(l, LQ_GET, values, NULL);
	return ledger_fetch_row(row);
}

static bool
ledger_get_simple(Ledger *l, LedgerQuery q, LedgerRow *row)
{
	ledger_run(l, q, NULL, NULL);
	return ledger_fetch_row(row);
}

/* The baseline's key, or NULL. */
static char *
ledger_baseline_key(Ledger *l)
{
	ledger_run(l, LQ_BASELINE, NULL, NULL);
	if (SPI_processed == 0)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
}

static Datum
text_or_null(const char *s, char *nullflag)
{
	*nullflag = (s == NULL) ? 'n' : ' ';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

static void
ledger_log(Ledger *l, const Migration *m, const char *name, const char *event,
		   const char *checksum, double execution_ms, bool has_ms)
{
	Datum		values[8];
	char		nulls[8];

	values[0] = text_or_null(m->version, &nulls[0]);
	values[1] = text_or_null(m->key, &nulls[1]);
	values[2] = text_or_null(name, &nulls[2]);
	values[3] = text_or_null(event, &nulls[3]);
	values[4] = text_or_null(checksum, &nulls[4]);
	values[5] = TimestampTzGetDatum(GetCurrentTimestamp());
	nulls[5] = ' ';
	values[6] = text_or_null(l->caller, &nulls[6]);
	values[7] = Float8GetDatum(execution_ms);
	nulls[7] = has_ms ? ' ' : 'n';
	ledger_run(l, LQ_LOG, values, nulls);
}

static void
ledger_insert(Ledger *l, const Migration *m, const char *state,
			  double execution_ms, bool has_ms)
{
	Datum		values[11];
	char		nulls[11];
	bool		in_progress = strcmp(state, "in_progress") == 0;
	MemoryContext oldcxt = CurrentMemoryContext;

	values[0] = text_or_null(m->key, &nulls[0]);
	values[1] = text_or_null(m->version, &nulls[1]);
	values[2] = text_or_null(m->name, &nulls[2]);
	values[3] = text_or_null(state, &nulls[3]);
	values[4] = text_or_null(m->checksum, &nulls[4]);
	values[5] = TimestampTzGetDatum(GetCurrentTimestamp());
	nulls[5] = ' ';
	values[6] = text_or_null(l->caller, &nulls[6]);
	values[7] = Float8GetDatum(execution_ms);
	nulls[7] = has_ms ? ' ' : 'n';
	values[8] = text_or_null(m->down_sql, &nulls[8]);
	values[9] = Int32GetDatum(MyProcPid);
	nulls[9] = in_progress ? ' ' : 'n';
	values[10] = TimestampTzGetDatum(MyStartTimestamp);
	nulls[10] = in_progress ? ' ' : 'n';

	/*
	 * The advisory lock serializes writers, and each query reads the ledger
	 * with the latest snapshot, so a duplicate is not expected here; should
	 * someone write the table directly meanwhile, the primary key catches
	 * it, reported as the serialization failure it is.
	 */
	PG_TRY();
	{
		ledger_run(l, LQ_INSERT, values, nulls);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_UNIQUE_VIOLATION)
			PG_RE_THROW();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to concurrent migration %s", m->version),
				 errdetail("Another transaction recorded migration %s after this transaction's snapshot was taken.",
						   m->version),
				 errhint("Retry the transaction; it will then find the migration applied.")));
	}
	PG_END_TRY();
}

/* ----------------------------------------------------------------------
 * Locking and running scripts
 * ----------------------------------------------------------------------
 */

/* Take the ledger's transaction-level advisory lock; waits per lock_timeout. */
static void
migration_lock(void)
{
	MemoryContext oldcxt = CurrentMemoryContext;

	PG_TRY();
	{
		(void) DirectFunctionCall1(pg_advisory_xact_lock_int8,
								   Int64GetDatum(MIGRATION_LOCK_KEY));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
			PG_RE_THROW();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("could not obtain the migration lock within lock_timeout"),
				 errdetail("Another session is applying or reverting a migration."),
				 errhint("Retry when it is done, or raise lock_timeout (now %s).",
						 GetConfigOption("lock_timeout", false, false))));
	}
	PG_END_TRY();
}

/*
 * Run a migration script with the caller's rights.  Errors keep their
 * SQLSTATE, detail and hint, with the migration named in the message.
 */
static void
run_script(const Migration *m, const char *name, const char *script,
		   const char *what)
{
	MemoryContext oldcxt = CurrentMemoryContext;

	PG_TRY();
	{
		int			ret = SPI_execute(script, false, 0);

		if (ret == SPI_ERROR_TRANSACTION)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
					 errmsg("%s of migration %s \"%s\" contains a transaction control statement",
							what, m->version, name),
					 errdetail("Migrations run inside the caller's transaction."),
					 errhint("Remove BEGIN, COMMIT, ROLLBACK and SAVEPOINT from the script.")));
		if (ret == SPI_ERROR_COPY)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s of migration %s \"%s\" contains COPY to or from the client",
							what, m->version, name),
					 errhint("Load data with INSERT, or COPY from a server file.")));
		if (ret < 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s of migration %s \"%s\" cannot run: %s",
							what, m->version, name, SPI_result_code_string(ret))));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		if (strncmp(edata->message, what, strlen(what)) != 0)
			edata->message = psprintf("%s of migration %s \"%s\" failed: %s",
									  what, m->version, name, edata->message);
		if (edata->sqlerrcode == ERRCODE_ACTIVE_SQL_TRANSACTION && edata->hint == NULL)
			edata->hint = pstrdup("Statements that cannot run in a transaction need a non-transactional migration: dbcore.begin_migration(), the statement on its own, then dbcore.finish_migration().");
		ReThrowError(edata);
	}
	PG_END_TRY();
}

static double
elapsed_ms(TimestampTz start)
{
	return (double) (GetCurrentTimestamp() - start) / 1000.0;
}

/* ----------------------------------------------------------------------
 * Shared checks
 * ----------------------------------------------------------------------
 */

/*
 * Is the session that began an in-progress migration still connected?  Its
 * PID with the same start time (a PID alone may have been reused); our own
 * session always is.
 */
static bool
began_in_live_session(Ledger *l, const LedgerRow *row)
{
	Datum		values[2];

	if (DatumGetInt32(row->pid_datum) == MyProcPid)
		return true;
	values[0] = row->pid_datum;
	values[1] = row->start_datum;
	ledger_run(l, LQ_ALIVE, values, NULL);
	return SPI_processed > 0;
}

static void
report_in_progress(Ledger *l, const LedgerRow *row)
{
	if (!began_in_live_session(l, row))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration %s \"%s\" is in progress", row->version, row->name),
				 errdetail("The session that began it (process %s, at %s) has ended: the migration was interrupted.",
						   row->session_pid, row->applied_at),
				 errhint("Check the schema, then call dbcore.repair_migration('%s') to run it again, or dbcore.finish_migration('%s') if its statements all completed.",
						 row->version, row->version)));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("migration %s \"%s\" is in progress", row->version, row->name),
			 errdetail("Migrations run one at a time, and this one was begun and has not been finished."),
			 errhint("Wait for it to finish.  If the session that began it is gone, check the schema, then call dbcore.finish_migration('%s') or dbcore.repair_migration('%s').",
					 row->version, row->version)));
}

/*
 * The checks apply_migration and begin_migration share.  Returns false when
 * there is nothing to do (applied with the same checksum, or covered by the
 * baseline).
 */
static bool
check_can_apply(Ledger *l, const Migration *m)
{
	LedgerRow	row;
	char	   *baseline;

	if (ledger_get(l, m->key, &row))
	{
		if (strcmp(row.state, "baseline") == 0)
			return false;
		if (strcmp(row.state, "in_progress") == 0)
			report_in_progress(l, &row);
		if (strcmp(row.checksum, m->checksum) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("migration %s \"%s\" was applied with checksum %s, not %s",
							m->version, row.name, row.checksum, m->checksum),
					 errdetail("The up script of migration %s changed after it was applied.",
							   m->version),
					 errhint("Restore the script as it was applied, and put the change in a new migration.")));
		return false;
	}

	baseline = ledger_baseline_key(l);
	if (baseline != NULL && strcmp(m->key, baseline) < 0)
		return false;

	if (ledger_get_simple(l, LQ_IN_PROGRESS, &row))
		report_in_progress(l, &row);

	if (!dbcore_allow_out_of_order &&
		ledger_get_simple(l, LQ_NEWEST, &row))
	{
		/* Not in the ledger, so the newest key differs from ours. */
		char	   *newest_key = version_key(row.version);

		if (strcmp(m->key, newest_key) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("migration %s \"%s\" is older than the newest applied migration %s \"%s\"",
							m->version, m->name, row.version, row.name),
					 errhint("Give it a version after %s, or SET dbcore.allow_out_of_order = on to apply it anyway.",
							 row.version)));
	}
	return true;
}

/* ----------------------------------------------------------------------
 * SQL-callable functions
 * ----------------------------------------------------------------------
 */

Datum
dbcore_apply_migration(PG_FUNCTION_ARGS)
{
	Migration	m;
	Ledger		l;
	TimestampTz start;
	double		ms;

	migration_args(fcinfo, &m);
	ledger_open(&l, fcinfo);
	migration_lock();

	if (!check_can_apply(&l, &m))
	{
		ledger_close();
		PG_RETURN_BOOL(false);
	}

	start = GetCurrentTimestamp();
	run_script(&m, m.name, m.up_sql, "up script");
	ms = elapsed_ms(start);

	ledger_insert(&l, &m, "applied", ms, true);
	ledger_log(&l, &m, m.name, "applied", m.checksum, ms, true);
	ledger_close();
	PG_RETURN_BOOL(true);
}

Datum
dbcore_begin_migration(PG_FUNCTION_ARGS)
{
	Migration	m;
	Ledger		l;

	migration_args(fcinfo, &m);
	ledger_open(&l, fcinfo);
	migration_lock();

	if (!check_can_apply(&l, &m))
	{
		ledger_close();
		PG_RETURN_BOOL(false);
	}

	ledger_insert(&l, &m, "in_progress", 0, false);
	ledger_log(&l, &m, m.name, "begun", m.checksum, 0, false);
	ledger_close();
	PG_RETURN_BOOL(true);
}

Datum
dbcore_finish_migration(PG_FUNCTION_ARGS)
{
	Migration	m = {0};
	Ledger		l;
	LedgerRow	row;
	Datum		values[3];
	TimestampTz begun;
	TimestampTz now;
	double		ms;

	version_arg(fcinfo, &m);
	ledger_open(&l, fcinfo);
	migration_lock();

	if (!ledger_get(&l, m.key, &row))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("migration %s has not been begun", m.version),
				 errhint("Call dbcore.begin_migration() before running the script, and dbcore.finish_migration() after.")));
	if (strcmp(row.state, "baseline") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration %s is the baseline, not a begun migration", row.version)));
	if (strcmp(row.state, "applied") == 0)
	{
		ledger_close();
		PG_RETURN_BOOL(false);
	}

	/* applied_at of an in_progress row is when it was begun. */
	begun = DatumGetTimestampTz(row.applied_at_datum);
	now = GetCurrentTimestamp();
	ms = (double) (now - begun) / 1000.0;

	values[0] = CStringGetTextDatum(m.key);
	values[1] = TimestampTzGetDatum(now);
	values[2] = Float8GetDatum(ms);
	ledger_run(&l, LQ_FINISH, values, NULL);
	m.version = row.version;
	ledger_log(&l, &m, row.name, "finished", row.checksum, ms, true);
	ledger_close();
	PG_RETURN_BOOL(true);
}

Datum
dbcore_repair_migration(PG_FUNCTION_ARGS)
{
	Migration	m = {0};
	Ledger		l;
	LedgerRow	row;
	Datum		values[2];

	version_arg(fcinfo, &m);
	ledger_open(&l, fcinfo);
	migration_lock();

	if (!ledger_get(&l, m.key, &row))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("migration %s is not in the ledger", m.version)));
	if (strcmp(row.state, "in_progress") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration %s \"%s\" is not in progress", row.version, row.name),
				 errdetail("Only a begun and unfinished non-transactional migration needs repair."),
				 errhint("To undo an applied migration, call dbcore.revert_migration('%s').", row.version)));

	/* Refuse while another session that began it is still connected. */
	if (DatumGetInt32(row.pid_datum) != MyProcPid && began_in_live_session(&l, &row))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("migration %s \"%s\" is still running", row.version, row.name),
				 errdetail("Process %s began it at %s and is still connected.",
						   row.session_pid, row.applied_at),
				 errhint("Wait for it to finish, or end that session first.")));

	values[0] = CStringGetTextDatum(m.key);
	ledger_run(&l, LQ_DELETE, values, NULL);
	m.version = row.version;
	ledger_log(&l, &m, row.name, "repaired", row.checksum, 0, false);
	ledger_close();
	PG_RETURN_BOOL(true);
}

Datum
dbcore_revert_migration(PG_FUNCTION_ARGS)
{
	Migration	m = {0};
	Ledger		l;
	LedgerRow	row;
	LedgerRow	newest;
	Datum		values[1];
	TimestampTz start;
	double		ms;

	version_arg(fcinfo, &m);
	ledger_open(&l, fcinfo);
	migration_lock();

	if (!ledger_get(&l, m.key, &row))
	{
		ledger_close();
		PG_RETURN_BOOL(false);
	}
	if (strcmp(row.state, "baseline") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration %s is the baseline and cannot be reverted", row.version),
				 errdetail("The baseline records schema that was in place before the ledger; it has no down script.")));
	if (strcmp(row.state, "in_progress") == 0)
		report_in_progress(&l, &row);
	if (row.down_sql == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration %s \"%s\" has no down script", row.version, row.name),
				 errhint("Undo it with a new migration instead.")));
	if (!dbcore_allow_out_of_order &&
		ledger_get_simple(&l, LQ_NEWEST, &newest) &&
		strcmp(version_key(newest.version), m.key) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration %s \"%s\" is not the newest applied migration",
						row.version, row.name),
				 errdetail("Migration %s \"%s\" was applied after it.", newest.version, newest.name),
				 errhint("Revert the later migrations first, or SET dbcore.allow_out_of_order = on to revert it anyway.")));

	m.version = row.version;
	start = GetCurrentTimestamp();
	run_script(&m, row.name, row.down_sql, "down script");
	ms = elapsed_ms(start);

	values[0] = CStringGetTextDatum(m.key);
	ledger_run(&l, LQ_DELETE, values, NULL);
	ledger_log(&l, &m, row.name, "reverted", row.checksum, ms, true);
	ledger_close();
	PG_RETURN_BOOL(true);
}

Datum
dbcore_baseline(PG_FUNCTION_ARGS)
{
	Migration	m = {0};
	Ledger		l;
	LedgerRow	row;

	version_arg(fcinfo, &m);
	m.name = "baseline";
	ledger_open(&l, fcinfo);
	migration_lock();

	if (ledger_get(&l, m.key, &row) && strcmp(row.state, "baseline") == 0)
	{
		ledger_close();
		PG_RETURN_BOOL(false);
	}
	if (ledger_get_simple(&l, LQ_NEWEST, &row))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot baseline a ledger that already records migrations"),
				 errdetail("The newest recorded migration is %s.", row.version),
				 errhint("A baseline adopts an existing database once, before the first migration is recorded.")));

	ledger_insert(&l, &m, "baseline", 0, false);
	ledger_log(&l, &m, m.name, "baselined", NULL, 0, false);
	ledger_close();
	PG_RETURN_BOOL(true);
}
