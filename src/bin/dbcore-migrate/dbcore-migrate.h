/*-------------------------------------------------------------------------
 *
 * dbcore-migrate.h
 *		What the parts of dbcore-migrate share: exit codes, messages,
 *		growing strings, migration files and the connection.
 *
 * dbcore-migrate.c holds the file loader and the commands over dbcore's
 * ledger; import.c the import of another tool's history.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBCORE_MIGRATE_H
#define DBCORE_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

#include "libpq-fe.h"

#define PROGNAME "dbcore-migrate"

/*
 * The server's SQLSTATEs this program acts on (doc/migrations.md): a
 * migration applied with another checksum (exit status 3), one still
 * running in a live session (wait for it), a ledger that records another
 * migration under a version being imported (exit status 3).  MG002, a
 * migration whose session has ended, is reported like any error: the
 * server's hint says how to repair it.
 */
#define SQLSTATE_MIGRATION_CHANGED		"MG001"
#define SQLSTATE_MIGRATION_RUNNING		"MG003"
#define SQLSTATE_MIGRATION_CONFLICT		"MG004"

#define EXIT_OK			0
#define EXIT_FAILURE_	1
#define EXIT_USAGE		2
#define EXIT_DRIFT		3
#define EXIT_CONNECT	4

#define VERSION_MAXLEN 64

/* Messages: errors to stderr, progress to stdout unless quiet. */
extern bool quiet;
extern void errmsg_(const char *fmt,...) __attribute__((format(printf, 1, 2)));
extern void info(const char *fmt,...) __attribute__((format(printf, 1, 2)));

extern void *xmalloc(size_t n);
extern void *xrealloc(void *p, size_t n);
extern char *xstrndup(const char *s, size_t n);

/* A growing string. */
typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

extern void buf_init(Buf *b);
extern void buf_putn(Buf *b, const char *s, size_t n);
extern void buf_puts(Buf *b, const char *s);

/* One migration, from a file or a folder. */
typedef struct MigrationFile
{
	char	   *version;
	char	   *name;
	char	   *path;
	char	   *up;
	char	   *down;			/* NULL: none */
	bool		no_transaction;
} MigrationFile;

typedef struct MigrationSet
{
	MigrationFile *files;
	int			n;
} MigrationSet;

/* "<version>_<name>" into its parts; false when it is not that. */
extern bool split_file_name(const char *base, char **version, char **name);
/* Read a migrations directory; false (after saying why) on errors. */
extern bool load_migrations(const char *dir, MigrationSet *set);

/* The database. */
extern PGconn *conn;
extern void report_result(PGresult *res, const char *context);
extern bool sqlstate_is(PGresult *res, const char *code);
extern PGresult *exec_params(const char *sql, int n, const char *const *params);

/* import --from TOOL [--table NAME]: another tool's history into the ledger. */
extern int	cmd_import(const char *from, const char *table, const char *dir,
					   bool dry_run);

#endif							/* DBCORE_MIGRATE_H */
