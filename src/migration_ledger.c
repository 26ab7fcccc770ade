/*-------------------------------------------------------------------------
 *
 * migration_ledger.c
 *		The migration ledger's storage: versions and their sort keys, script
 *		checksums, the checked arguments of a migration, and every statement
 *		on dbcore.migrations and dbcore.migration_log.
 *
 * Versions are groups of digits separated by ".", "_" or "-".  Their sort
 * key (migration_version_key) encodes each group, leading zeros dropped, as
 * a two-digit length and the digits, groups joined by "."; byte order of
 * keys ("C" collation) is then natural version order: 2 < 10, 1 < 1.0 < 1.1,
 * and 001 has the same key as 1.
 *
 * The ledger rows are read and written as the ledger table's owner with
 * dbcore_become() (a security-restricted operation, search_path pinned),
 * through a fixed set of prepared statements on dbcore's own tables, with
 * every value a caller passes bound as a parameter, never as SQL text: the
 * way a SECURITY DEFINER function would, but without ever running a
 * caller's script that way (migrate.c runs those as the caller).  Each
 * statement reads with the latest snapshot, whatever the isolation level.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

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
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "common.h"
#include "migration_ledger.h"

/* Longest migration name accepted: names are repeated in every message. */
#define MIGRATION_NAME_MAX 200

/* Longest name of the tool a migration was imported from. */
#define MIGRATION_SOURCE_MAX 64

/* Longest accepted version string: keeps every group below 100 digits. */
#define MIGRATION_VERSION_MAXLEN 64

PG_FUNCTION_INFO_V1(dbcore_migration_version_key);
PG_FUNCTION_INFO_V1(dbcore_migration_checksum);

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
char *
ledger_version_key(const char *version)
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
		elog(ERROR, "could not compute SHA-256 checksum: %s",
			 ctx ? pg_cryptohash_error(ctx) : "out of memory");
	pg_cryptohash_free(ctx);

	hex_encode((const char *) digest, sizeof(digest), hex);
	hex[PG_SHA256_DIGEST_LENGTH * 2] = '\0';
	return hex;
}

Datum
dbcore_migration_version_key(PG_FUNCTION_ARGS)
{
	char	   *version = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_TEXT_P(cstring_to_text(ledger_version_key(version)));
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


/*
 * Text argument argno, never empty.  NULL is an error unless null_hint is
 * given (the argument is optional); the hint then goes with the error for
 * an empty string.
 */
static char *
text_arg(FunctionCallInfo fcinfo, int argno, const char *what, const char *null_hint)
{
	char	   *s;

	if (PG_ARGISNULL(argno))
	{
		if (null_hint != NULL)
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
				 null_hint ? errhint("%s", null_hint) : 0));
	return s;
}

/* Refuse over-long descriptive text (names are repeated in every message). */
static void
check_length(const char *what, const char *subject, const char *s, size_t max,
			 const char *hint)
{
	if (s != NULL && strlen(s) > max)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("%s is too long", what),
				 errdetail("%s is at most %zu bytes; this one is %zu.", subject, max, strlen(s)),
				 hint ? errhint("%s", hint) : 0));
}

#define DOWN_SQL_NULL_HINT "Pass NULL when the migration has no down script."

void
ledger_version_arg(FunctionCallInfo fcinfo, Migration *m)
{
	m->version = text_arg(fcinfo, 0, "migration version", NULL);
	m->key = ledger_version_key(m->version);
}

/* The version and the name, arguments 0 and 1 of every recording function. */
static void
version_and_name_args(FunctionCallInfo fcinfo, Migration *m)
{
	ledger_version_arg(fcinfo, m);
	m->name = text_arg(fcinfo, 1, "migration name", NULL);
	check_length("migration name", "A migration name", m->name, MIGRATION_NAME_MAX,
				 "Describe the migration in a few words; the script itself is stored separately.");
}

/* (version, name, up_sql, down_sql) of apply_migration and begin_migration. */
void
ledger_migration_args(FunctionCallInfo fcinfo, Migration *m)
{
	version_and_name_args(fcinfo, m);
	m->up_sql = text_arg(fcinfo, 2, "up_sql", NULL);
	m->down_sql = text_arg(fcinfo, 3, "down_sql", DOWN_SQL_NULL_HINT);
	m->checksum = script_checksum(m->up_sql, strlen(m->up_sql));
}

/* Is s a checksum as the ledger stores it: 64 lower-case hex digits? */
static bool
is_checksum(const char *s)
{
	int			i;

	for (i = 0; i < PG_SHA256_DIGEST_LENGTH * 2; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[i] == '\0';
}

/*
 * (version, name, applied_at, imported_from, checksum, source_checksum,
 * applied_by, execution_ms, down_sql) of import_migration.
 */
void
ledger_import_args(FunctionCallInfo fcinfo, Migration *m, ImportedMigration *imp)
{
	version_and_name_args(fcinfo, m);
	m->up_sql = NULL;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("applied_at must not be null"),
				 errhint("Pass the time the other tool recorded for the migration.")));
	imp->applied_at = PG_GETARG_TIMESTAMPTZ(2);
	if (TIMESTAMP_NOT_FINITE(imp->applied_at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("applied_at must be a finite time")));

	imp->imported_from = text_arg(fcinfo, 3, "imported_from", NULL);
	check_length("imported_from", "The name of a migration tool", imp->imported_from,
				 MIGRATION_SOURCE_MAX,
				 "Name the tool that applied the migration, such as node-pg-migrate, prisma or flyway.");

	m->checksum = text_arg(fcinfo, 4, "checksum",
						   "Pass NULL when the up script is not known.");
	if (m->checksum != NULL && !is_checksum(m->checksum))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid migration checksum \"%s\"", dbcore_clip(m->checksum)),
				 errdetail("A checksum is the SHA-256 of the up script as 64 lower-case hex digits."),
				 errhint("Compute it with dbcore.migration_checksum(up_script), or pass NULL when the up script is not known.")));

	imp->source_checksum = text_arg(fcinfo, 5, "source_checksum",
									"Pass NULL when the other tool recorded no checksum.");
	check_length("source_checksum", "A source checksum", imp->source_checksum,
				 MIGRATION_NAME_MAX, NULL);

	imp->applied_by = text_arg(fcinfo, 6, "applied_by",
							   "Pass NULL to record the role that imports the migration.");
	check_length("applied_by", "applied_by", imp->applied_by, MIGRATION_NAME_MAX, NULL);

	imp->has_ms = !PG_ARGISNULL(7);
	imp->execution_ms = imp->has_ms ? PG_GETARG_FLOAT8(7) : 0;
	if (imp->has_ms && !(imp->execution_ms >= 0 && !isinf(imp->execution_ms)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("execution_ms must be a finite number of milliseconds, zero or more")));

	m->down_sql = text_arg(fcinfo, 8, "down_sql", DOWN_SQL_NULL_HINT);
}

