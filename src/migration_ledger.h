/*-------------------------------------------------------------------------
 *
 * migration_ledger.h
 *		The migration ledger's storage (migration_ledger.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBCORE_MIGRATION_LEDGER_H
#define DBCORE_MIGRATION_LEDGER_H

#include "fmgr.h"
#include "datatype/timestamp.h"

/* What the caller says about one migration, checked. */
typedef struct Migration
{
	char	   *version;
	char	   *key;
	char	   *name;
	char	   *up_sql;
	char	   *down_sql;		/* NULL: none */
	char	   *checksum;		/* of up_sql; imported: given, or NULL */
} Migration;

/* What dbcore.import_migration() is told about a migration another tool ran. */
typedef struct ImportedMigration
{
	TimestampTz applied_at;
	char	   *imported_from;	/* the tool that applied it */
	char	   *source_checksum;	/* that tool's checksum, or NULL */
	char	   *applied_by;		/* NULL: the caller */
	double		execution_ms;
	bool		has_ms;
} ImportedMigration;

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
	LQ_IMPORT,					/* a new imported row */
	LQ_IMPORTED_FROM,			/* $1 key -> imported_from */
	LQ_COUNT
} LedgerQuery;

/* Where the ledger is; who called. */
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

/* The natural sort key of a version; reports malformed versions. */
extern char *ledger_version_key(const char *version);

/* The checked arguments of a migration function. */
extern void ledger_version_arg(FunctionCallInfo fcinfo, Migration *m);
extern void ledger_migration_args(FunctionCallInfo fcinfo, Migration *m);
extern void ledger_import_args(FunctionCallInfo fcinfo, Migration *m, ImportedMigration *imp);

/* Find the ledger through the calling function's schema; connect SPI. */
extern void ledger_open(Ledger *l, FunctionCallInfo fcinfo);
extern void ledger_close(void);

/* Run one ledger statement as the ledger's owner; rows in SPI_tuptable. */
extern int	ledger_run(Ledger *l, LedgerQuery q, Datum *values, const char *nulls);

/* The row of a version, or of one of the LQ_NEWEST/IN_PROGRESS queries. */
extern bool ledger_get(Ledger *l, const char *key, LedgerRow *row);
extern bool ledger_get_simple(Ledger *l, LedgerQuery q, LedgerRow *row);
extern char *ledger_baseline_key(Ledger *l);

/* Record a history event; insert a ledger row. */
extern void ledger_log(Ledger *l, const Migration *m, const char *name, const char *event,
					   const char *checksum, double execution_ms, bool has_ms);
extern void ledger_insert(Ledger *l, const Migration *m, const char *state,
						  double execution_ms, bool has_ms);
extern void ledger_import(Ledger *l, const Migration *m, const ImportedMigration *imp);
extern char *ledger_imported_from(Ledger *l, const char *key);

#endif							/* DBCORE_MIGRATION_LEDGER_H */
