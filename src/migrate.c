/*-------------------------------------------------------------------------
 *
 * migrate.c
 *		Migration bookkeeping: dbcore.apply_migration() and its companions,
 *		and the dbcore.allow_out_of_order setting.
 *
 * Every function that changes the ledger takes one transaction-level
 * advisory lock first (so concurrent deploys run one at a time, waiting as
 * lock_timeout allows), then reads the ledger afresh (migration_ledger.c).
 * Scripts (up_sql, down_sql) run with the caller's rights, in the caller's
 * transaction; only the ledger rows are read and written as the ledger
 * table's owner.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "migrate.h"
#include "migration_ledger.h"

/*
 * dbcore's own SQLSTATEs, class MG (migrations; a class PostgreSQL leaves to
 * implementations), for the conditions a deploy tool must tell apart.  They
 * are a contract: doc/migrations.md lists them, dbcore-migrate relies on
 * them.
 */
#define ERRCODE_MIGRATION_CHANGED		MAKE_SQLSTATE('M','G','0','0','1')
#define ERRCODE_MIGRATION_INTERRUPTED	MAKE_SQLSTATE('M','G','0','0','2')
#define ERRCODE_MIGRATION_RUNNING		MAKE_SQLSTATE('M','G','0','0','3')
#define ERRCODE_MIGRATION_CONFLICT		MAKE_SQLSTATE('M','G','0','0','4')

/* The advisory lock key of the ledger: "dc" << 48 | "mig". */
#define MIGRATION_LOCK_KEY ((int64) ((UINT64CONST(25699) << 48) | UINT64CONST(0x6d6967)))

/* dbcore.allow_out_of_order: apply/revert migrations out of version order. */
static bool allow_out_of_order = false;

PG_FUNCTION_INFO_V1(dbcore_apply_migration);
PG_FUNCTION_INFO_V1(dbcore_begin_migration);
PG_FUNCTION_INFO_V1(dbcore_finish_migration);
PG_FUNCTION_INFO_V1(dbcore_repair_migration);
PG_FUNCTION_INFO_V1(dbcore_revert_migration);
PG_FUNCTION_INFO_V1(dbcore_baseline);
PG_FUNCTION_INFO_V1(dbcore_import_migration);

void
dbcore_migrate_init(void)
{
	DefineCustomBoolVariable("dbcore.allow_out_of_order",
							 "Lets migrations be applied or reverted out of version order.",
							 "Off: dbcore.apply_migration() refuses a version lower than the newest applied one, and dbcore.revert_migration() refuses any but the newest.",
							 &allow_out_of_order,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
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
				(errcode(ERRCODE_MIGRATION_INTERRUPTED),
				 errmsg("migration %s \"%s\" was interrupted", row->version, row->name),
				 errdetail("The session that began it (process %s, at %s) has ended: the migration was interrupted.",
						   row->session_pid, row->applied_at),
				 errhint("Check the schema, then call dbcore.repair_migration('%s') to run it again, or dbcore.finish_migration('%s') if its statements all completed.",
						 row->version, row->version)));
	ereport(ERROR,
			(errcode(ERRCODE_MIGRATION_RUNNING),
			 errmsg("migration %s \"%s\" is in progress", row->version, row->name),
			 errdetail("Migrations run one at a time, and this one was begun and has not been finished."),
			 errhint("Wait for it to finish.  If the session that began it is gone, check the schema, then call dbcore.finish_migration('%s') or dbcore.repair_migration('%s').",
					 row->version, row->version)));
}

/*
 * A version not in the ledger must not be older than the newest recorded
 * one, unless dbcore.allow_out_of_order is on.
 */
static void
check_in_order(Ledger *l, const Migration *m)
{
	LedgerRow	row;

	if (!allow_out_of_order &&
		ledger_get_simple(l, LQ_NEWEST, &row))
	{
		/* Not in the ledger, so the newest key differs from ours. */
		char	   *newest_key = ledger_version_key(row.version);

		if (strcmp(m->key, newest_key) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("migration %s \"%s\" is older than the newest applied migration %s \"%s\"",
							m->version, m->name, row.version, row.name),
					 errhint("Give it a version after %s, or SET dbcore.allow_out_of_order = on to apply it anyway.",
							 row.version)));
	}
}

/*
 * For a version not in the ledger: false when the baseline covers it;
 * reports an unfinished migration and a version older than the newest.
 */
static bool
check_new_version(Ledger *l, const Migration *m)
{
	LedgerRow	row;
	char	   *baseline = ledger_baseline_key(l);

	if (baseline != NULL && strcmp(m->key, baseline) < 0)
		return false;
	if (ledger_get_simple(l, LQ_IN_PROGRESS, &row))
		report_in_progress(l, &row);
	check_in_order(l, m);
	return true;
}