/* ----------------------------------------------------------------------
 * The ledger, read and written as its owner
 * ----------------------------------------------------------------------
 */


typedef struct LedgerQueryDef
{
	const char *sql;			/* %1$s: the schema */
	int			nargs;
	Oid			argtypes[12];
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
	[LQ_IMPORT] = {
		"INSERT INTO %1$s.migrations (version_key, version, name, state, checksum,"
		" applied_at, applied_by, execution_ms, down_sql, imported_from, source_checksum)"
		" VALUES ($1, $2, $3, 'imported', $4, $5, $6, $7, $8, $9, $10)",
		10, {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, FLOAT8OID,
		TEXTOID, TEXTOID, TEXTOID}
	},
	[LQ_IMPORTED_FROM] = {
		"SELECT m.imported_from FROM %1$s.migrations m"
		" WHERE m.version_key OPERATOR(pg_catalog.=) $1",
		1, {TEXTOID}
	},
};

/* Plans kept for the life of the backend; plancache revalidates them. */
static SPIPlanPtr ledger_plans[LQ_COUNT];



/* Find the ledger through the calling function's schema; connect SPI. */
void
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
		elog(ERROR, "SPI_connect failed");
}

void
ledger_close(void)
{
	SPI_finish();
}

/*
 * Run one ledger query as the ledger's owner.  Returns the SPI result; rows
 * are in SPI_tuptable.
 */
int
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
			elog(ERROR, "could not prepare a migration ledger query: %s",
				 SPI_result_code_string(SPI_result));
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
		elog(ERROR, "migration ledger query failed: %s", SPI_result_code_string(ret));
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

bool
ledger_get(Ledger *l, const char *key, LedgerRow *row)
{
	Datum		values[1] = {CStringGetTextDatum(key)};

	ledger_run(l, LQ_GET, values, NULL);
	return ledger_fetch_row(row);
}

bool
ledger_get_simple(Ledger *l, LedgerQuery q, LedgerRow *row)
{
	ledger_run(l, q, NULL, NULL);
	return ledger_fetch_row(row);
}

/* The baseline's key, or NULL. */
char *
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

void
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

/*
 * Run an INSERT into the ledger.  The advisory lock serializes writers, and
 * each query reads the ledger with the latest snapshot, so a duplicate is
 * not expected here; should someone write the table directly meanwhile, the
 * primary key catches it, reported as the serialization failure it is.
 */
static void
ledger_run_insert(Ledger *l, LedgerQuery q, const Migration *m, Datum *values,
				  const char *nulls)
{
	MemoryContext oldcxt = CurrentMemoryContext;

	PG_TRY();
	{
		ledger_run(l, q, values, nulls);
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

void
ledger_insert(Ledger *l, const Migration *m, const char *state,
			  double execution_ms, bool has_ms)
{
	Datum		values[11];
	char		nulls[11];
	bool		in_progress = strcmp(state, "in_progress") == 0;

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
	ledger_run_insert(l, LQ_INSERT, m, values, nulls);
}

/* Insert an imported row: the other tool's time, author and checksum. */
void
ledger_import(Ledger *l, const Migration *m, const ImportedMigration *imp)
{
	Datum		values[10];
	char		nulls[10];

	values[0] = text_or_null(m->key, &nulls[0]);
	values[1] = text_or_null(m->version, &nulls[1]);
	values[2] = text_or_null(m->name, &nulls[2]);
	values[3] = text_or_null(m->checksum, &nulls[3]);
	values[4] = TimestampTzGetDatum(imp->applied_at);
	nulls[4] = ' ';
	values[5] = text_or_null(imp->applied_by ? imp->applied_by : l->caller, &nulls[5]);
	values[6] = Float8GetDatum(imp->execution_ms);
	nulls[6] = imp->has_ms ? ' ' : 'n';
	values[7] = text_or_null(m->down_sql, &nulls[7]);
	values[8] = text_or_null(imp->imported_from, &nulls[8]);
	values[9] = text_or_null(imp->source_checksum, &nulls[9]);
	ledger_run_insert(l, LQ_IMPORT, m, values, nulls);
}

/* The tool a recorded migration was imported from; NULL if not imported. */
char *
ledger_imported_from(Ledger *l, const char *key)
{
	Datum		values[1] = {CStringGetTextDatum(key)};

	ledger_run(l, LQ_IMPORTED_FROM, values, NULL);
	if (SPI_processed == 0)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}
