/*-------------------------------------------------------------------------
 *
 * dbcore-migrate
 *		Apply, revert and check schema migrations kept as files, through
 *		the dbcore migration functions (dbcore.apply_migration() and
 *		friends), so that locking, checksums and the ledger live in the
 *		database.
 *
 * Files: <version>_<name>.sql in the migrations directory; the down script
 * either in <version>_<name>.down.sql or after a line "-- migrate:down";
 * a line "-- migrate:no-transaction" in the up part makes the migration
 * non-transactional (begin_migration, each statement on its own,
 * finish_migration).  node-pg-migrate's SQL files ("-- Up Migration" and
 * "-- Down Migration" markers) and Prisma's folders
 * (<version>_<name>/migration.sql) are read as they are.  "import" records
 * another tool's history (import.c).  See doc/migrations.md.
 *
 * Exit status: 0 success, 1 failure (a migration or the database failed),
 * 2 usage or migration file error, 3 drift (verify, or up refusing to run
 * over an edited or missing file), 4 cannot connect.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dbcore-migrate.h"

/* The extension's version, from dbcore.control (the Makefile passes it). */
#ifndef DBCORE_VERSION
#error "build dbcore-migrate through its Makefile, which defines DBCORE_VERSION"
#endif
#define PROGVERSION DBCORE_VERSION

#define MARK_DOWN "-- migrate:down"
#define MARK_NOTX "-- migrate:no-transaction"

/* ----------------------------------------------------------------------
 * Small helpers
 * ----------------------------------------------------------------------
 */

bool		quiet = false;