/* Two checksums that are both known and differ. */
static bool
checksums_differ(const char *recorded, const char *given)
{
	return recorded != NULL && given != NULL && strcmp(recorded, given) != 0;
}

static void
report_changed(const Migration *m, const LedgerRow *row)
{
	ereport(ERROR,
			(errcode(ERRCODE_MIGRATION_CHANGED),
			 errmsg("migration %s \"%s\" was applied with checksum %s, not %s",
					m->version, row->name, row->checksum, m->checksum),
			 errdetail("The up script of migration %s changed after it was applied.",
					   m->version),
			 errhint("Restore the script as it was applied, and put the change in a new migration.")));
}

/*
 * The checks apply_migration and begin_migration share.  Returns false when
 * there is nothing to do (applied with the same checksum, imported, or
 * covered by the baseline).
 */
static bool
check_can_apply(Ledger *l, const Migration *m)
{
	LedgerRow	row;

	if (ledger_get(l, m->key, &row))
	{
		if (strcmp(row.state, "baseline") == 0)
			return false;
		if (strcmp(row.state, "in_progress") == 0)
			report_in_progress(l, &row);
		/* An imported migration recorded without a checksum: applied. */
		if (checksums_differ(row.checksum, m->checksum))
			report_changed(m, &row);
		return false;
	}
	return check_new_version(l, m);
}

/*
 * import_migration over a version the ledger has: returns when the ledger
 * agrees (same migration, no conflicting checksum), reports otherwise.
 */
static void
check_import_agrees(Ledger *l, const Migration *m, const ImportedMigration *imp,
					const LedgerRow *row)
{
	char	   *source;

	if (strcmp(row->state, "baseline") == 0)
		return;
	if (strcmp(row->state, "in_progress") == 0)
		report_in_progress(l, row);
	if (strcmp(row->name, m->name) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_MIGRATION_CONFLICT),
				 errmsg("migration %s is recorded as \"%s\", not \"%s\"",
						m->version, row->name, m->name),
				 errdetail("The ledger and the history being imported disagree about migration %s.",
						   m->version),
				 errhint("Find out which migration ran as version %s; an import never changes what the ledger records.",
						 m->version)));
	source = ledger_imported_from(l, m->key);
	if (source != NULL && strcmp(source, imp->imported_from) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_MIGRATION_CONFLICT),
				 errmsg("migration %s \"%s\" was imported from %s, not %s",
						m->version, row->name, source, imp->imported_from),
				 errdetail("The ledger and the history being imported disagree about migration %s.",
						   m->version),
				 errhint("Import each migration from the tool that applied it.")));
	if (checksums_differ(row->checksum, m->checksum))
		report_changed(m, row);
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

	ledger_migration_args(fcinfo, &m);
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

	ledger_migration_args(fcinfo, &m);
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

	ledger_version_arg(fcinfo, &m);
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
	if (strcmp(row.state, "applied") == 0 || strcmp(row.state, "imported") == 0)
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

	ledger_version_arg(fcinfo, &m);
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

	ledger_version_arg(fcinfo, &m);
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
	if (!allow_out_of_order &&
		ledger_get_simple(&l, LQ_NEWEST, &newest) &&
		strcmp(ledger_version_key(newest.version), m.key) != 0)
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

	ledger_version_arg(fcinfo, &m);
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

/*
 * Records a migration another tool applied, without running anything:
 * its original name, time, author and run time, the SHA-256 of its up
 * script when known, the other tool's own checksum.  Idempotent: false when
 * the ledger already agrees.  Every value is bound as a parameter of a
 * ledger statement; nothing given here is ever run.
 */
Datum
dbcore_import_migration(PG_FUNCTION_ARGS)
{
	Migration	m;
	ImportedMigration imp;
	Ledger		l;
	LedgerRow	row;

	ledger_import_args(fcinfo, &m, &imp);
	ledger_open(&l, fcinfo);
	migration_lock();

	if (ledger_get(&l, m.key, &row))
	{
		check_import_agrees(&l, &m, &imp, &row);
		ledger_close();
		PG_RETURN_BOOL(false);
	}
	if (!check_new_version(&l, &m))
	{
		ledger_close();
		PG_RETURN_BOOL(false);
	}

	ledger_import(&l, &m, &imp);
	ledger_log(&l, &m, m.name, "imported", m.checksum, imp.execution_ms, imp.has_ms);
	ledger_close();
	PG_RETURN_BOOL(true);
}