void
errmsg_(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "%s: error: ", PROGNAME);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
info(const char *fmt,...)
{
	va_list		ap;

	if (quiet)
		return;
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

void *
xmalloc(size_t n)
{
	void	   *p = malloc(n ? n : 1);

	if (p == NULL)
	{
		errmsg_("out of memory");
		exit(EXIT_FAILURE_);
	}
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
	{
		errmsg_("out of memory");
		exit(EXIT_FAILURE_);
	}
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char	   *d = xmalloc(n + 1);

	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

void
buf_init(Buf *b)
{
	b->cap = 256;
	b->len = 0;
	b->data = xmalloc(b->cap);
	b->data[0] = '\0';
}

void
buf_putn(Buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap)
	{
		while (b->len + n + 1 > b->cap)
			b->cap *= 2;
		b->data = xrealloc(b->data, b->cap);
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_puts(Buf *b, const char *s)
{
	buf_putn(b, s, strlen(s));
}

/* Append s as one element of a text[] literal. */
static void
buf_array_elem(Buf *b, const char *s)
{
	buf_puts(b, b->len > 1 ? ",\"" : "\"");
	for (; *s; s++)
	{
		if (*s == '"' || *s == '\\')
			buf_putn(b, "\\", 1);
		buf_putn(b, s, 1);
	}
	buf_putn(b, "\"", 1);
}

/* ----------------------------------------------------------------------
 * Migration files
 * ----------------------------------------------------------------------
 */

static bool
is_digit_(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Split "<version>_<name>" (without ".sql"): the version is the longest
 * leading run of digit groups joined by ".", "_" or "-" that is followed by
 * "_" and a non-empty name.  Returns false when there is none.
 */
bool
split_file_name(const char *base, char **version, char **name)
{
	const char *p = base;
	const char *best = NULL;

	while (is_digit_(*p))
	{
		while (is_digit_(*p))
			p++;
		if (*p == '_' && p[1] != '\0')
			best = p;
		if ((*p == '.' || *p == '_' || *p == '-') && is_digit_(p[1]))
			p++;
		else
			break;
	}
	if (best == NULL || best - base > VERSION_MAXLEN)
		return false;
	*version = xstrndup(base, best - base);
	*name = xstrndup(best + 1, strlen(best + 1));
	return true;
}

static char *
read_file(const char *path, bool *ok)
{
	FILE	   *f = fopen(path, "rb");
	Buf			b;
	char		chunk[8192];
	size_t		n;

	*ok = false;
	if (f == NULL)
	{
		errmsg_("could not open \"%s\": %s", path, strerror(errno));
		return NULL;
	}
	buf_init(&b);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
	{
		if (memchr(chunk, '\0', n) != NULL)
		{
			errmsg_("file \"%s\" contains a zero byte; migration files are text", path);
			fclose(f);
			free(b.data);
			return NULL;
		}
		buf_putn(&b, chunk, n);
	}
	if (ferror(f))
	{
		errmsg_("could not read \"%s\": %s", path, strerror(errno));
		fclose(f);
		free(b.data);
		return NULL;
	}
	fclose(f);
	*ok = true;
	return b.data;
}

/* Is the line at p (up to the next newline) exactly the marker? */
static bool
line_is(const char *p, const char *marker)
{
	size_t		m = strlen(marker);

	if (strncmp(p, marker, m) != 0)
		return false;
	p += m;
	while (*p == ' ' || *p == '\t' || *p == '\r')
		p++;
	return *p == '\n' || *p == '\0';
}

/* Is text empty but for whitespace? */
static bool
blank(const char *s)
{
	for (; *s; s++)
		if (!isspace((unsigned char) *s))
			return false;
	return true;
}

static int
cmp_files_by_name(const void *a, const void *b)
{
	return strcmp(((const MigrationFile *) a)->path, ((const MigrationFile *) b)->path);
}

/*
 * node-pg-migrate's markers in SQL migrations: a line that starts (after
 * blanks) with "--", then blanks or dashes, then "up" or "down" (any case),
 * blanks and "migration".  The same test as node-pg-migrate's
 * createMigrationCommentRegex() (src/sqlMigration.ts).
 */
static bool
line_is_npm_marker(const char *p, const char *direction)
{
	size_t		n = strlen(direction);

	while (*p == ' ' || *p == '\t' || *p == '\r')
		p++;
	if (p[0] != '-' || p[1] != '-')
		return false;
	p += 2;
	while (*p == '-' || *p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, direction, n) != 0)
		return false;
	p += n;
	if (!(*p == ' ' || *p == '\t'))
		return false;
	while (*p == ' ' || *p == '\t')
		p++;
	return strncasecmp(p, "migration", 9) == 0;
}

/*
 * Split a migration's text into its up and down scripts and read its
 * markers.  dbcore's format: the down script follows a line
 * "-- migrate:down".  node-pg-migrate's (when there is no such line): the
 * up script runs from the "-- Up Migration" line to the "-- Down
 * Migration" line or the end, the down script from the "-- Down Migration"
 * line to the "-- Up Migration" line or the end, markers included, exactly
 * the text node-pg-migrate runs.  Only an "-- Up Migration" line makes a
 * file node-pg-migrate's: without one the whole text is the up script (as
 * node-pg-migrate runs it too), so a dbcore file whose comments mention a
 * down migration keeps the checksum it had.
 */
static void
split_scripts(char *text, MigrationFile *mf)
{
	char	   *p;
	char	   *npm_up = NULL;
	char	   *npm_down = NULL;

	for (p = text; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
	{
		if (line_is(p, MARK_DOWN))
		{
			char	   *after = strchr(p, '\n');

			mf->down = after ? strdup(after + 1) : strdup("");
			*p = '\0';
			mf->up = text;
			return;
		}
		if (line_is(p, MARK_NOTX))
			mf->no_transaction = true;
		if (npm_up == NULL && line_is_npm_marker(p, "up"))
			npm_up = p;
		if (npm_down == NULL && line_is_npm_marker(p, "down"))
			npm_down = p;
	}
	mf->up = text;
	if (npm_up == NULL)
		return;
	if (npm_down != NULL)
		mf->down = npm_up > npm_down ? xstrndup(npm_down, npm_up - npm_down) : strdup(npm_down);
	mf->up = npm_up;
	if (npm_down > npm_up)
		*npm_down = '\0';
}

/*
 * One migration: file "path", named "base" (without ".sql"), its twin
 * "<base>.down.sql" looked for in "twin_dir" (NULL: none).  Returns false
 * (after saying why) on a bad file.
 */
static bool
load_file(const char *path, const char *base, const char *twin_dir, MigrationFile *mf)
{
	bool		ok = true;
	bool		read_ok;
	char	   *text;

	memset(mf, 0, sizeof(*mf));
	if (!split_file_name(base, &mf->version, &mf->name))
		return false;
	mf->path = strdup(path);
	text = read_file(mf->path, &read_ok);
	if (!read_ok)
		return false;
	split_scripts(text, mf);

	/* Or a .down.sql twin. */
	if (twin_dir != NULL)
	{
		char	   *twin = xmalloc(strlen(twin_dir) + strlen(base) + 11);
		struct stat st;

		sprintf(twin, "%s/%s.down.sql", twin_dir, base);
		if (stat(twin, &st) == 0)
		{
			if (mf->down != NULL)
			{
				errmsg_("migration %s has both a down part and \"%s\"", path, twin);
				ok = false;
			}
			else
			{
				mf->down = read_file(twin, &read_ok);
				if (!read_ok)
					ok = false;
			}
		}
		free(twin);
	}
	if (mf->down != NULL && blank(mf->down))
	{
		free(mf->down);
		mf->down = NULL;
	}
	if (blank(mf->up))
	{
		errmsg_("migration file \"%s\" has no up script", mf->path);
		ok = false;
	}
	return ok;
}

static void
report_bad_name(const char *what, const char *fn, const char *form)
{
	errmsg_("migration %s \"%s\" is not %s", what, fn, form);
	fprintf(stderr, "hint: a version is digit groups joined by \".\", \"_\" or \"-\", such as 0042 or 20250802120130.\n");
}

/*
 * Read the migrations directory: files <version>_<name>.sql, and folders
 * <version>_<name>/ holding a migration.sql (Prisma's layout).  Returns
 * false (after saying why) on an unreadable directory or a malformed file.
 */
bool
load_migrations(const char *dir, MigrationSet *set)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	int			cap = 64;
	bool		ok = true;

	set->n = 0;
	set->files = xmalloc(sizeof(MigrationFile) * cap);
	if (d == NULL)
	{
		errmsg_("could not open migrations directory \"%s\": %s", dir, strerror(errno));
		return false;
	}
	while ((de = readdir(d)) != NULL)
	{
		const char *fn = de->d_name;
		size_t		len = strlen(fn);
		MigrationFile mf;
		char	   *path = xmalloc(strlen(dir) + len + 16);
		struct stat st;
		bool		loaded;

		if (fn[0] == '.')
		{
			free(path);
			continue;
		}
		sprintf(path, "%s/%s/migration.sql", dir, fn);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
		{
			/* Prisma: <version>_<name>/migration.sql, no down script. */
			loaded = load_file(path, fn, NULL, &mf);
			if (!loaded && mf.version == NULL)
				report_bad_name("folder", fn, "<version>_<name>/migration.sql");
		}
		else if (len >= 5 && strcmp(fn + len - 4, ".sql") == 0 &&
				 !(len > 9 && strcmp(fn + len - 9, ".down.sql") == 0))
		{
			char	   *base = xstrndup(fn, len - 4);

			sprintf(path, "%s/%s", dir, fn);
			loaded = load_file(path, base, dir, &mf);
			if (!loaded && mf.version == NULL)
				report_bad_name("file name", fn, "<version>_<name>.sql");
			free(base);
		}
		else
		{
			/* Other files, and .down.sql twins (read with their up file). */
			free(path);
			continue;
		}
		free(path);
		if (!loaded)
		{
			ok = false;
			continue;
		}
		if (set->n == cap)
		{
			cap *= 2;
			set->files = xrealloc(set->files, sizeof(MigrationFile) * cap);
		}
		set->files[set->n++] = mf;
	}
	closedir(d);
	qsort(set->files, set->n, sizeof(MigrationFile), cmp_files_by_name);
	return ok;
}

/* ----------------------------------------------------------------------
 * The database
 * ----------------------------------------------------------------------
 */

PGconn	   *conn = NULL;

/* Print a failed result's message, detail and hint. */
void
report_result(PGresult *res, const char *context)
{
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (msg == NULL)
		msg = PQerrorMessage(conn);
	if (context)
		fprintf(stderr, "%s: error: %s: %s", PROGNAME, context, msg);
	else
		fprintf(stderr, "%s: error: %s", PROGNAME, msg);
	if (state)
		fprintf(stderr, " (SQLSTATE %s)", state);
	fputc('\n', stderr);
	if (detail)
		fprintf(stderr, "detail: %s\n", detail);
	if (hint)
		fprintf(stderr, "hint: %s\n", hint);
}

bool
sqlstate_is(PGresult *res, const char *code)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return state != NULL && strcmp(state, code) == 0;
}

PGresult *
exec_params(const char *sql, int n, const char *const *params)
{
	return PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
}

static int
connect_db(const char *dbname)
{
	const char *keys[] = {"dbname", "fallback_application_name", "client_encoding", NULL};
	const char *vals[] = {dbname ? dbname : "", PROGNAME, "UTF8", NULL};
	PGresult   *res;

	conn = PQconnectdbParams(keys, vals, 1);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
	{
		errmsg_("could not connect to the database: %s",
				conn ? PQerrorMessage(conn) : "out of memory");
		return EXIT_CONNECT;
	}
	/* No migration function may stay quietly unavailable. */
	res = PQexec(conn, "SELECT pg_catalog.to_regprocedure('dbcore.apply_migration(text,text,text,text)') IS NOT NULL");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		report_result(res, NULL);
		PQclear(res);
		return EXIT_FAILURE_;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
	{
		errmsg_("the database has no dbcore migration functions");
		fprintf(stderr, "hint: CREATE EXTENSION dbcore, or ALTER EXTENSION dbcore UPDATE.\n");
		PQclear(res);
		return EXIT_FAILURE_;
	}
	PQclear(res);
	return EXIT_OK;
}

/* Build the versions[] and scripts[] literals of a set. */
static void
set_arrays(const MigrationSet *set, Buf *versions, Buf *scripts, Buf *names)
{
	int			i;

	buf_init(versions);
	buf_init(scripts);
	buf_init(names);
	buf_puts(versions, "{");
	buf_puts(scripts, "{");
	buf_puts(names, "{");
	for (i = 0; i < set->n; i++)
	{
		buf_array_elem(versions, set->files[i].version);
		buf_array_elem(scripts, set->files[i].up);
		buf_array_elem(names, set->files[i].name);
	}
	buf_puts(versions, "}");
	buf_puts(scripts, "}");
	buf_puts(names, "}");
}

static MigrationFile *
find_file(const MigrationSet *set, const char *version)
{
	int			i;

	for (i = 0; i < set->n; i++)
		if (strcmp(set->files[i].version, version) == 0)
			return &set->files[i];
	return NULL;
}

/*
 * verify_migrations() over the set.  Returns the result (rows: version,
 * name, status, detail in version order) or NULL after reporting an error.
 */
static PGresult *
verify_set(const MigrationSet *set)
{
	Buf			versions;
	Buf			scripts;
	Buf			names;
	const char *params[2];
	PGresult   *res;

	set_arrays(set, &versions, &scripts, &names);
	params[0] = versions.data;
	params[1] = scripts.data;
	res = exec_params("SELECT version, name, status, detail"
					  " FROM dbcore.verify_migrations($1::pg_catalog.text[], $2::pg_catalog.text[])",
					  2, params);
	free(versions.data);
	free(scripts.data);
	free(names.data);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		report_result(res, "could not verify migrations");
		PQclear(res);
		return NULL;
	}
	return res;
}

/*
 * A word of the statement being split (letters, digits, "_" and "$"),
 * compared without regard to case.
 */
static bool
word_is(const char *word, size_t len, const char *keyword)
{
	return strlen(keyword) == len && strncasecmp(word, keyword, len) == 0;
}

/*
 * Split a script into statements at top-level semicolons, minding quotes,
 * dollar quotes, comments and parentheses.  For non-transactional
 * migrations, whose statements must each run on their own.
 *
 * A SQL-standard function body, CREATE [OR REPLACE] FUNCTION|PROCEDURE ...
 * BEGIN ATOMIC ... END, holds semicolons of its own: while a statement that
 * starts that way is inside BEGIN ... END (CASE ... END nesting within it),
 * a semicolon does not end it.  psql's lexer judges these the same way.
 */
static char **
split_statements(const char *s, int *count)
{
	char	  **out = NULL;
	int			n = 0;
	const char *start = s;
	const char *p = s;
	int			paren_depth = 0;
	int			begin_depth = 0;
	int			nwords = 0;		/* words seen in this statement */
	bool		routine = false;	/* it is CREATE [OR REPLACE] FUNCTION|PROCEDURE */
	bool		or_replace = false;

	while (*p)
	{
		if (p[0] == '-' && p[1] == '-')
		{
			while (*p && *p != '\n')
				p++;
		}
		else if (p[0] == '/' && p[1] == '*')
		{
			int			depth = 1;

			p += 2;
			while (*p && depth > 0)
			{
				if (p[0] == '/' && p[1] == '*')
					depth++, p += 2;
				else if (p[0] == '*' && p[1] == '/')
					depth--, p += 2;
				else
					p++;
			}
		}
		else if (*p == '\'' || *p == '"')
		{
			char		q = *p;
			bool		backslash = (q == '\'' && p > s && (p[-1] == 'E' || p[-1] == 'e') &&
									 (p - 1 == s || !isalnum((unsigned char) p[-2])));

			p++;
			while (*p)
			{
				if (backslash && *p == '\\' && p[1])
					p += 2;
				else if (*p == q && p[1] == q)
					p += 2;
				else if (*p == q)
					break;
				else
					p++;
			}
			if (*p)
				p++;
		}
		else if (*p == '$' && (p == s || !(isalnum((unsigned char) p[-1]) || p[-1] == '_')))
		{
			const char *t = p + 1;

			while (isalnum((unsigned char) *t) || *t == '_')
				t++;
			if (*t == '$' && !(t > p + 1 && is_digit_(p[1])))
			{
				size_t		taglen = t - p + 1;
				const char *end = t + 1;

				while (*end && strncmp(end, p, taglen) != 0)
					end++;
				p = *end ? end + taglen : end;
			}
			else
				p++;
		}
		else if (isalpha((unsigned char) *p) || *p == '_')
		{
			const char *w = p;
			size_t		len;

			while (isalnum((unsigned char) *p) || *p == '_' || *p == '$')
				p++;
			len = p - w;
			/* CREATE [OR REPLACE] FUNCTION|PROCEDURE */
			if (nwords == 0)
				routine = word_is(w, len, "create");
			else if (routine && nwords == 1 && word_is(w, len, "or"))
				or_replace = true;
			else if (routine && nwords == (or_replace ? 3 : 1))
				routine = word_is(w, len, "function") || word_is(w, len, "procedure");
			else if (routine && or_replace && nwords == 2 && !word_is(w, len, "replace"))
				routine = false;
			nwords++;
			if (routine && nwords > (or_replace ? 4 : 2) && paren_depth == 0)
			{
				if (word_is(w, len, "begin"))
					begin_depth++;
				else if (word_is(w, len, "case") && begin_depth > 0)
					begin_depth++;
				else if (word_is(w, len, "end") && begin_depth > 0)
					begin_depth--;
			}
		}
		else if (*p == '(')
			paren_depth++, p++;
		else if (*p == ')')
		{
			if (paren_depth > 0)
				paren_depth--;
			p++;
		}
		else if (*p == ';' && paren_depth == 0 && begin_depth == 0)
		{
			out = xrealloc(out, sizeof(char *) * (n + 1));
			out[n++] = xstrndup(start, p - start + 1);
			p++;
			start = p;
			nwords = 0;
			routine = or_replace = false;
		}
		else
			p++;
	}
	if (!blank(start))
	{
		out = xrealloc(out, sizeof(char *) * (n + 1));
		out[n++] = xstrndup(start, strlen(start));
	}
	*count = n;
	return out;
}

/* ----------------------------------------------------------------------
 * Commands
 * ----------------------------------------------------------------------
 */

typedef struct Options
{
	const char *dbname;
	const char *dir;
	bool		dry_run;
	bool		out_of_order;
	int			wait_seconds;
	bool		dir_given;		/* -D was given */
} Options;

/*
 * Call apply_migration or begin_migration, waiting (up to --wait) while
 * another session has a non-transactional migration in progress.  Sets
 * *ran to what the function returned; returns an exit code after reporting
 * an error (EXIT_DRIFT for a changed checksum).
 */
static int
call_waiting(const char *sql, int n, const char *const *params, const Options *opt,
			 const MigrationFile *mf, bool *ran)
{
	int			waited_ms = 0;
	bool		told = false;

	for (;;)
	{
		PGresult   *res = exec_params(sql, n, params);

		if (PQresultStatus(res) == PGRES_TUPLES_OK)
		{
			*ran = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
			PQclear(res);
			return EXIT_OK;
		}
		/*
		 * Waiting makes sense only while the session that began the
		 * unfinished migration is connected (MG003); when it has ended
		 * (MG002), nothing will finish it.
		 */
		if (sqlstate_is(res, SQLSTATE_MIGRATION_RUNNING) &&
			waited_ms < opt->wait_seconds * 1000)
		{
			if (!told)
				info("waiting for an unfinished non-transactional migration (up to %d s)",
					 opt->wait_seconds);
			told = true;
			PQclear(res);
			usleep(200 * 1000);
			waited_ms += 200;
			continue;
		}
		{
			char	   *ctx = xmalloc(strlen(mf->path) + 32);

			sprintf(ctx, "migration file \"%s\"", mf->path);
			report_result(res, ctx);
			free(ctx);
		}
		{
			int			rc = sqlstate_is(res, SQLSTATE_MIGRATION_CHANGED) ? EXIT_DRIFT : EXIT_FAILURE_;

			PQclear(res);
			return rc;
		}
	}
}

static int
apply_file(const MigrationFile *mf, const Options *opt)
{
	const char *params[4] = {mf->version, mf->name, mf->up, mf->down};
	bool		ran = false;
	int			rc;
	struct timespec t0,
				t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!mf->no_transaction)
	{
		rc = call_waiting("SELECT dbcore.apply_migration($1, $2, $3, $4)", 4, params, opt, mf, &ran);
		if (rc != EXIT_OK)
			return rc;
	}
	else
	{
		char	  **stmts;
		int			nstmts;
		int			i;
		PGresult   *res;

		rc = call_waiting("SELECT dbcore.begin_migration($1, $2, $3, $4)", 4, params, opt, mf, &ran);
		if (rc != EXIT_OK)
			return rc;
		if (ran)
		{
			stmts = split_statements(mf->up, &nstmts);
			for (i = 0; i < nstmts; i++)
			{
				res = PQexec(conn, stmts[i]);
				if (PQresultStatus(res) != PGRES_COMMAND_OK &&
					PQresultStatus(res) != PGRES_TUPLES_OK &&
					PQresultStatus(res) != PGRES_EMPTY_QUERY)
				{
					char	   *ctx = xmalloc(strlen(mf->path) + 64);

					sprintf(ctx, "non-transactional migration \"%s\", statement %d", mf->path, i + 1);
					report_result(res, ctx);
					free(ctx);
					fprintf(stderr, "hint: migration %s stays in progress; check the schema, then run \"%s repair %s\" and fix the file, or finish it by hand with dbcore.finish_migration('%s').\n",
							mf->version, PROGNAME, mf->version, mf->version);
					PQclear(res);
					return EXIT_FAILURE_;
				}
				PQclear(res);
			}
			res = exec_params("SELECT dbcore.finish_migration($1)", 1, params);
			if (PQresultStatus(res) != PGRES_TUPLES_OK)
			{
				report_result(res, "could not finish the migration");
				PQclear(res);
				return EXIT_FAILURE_;
			}
			PQclear(res);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (ran)
		info("applied  %s %s%s (%.1f ms)", mf->version, mf->name,
			 mf->no_transaction ? " [no-transaction]" : "",
			 (t1.tv_sec - t0.tv_sec) * 1000.0 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	else
		info("skipped  %s %s (already applied)", mf->version, mf->name);
	return EXIT_OK;
}

/* up [N] [--to VERSION] */
static int
cmd_up(const Options *opt, const MigrationSet *set, long limit, const char *to)
{
	PGresult   *res = verify_set(set);
	int			i;
	int			drift = 0;
	long		done = 0;
	char	   *to_key = NULL;

	if (res == NULL)
		return EXIT_FAILURE_;

	if (to != NULL)
	{
		const char *params[1] = {to};
		PGresult   *kr = exec_params("SELECT dbcore.migration_version_key($1)", 1, params);

		if (PQresultStatus(kr) != PGRES_TUPLES_OK)
		{
			report_result(kr, "bad --to version");
			PQclear(kr);
			PQclear(res);
			return EXIT_USAGE;
		}
		to_key = strdup(PQgetvalue(kr, 0, 0));
		PQclear(kr);
	}

	for (i = 0; i < PQntuples(res); i++)
	{
		const char *status = PQgetvalue(res, i, 2);

		if (strcmp(status, "changed") == 0 ||
			(strcmp(status, "missing") == 0 && !opt->out_of_order))
		{
			errmsg_("migration %s is %s: %s", PQgetvalue(res, i, 0), status, PQgetvalue(res, i, 3));
			drift++;
		}
	}
	if (drift > 0)
	{
		fprintf(stderr, "hint: restore edited files as they were applied; apply older files with --allow-out-of-order.\n");
		PQclear(res);
		return EXIT_DRIFT;
	}
	if (opt->out_of_order && !opt->dry_run)
	{
		PGresult   *sr = PQexec(conn, "SET dbcore.allow_out_of_order = on");

		PQclear(sr);
	}

	for (i = 0; i < PQntuples(res) && (limit < 0 || done < limit); i++)
	{
		const char *status = PQgetvalue(res, i, 2);
		const char *version = PQgetvalue(res, i, 0);
		MigrationFile *mf;
		int			rc;

		if (strcmp(status, "pending") != 0 && strcmp(status, "missing") != 0 &&
			strcmp(status, "in_progress") != 0)
			continue;
		mf = find_file(set, version);
		if (mf == NULL)
			continue;
		if (to_key != NULL)
		{
			const char *params[1] = {version};
			PGresult   *kr = exec_params("SELECT dbcore.migration_version_key($1)", 1, params);
			bool		beyond = PQresultStatus(kr) == PGRES_TUPLES_OK &&
				strcmp(PQgetvalue(kr, 0, 0), to_key) > 0;

			PQclear(kr);
			if (beyond)
				break;
		}
		if (opt->dry_run)
		{
			info("would apply  %s %s%s", mf->version, mf->name,
				 mf->no_transaction ? " [no-transaction]" : "");
			done++;
			continue;
		}
		rc = apply_file(mf, opt);
		if (rc != EXIT_OK)
		{
			PQclear(res);
			return rc;
		}
		done++;
	}
	PQclear(res);
	if (done == 0)
		info("nothing to apply");
	return EXIT_OK;
}

/* down [N]: revert the N newest applied migrations (default 1). */
static int
cmd_down(const Options *opt, long n)
{
	PGresult   *res = PQexec(conn,
							 "SELECT version, name, has_down FROM dbcore.migration_status()"
							 " WHERE state IN ('applied', 'imported')"
							 " ORDER BY dbcore.migration_version_key(version) DESC");
	int			i;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		report_result(res, "could not read the ledger");
		PQclear(res);
		return EXIT_FAILURE_;
	}
	if (PQntuples(res) == 0)
		info("nothing to revert");
	for (i = 0; i < PQntuples(res) && i < n; i++)
	{
		const char *params[1] = {PQgetvalue(res, i, 0)};
		PGresult   *r;

		if (opt->dry_run)
		{
			info("would revert %s %s%s", params[0], PQgetvalue(res, i, 1),
				 strcmp(PQgetvalue(res, i, 2), "t") == 0 ? "" : " (no down script: would fail)");
			continue;
		}
		r = exec_params("SELECT dbcore.revert_migration($1)", 1, params);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
		{
			report_result(r, "could not revert");
			PQclear(r);
			PQclear(res);
			return EXIT_FAILURE_;
		}
		if (strcmp(PQgetvalue(r, 0, 0), "t") == 0)
			info("reverted %s %s", params[0], PQgetvalue(res, i, 1));
		else
			info("skipped  %s %s (no longer applied)", params[0], PQgetvalue(res, i, 1));
		PQclear(r);
	}
	PQclear(res);
	return EXIT_OK;
}

/* status: the ledger and the files, side by side. */
static int
cmd_status(const MigrationSet *set)
{
	Buf			versions;
	Buf			scripts;
	Buf			names;
	const char *params[3];
	PGresult   *res;
	int			widths[7] = {0};
	const char *heads[7] = {"VERSION", "NAME", "STATE", "DRIFT", "APPLIED AT", "BY", "MS"};
	int			i;
	int			c;

	set_arrays(set, &versions, &scripts, &names);
	params[0] = versions.data;
	params[1] = scripts.data;
	params[2] = names.data;
	res = exec_params(
		"WITH v AS (SELECT * FROM dbcore.verify_migrations($1::pg_catalog.text[], $2::pg_catalog.text[])),"
		" s AS (SELECT * FROM dbcore.migration_status()),"
		" f AS (SELECT * FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]),"
		"                               pg_catalog.unnest($3::pg_catalog.text[])) AS f(version, name))"
		" SELECT coalesce(v.version, s.version),"
		"        coalesce(s.name, f.name, ''),"
		"        CASE WHEN s.state IN ('applied', 'in_progress', 'baseline', 'imported') THEN s.state"
		"             WHEN v.status = 'baseline' THEN 'baseline'"
		"             WHEN v.status = 'missing' THEN 'pending (out of order)'"
		"             WHEN s.state IS NOT NULL THEN s.state || ', pending'"
		"             ELSE 'pending' END,"
		"        CASE v.status WHEN 'changed' THEN 'CHANGED' WHEN 'unknown' THEN 'no file'"
		"             WHEN 'missing' THEN 'MISSING' ELSE '' END,"
		"        coalesce(pg_catalog.to_char(s.applied_at, 'YYYY-MM-DD HH24:MI:SS'), ''),"
		"        coalesce(s.applied_by, ''),"
		"        coalesce(pg_catalog.round(s.execution_ms::pg_catalog.numeric, 1)::pg_catalog.text, '')"
		"   FROM v FULL JOIN s ON dbcore.migration_version_key(s.version) = dbcore.migration_version_key(v.version)"
		"   LEFT JOIN f ON dbcore.migration_version_key(f.version) = dbcore.migration_version_key(coalesce(v.version, s.version))"
		"  ORDER BY dbcore.migration_version_key(coalesce(v.version, s.version)) COLLATE \"C\"",
		3, params);
	free(versions.data);
	free(scripts.data);
	free(names.data);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		report_result(res, "could not read the status");
		PQclear(res);
		return EXIT_FAILURE_;
	}
	for (c = 0; c < 7; c++)
	{
		widths[c] = (int) strlen(heads[c]);
		for (i = 0; i < PQntuples(res); i++)
			if (PQgetlength(res, i, c) > widths[c])
				widths[c] = PQgetlength(res, i, c);
	}
	for (c = 0; c < 7; c++)
		printf("%-*s%s", c < 6 ? widths[c] : 0, heads[c], c < 6 ? "  " : "\n");
	for (c = 0; c < 7; c++)
	{
		for (i = 0; i < widths[c]; i++)
			putchar('-');
		printf("%s", c < 6 ? "  " : "\n");
	}
	for (i = 0; i < PQntuples(res); i++)
		for (c = 0; c < 7; c++)
			printf("%-*s%s", c < 6 ? widths[c] : 0, PQgetvalue(res, i, c), c < 6 ? "  " : "\n");
	printf("(%d migration%s)\n", PQntuples(res), PQntuples(res) == 1 ? "" : "s");
	PQclear(res);
	return EXIT_OK;
}

/* verify: exit 3 when the files and the ledger disagree. */
static int
cmd_verify(const MigrationSet *set)
{
	PGresult   *res = verify_set(set);
	int			i;
	int			problems = 0;
	int			pending = 0;

	if (res == NULL)
		return EXIT_FAILURE_;
	for (i = 0; i < PQntuples(res); i++)
	{
		const char *status = PQgetvalue(res, i, 2);

		if (strcmp(status, "pending") == 0)
			pending++;
		else if (strcmp(status, "ok") != 0 && strcmp(status, "baseline") != 0 &&
				 strcmp(status, "imported") != 0)
		{
			printf("%-11s %s %s: %s\n", status, PQgetvalue(res, i, 0),
				   PQgetvalue(res, i, 1), PQgetvalue(res, i, 3));
			problems++;
		}
	}
	PQclear(res);
	if (problems > 0)
	{
		errmsg_("%d migration%s drifted from the ledger", problems, problems == 1 ? "" : "s");
		return EXIT_DRIFT;
	}
	info("ok: %d file%s match the ledger, %d pending", set->n - pending,
		 set->n - pending == 1 ? "" : "s", pending);
	return EXIT_OK;
}

static int
cmd_simple_call(const char *sql, const char *version, const char *done, const char *noop,
				const Options *opt)
{
	const char *params[1] = {version};
	PGresult   *res;

	if (opt->dry_run)
	{
		info("would call %s with %s", sql, version);
		return EXIT_OK;
	}
	res = exec_params(sql, 1, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		int			rc = sqlstate_is(res, "22P02") ? EXIT_USAGE : EXIT_FAILURE_;

		report_result(res, NULL);
		PQclear(res);
		return rc;
	}
	info("%s %s", strcmp(PQgetvalue(res, 0, 0), "t") == 0 ? done : noop, version);
	PQclear(res);
	return EXIT_OK;
}

/* create NAME: a new, empty migration file named by the UTC time. */
static int
cmd_create(const Options *opt, const char *name)
{
	char		stamp[32];
	time_t		now = time(NULL);
	struct tm	tm;
	char	   *path;
	const char *p;
	int			fd;
	FILE	   *f;

	if (name[0] == '\0' || strlen(name) > 100)
	{
		errmsg_("migration name must be 1 to 100 characters");
		return EXIT_USAGE;
	}
	for (p = name; *p; p++)
		if (!(isalnum((unsigned char) *p) || *p == '_' || *p == '-'))
		{
			errmsg_("invalid migration name \"%s\"", name);
			fprintf(stderr, "hint: use letters, digits, \"_\" and \"-\", such as add_users.\n");
			return EXIT_USAGE;
		}
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
	path = xmalloc(strlen(opt->dir) + strlen(stamp) + strlen(name) + 8);
	sprintf(path, "%s/%s_%s.sql", opt->dir, stamp, name);
	if (opt->dry_run)
	{
		info("would create %s", path);
		return EXIT_OK;
	}
	if (mkdir(opt->dir, 0777) != 0 && errno != EEXIST)
	{
		errmsg_("could not create directory \"%s\": %s", opt->dir, strerror(errno));
		return EXIT_FAILURE_;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL)
	{
		errmsg_("could not create \"%s\": %s", path, strerror(errno));
		return EXIT_FAILURE_;
	}
	fprintf(f, "-- %s %s\n-- Up: runs in one transaction with the ledger update.\n\n\n%s\n-- Down: run by \"%s down\".\n\n",
			stamp, name, MARK_DOWN, PROGNAME);
	if (fclose(f) != 0)
	{
		errmsg_("could not write \"%s\": %s", path, strerror(errno));
		return EXIT_FAILURE_;
	}
	printf("%s\n", path);
	return EXIT_OK;
}

static void
usage(FILE *out)
{
	fprintf(out,
			"%s applies schema migrations kept as files through dbcore's ledger.\n\n"
			"Usage:\n"
			"  %s [OPTION]... COMMAND [ARG]...\n\n"
			"Commands:\n"
			"  up [N] [--to VERSION]  apply pending migrations (all, the next N, or up to VERSION)\n"
			"  down [N]               revert the N newest applied migrations (default 1)\n"
			"  redo                   revert the newest migration and apply it again\n"
			"  status                 show the ledger and the files as a table\n"
			"  verify                 compare the files with the ledger (exit 3 on drift)\n"
			"  create NAME            write an empty migration file <timestamp>_NAME.sql\n"
			"  baseline VERSION       adopt an existing database: VERSION and older count as applied\n"
			"  repair VERSION         clear a crashed non-transactional migration\n"
			"  import --from TOOL     record the migrations another tool applied (TOOL:\n"
			"                         node-pg-migrate, prisma, flyway, or migrations-table:\n"
			"                         a table of names and applied_at), running nothing\n\n"
			"Options:\n"
			"  -d, --dbname=CONNINFO  database name or connection string (default: $DATABASE_URL,\n"
			"                         else libpq's PG* environment variables)\n"
			"  -D, --dir=DIR          migrations directory (default: ./migrations)\n"
			"  -n, --dry-run          show what would be done, change nothing\n"
			"      --allow-out-of-order  apply files older than the newest applied one\n"
			"      --wait=SECONDS     how long up waits for another session's unfinished\n"
			"                         non-transactional migration (default 60); not at all\n"
			"                         when the session that began it has ended\n"
			"      --from=TOOL        import: the tool whose history to import\n"
			"      --table=NAME       import: its history table (default: pgmigrations,\n"
			"                         _prisma_migrations, flyway_schema_history, migrations)\n"
			"  -q, --quiet            print errors only\n"
			"  -V, --version          print the version and exit\n"
			"  -h, --help             show this help and exit\n\n"
			"Exit status: 0 ok, 1 failure, 2 usage or file error, 3 drift, 4 cannot connect.\n",
			PROGNAME, PROGNAME);
}

static bool
parse_count(const char *s, long *n)
{
	char	   *end;

	errno = 0;
	*n = strtol(s, &end, 10);
	return errno == 0 && *s != '\0' && *end == '\0' && *n > 0;
}

int
main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"dir", required_argument, NULL, 'D'},
		{"dry-run", no_argument, NULL, 'n'},
		{"quiet", no_argument, NULL, 'q'},
		{"to", required_argument, NULL, 't'},
		{"allow-out-of-order", no_argument, NULL, 'o'},
		{"wait", required_argument, NULL, 'w'},
		{"from", required_argument, NULL, 'f'},
		{"table", required_argument, NULL, 'T'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	Options		opt = {NULL, "migrations", false, false, 60, false};
	const char *to = NULL;
	const char *from = NULL;
	const char *table = NULL;
	const char *cmd;
	MigrationSet set = {NULL, 0};
	int			c;
	int			rc;
	int			nargs;

	while ((c = getopt_long(argc, argv, "d:D:nqVh", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
				opt.dbname = optarg;
				break;
			case 'D':
				opt.dir = optarg;
				opt.dir_given = true;
				break;
			case 'f':
				from = optarg;
				break;
			case 'T':
				table = optarg;
				break;
			case 'n':
				opt.dry_run = true;
				break;
			case 'q':
				quiet = true;
				break;
			case 't':
				to = optarg;
				break;
			case 'o':
				opt.out_of_order = true;
				break;
			case 'w':
				{
					long		w;

					if (!parse_count(optarg, &w) && strcmp(optarg, "0") != 0)
					{
						errmsg_("invalid --wait \"%s\": give a number of seconds", optarg);
						return EXIT_USAGE;
					}
					opt.wait_seconds = strcmp(optarg, "0") == 0 ? 0 : (int) (w > 86400 ? 86400 : w);
					break;
				}
			case 'V':
				printf("%s %s\n", PROGNAME, PROGVERSION);
				return EXIT_OK;
			case 'h':
				usage(stdout);
				return EXIT_OK;
			default:
				fprintf(stderr, "Try \"%s --help\" for more information.\n", PROGNAME);
				return EXIT_USAGE;
		}
	}
	if (optind >= argc)
	{
		errmsg_("no command given");
		fprintf(stderr, "Try \"%s --help\" for more information.\n", PROGNAME);
		return EXIT_USAGE;
	}
	cmd = argv[optind++];
	nargs = argc - optind;
	if (opt.dbname == NULL && getenv("DATABASE_URL") != NULL && getenv("DATABASE_URL")[0] != '\0')
		opt.dbname = getenv("DATABASE_URL");

	if ((from != NULL || table != NULL) && strcmp(cmd, "import") != 0)
	{
		errmsg_("--from and --table work with import only");
		return EXIT_USAGE;
	}

	/* Check the command line fully before touching anything. */
	if (strcmp(cmd, "import") == 0)
	{
		struct stat st;

		if (nargs != 0 || to != NULL || from == NULL)
		{
			errmsg_("import takes --from TOOL and no arguments");
			fprintf(stderr, "hint: %s import --from node-pg-migrate|prisma|flyway|migrations-table [--table NAME]\n", PROGNAME);
			return EXIT_USAGE;
		}
		if ((rc = connect_db(opt.dbname)) != EXIT_OK)
			return rc;
		/* The default directory is read only when it exists. */
		rc = cmd_import(from, table,
						opt.dir_given || stat(opt.dir, &st) == 0 ? opt.dir : NULL,
						opt.dry_run);
	}
	else if (strcmp(cmd, "create") == 0)
	{
		if (nargs != 1)
		{
			errmsg_("create takes one argument, the migration name");
			return EXIT_USAGE;
		}
		return cmd_create(&opt, argv[optind]);
	}
	else if (strcmp(cmd, "up") == 0 || strcmp(cmd, "down") == 0)
	{
		long		n = -1;

		if (nargs > 1 || (nargs == 1 && !parse_count(argv[optind], &n)))
		{
			errmsg_("%s takes at most one argument, a positive count", cmd);
			return EXIT_USAGE;
		}
		if (to != NULL && strcmp(cmd, "up") != 0)
		{
			errmsg_("--to works with up only");
			return EXIT_USAGE;
		}
		if (to != NULL && n > 0)
		{
			errmsg_("give a count or --to, not both");
			return EXIT_USAGE;
		}
		if (strcmp(cmd, "up") == 0)
		{
			if (!load_migrations(opt.dir, &set))
				return EXIT_USAGE;
			if ((rc = connect_db(opt.dbname)) != EXIT_OK)
				return rc;
			rc = cmd_up(&opt, &set, n, to);
		}
		else
		{
			if ((rc = connect_db(opt.dbname)) != EXIT_OK)
				return rc;
			rc = cmd_down(&opt, n < 0 ? 1 : n);
		}
	}
	else if (strcmp(cmd, "redo") == 0 || strcmp(cmd, "status") == 0 || strcmp(cmd, "verify") == 0)
	{
		if (nargs != 0 || to != NULL)
		{
			errmsg_("%s takes no arguments", cmd);
			return EXIT_USAGE;
		}
		if (!load_migrations(opt.dir, &set))
			return EXIT_USAGE;
		if ((rc = connect_db(opt.dbname)) != EXIT_OK)
			return rc;
		if (strcmp(cmd, "status") == 0)
			rc = cmd_status(&set);
		else if (strcmp(cmd, "verify") == 0)
			rc = cmd_verify(&set);
		else
		{
			rc = cmd_down(&opt, 1);
			if (rc == EXIT_OK)
				rc = cmd_up(&opt, &set, 1, NULL);
		}
	}
	else if (strcmp(cmd, "baseline") == 0 || strcmp(cmd, "repair") == 0)
	{
		if (nargs != 1 || to != NULL)
		{
			errmsg_("%s takes one argument, a version", cmd);
			return EXIT_USAGE;
		}
		if ((rc = connect_db(opt.dbname)) != EXIT_OK)
			return rc;
		if (strcmp(cmd, "baseline") == 0)
			rc = cmd_simple_call("SELECT dbcore.baseline($1)", argv[optind],
								 "baselined at", "already baselined at", &opt);
		else
			rc = cmd_simple_call("SELECT dbcore.repair_migration($1)", argv[optind],
								 "repaired", "nothing to repair for", &opt);
	}
	else
	{
		errmsg_("unknown command \"%s\"", cmd);
		fprintf(stderr, "Try \"%s --help\" for more information.\n", PROGNAME);
		return EXIT_USAGE;
	}

	PQfinish(conn);
	return rc;
}
