/*-------------------------------------------------------------------------
 *
 * import.c
 *		dbcore-migrate import: the history of another migration tool into
 *		dbcore's ledger, without running anything.
 *
 * Reads, as the connected role, node-pg-migrate's pgmigrations, Prisma's
 * _prisma_migrations, Flyway's flyway_schema_history or the table of a
 * hand-written runner (a name and an applied_at per applied migration; a
 * view can give any table that shape), maps each applied
 * migration to a dbcore version and name, and records it with
 * dbcore.import_migration() (original name, time, author, run time, the
 * tool's checksum), all in one transaction, in version order.  Rows that
 * are not applied (failed, rolled back, undone, deleted) are skipped, rows
 * dbcore cannot represent (repeatable migrations, names without a version)
 * are reported; both are listed.  Before writing, the ledger's earlier
 * imports from the same tool must all still be applied there: a ledger
 * that disagrees stops the import with exit status 3, as the server's
 * MG001 and MG004 do.  See doc/migrations.md.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dbcore-migrate.h"

/* The tools whose history can be imported. */
typedef enum SourceKind
{
	SOURCE_NODE_PG_MIGRATE,
	SOURCE_PRISMA,
	SOURCE_FLYWAY,
	SOURCE_MIGRATIONS_TABLE
} SourceKind;

typedef struct Source
{
	const char *tool;			/* --from, and imported_from in the ledger */
	const char *table;			/* default table */
	const char *query;			/* %s: the table; see read_* for columns */
} Source;

static const Source sources[] = {
	[SOURCE_NODE_PG_MIGRATE] = {
		"node-pg-migrate", "pgmigrations",
		"SELECT name, run_on::pg_catalog.timestamptz::pg_catalog.text FROM %s ORDER BY id"
	},
	[SOURCE_PRISMA] = {
		"prisma", "_prisma_migrations",
		"SELECT migration_name, checksum, finished_at::pg_catalog.text,"
		" rolled_back_at IS NOT NULL,"
		" (pg_catalog.date_part('epoch', finished_at OPERATOR(pg_catalog.-) started_at)"
		"  OPERATOR(pg_catalog.*) 1000)::pg_catalog.text"
		" FROM %s ORDER BY started_at, migration_name"
	},
	[SOURCE_FLYWAY] = {
		"flyway", "flyway_schema_history",
		"SELECT installed_rank::pg_catalog.text, version, description, type, script,"
		" checksum::pg_catalog.text, installed_by, installed_on::pg_catalog.timestamptz::pg_catalog.text,"
		" execution_time::pg_catalog.text, success"
		" FROM %s ORDER BY installed_rank"
	},
	[SOURCE_MIGRATIONS_TABLE] = {
		"migrations-table", "migrations",
		"SELECT name, applied_at::pg_catalog.timestamptz::pg_catalog.text FROM %s ORDER BY applied_at, name"
	},
};

/* One applied migration of the other tool, mapped to dbcore's terms. */
typedef struct Entry
{
	char	   *label;			/* how the other tool names it */
	char	   *version;
	char	   *key;			/* natural sort key, as the server's */
	char	   *name;
	char	   *applied_at;
	char	   *checksum;		/* SHA-256 of the up script, or NULL */
	char	   *source_checksum;
	char	   *applied_by;
	char	   *execution_ms;
	char	   *down;
	bool		baseline;		/* Flyway's baseline marker */
	bool		applied;		/* false: skipped (said why) */
} Entry;

typedef struct Import
{
	SourceKind	kind;
	Entry	   *entries;
	int			n;
	int			cap;
	int			skipped;
	int			unmapped;
} Import;

/* ----------------------------------------------------------------------
 * Versions
 * ----------------------------------------------------------------------
 */

/*
 * The natural sort key of a version, as dbcore.migration_version_key()
 * computes it; NULL when the string is not a version.
 */
static char *
version_key(const char *version)
{
	Buf			key;
	const char *p = version;

	if (*p == '\0' || strlen(version) > VERSION_MAXLEN)
		return NULL;
	buf_init(&key);
	for (;;)
	{
		const char *start = p;
		const char *digits;
		char		len[8];

		while (*p >= '0' && *p <= '9')
			p++;
		if (p == start)
		{
			free(key.data);
			return NULL;
		}
		digits = start;
		while (digits < p - 1 && *digits == '0')
			digits++;
		if (key.len > 0)
			buf_puts(&key, ".");
		snprintf(len, sizeof(len), "%02d", (int) (p - digits));
		buf_puts(&key, len);
		buf_putn(&key, digits, p - digits);
		if (*p == '\0')
			return key.data;
		if (*p != '.' && *p != '_' && *p != '-')
		{
			free(key.data);
			return NULL;
		}
		p++;
	}
}

static char *
dup_or_null(PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : strdup(PQgetvalue(res, row, col));
}

/* The entry of a version key, or NULL. */
static Entry *
find_entry(Import *im, const char *key)
{
	int			i;

	for (i = 0; i < im->n; i++)
		if (im->entries[i].key != NULL && strcmp(im->entries[i].key, key) == 0)
			return &im->entries[i];
	return NULL;
}

static Entry *
new_entry(Import *im, const char *label)
{
	Entry	   *e;

	if (im->n == im->cap)
	{
		im->cap = im->cap ? im->cap * 2 : 64;
		im->entries = xrealloc(im->entries, sizeof(Entry) * im->cap);
	}
	e = &im->entries[im->n++];
	memset(e, 0, sizeof(*e));
	e->label = strdup(label);
	e->applied = true;
	return e;
}

/* A row that is not applied in the other tool: listed, not imported. */
static void
skip(Import *im, Entry *e, const char *why)
{
	info("skipped   %s: %s", e->label, why);
	e->applied = false;
	im->skipped++;
}

/* A row dbcore cannot represent: a warning, not imported. */
static void
unmapped(Import *im, Entry *e, const char *why)
{
	fprintf(stderr, "%s: warning: not imported: %s: %s\n", PROGNAME, e->label, why);
	e->applied = false;
	im->unmapped++;
}

/*
 * Give e the version and name of "<version>_<name>", as dbcore-migrate
 * reads file names; a second entry for the same version is not mapped.
 */
static void
map_file_style_name(Import *im, Entry *e, const char *what)
{
	Entry	   *other;

	if (!split_file_name(e->label, &e->version, &e->name))
	{
		unmapped(im, e, "the name does not start with a version (<version>_<name>)");
		return;
	}
	e->key = version_key(e->version);
	other = find_entry(im, e->key);
	if (other != NULL && other != e && other->applied)
	{
		char	   *why = xmalloc(strlen(other->label) + strlen(what) + 64);

		sprintf(why, "same version as %s \"%s\"", what, other->label);
		e->key = NULL;
		unmapped(im, e, why);
		free(why);
	}
}

/* ----------------------------------------------------------------------
 * Reading each tool's history
 * ----------------------------------------------------------------------
 */

/*
 * pgmigrations: (id, name, run_on), and a hand-written runner's table:
 * (name, applied_at), where a name may be a file name ("001_init.sql").
 * Every row is an applied migration.
 */
static void
read_names(Import *im, PGresult *res)
{
	int			i;

	for (i = 0; i < PQntuples(res); i++)
	{
		char	   *label = strdup(PQgetvalue(res, i, 0));
		size_t		len = strlen(label);
		Entry	   *e;

		if (im->kind == SOURCE_MIGRATIONS_TABLE && len > 4 && strcmp(label + len - 4, ".sql") == 0)
			label[len - 4] = '\0';
		e = new_entry(im, label);
		free(label);
		e->applied_at = dup_or_null(res, i, 1);
		map_file_style_name(im, e, "migration");
	}
}

/*
 * _prisma_migrations: a migration is applied when a row of its name has
 * finished_at set and rolled_back_at unset (a failed attempt, rolled back
 * and applied again, leaves two rows: one skipped, one imported).  Prisma's checksum is the SHA-256 of
 * migration.sql, dbcore's checksum of the same script.
 */
static void
read_prisma(Import *im, PGresult *res)
{
	int			i;

	for (i = 0; i < PQntuples(res); i++)
	{
		const char *label = PQgetvalue(res, i, 0);
		bool		finished = !PQgetisnull(res, i, 2);
		bool		rolled_back = strcmp(PQgetvalue(res, i, 3), "t") == 0;
		Entry	   *e;
		char	   *version;
		char	   *name;
		Entry	   *earlier = NULL;

		if (split_file_name(label, &version, &name))
		{
			char	   *key = version_key(version);

			earlier = find_entry(im, key);
			if (earlier != NULL && strcmp(earlier->label, label) != 0)
				earlier = NULL;
			free(key);
		}
		if (earlier != NULL)
			continue;			/* recorded twice as applied: the first counts */
		e = new_entry(im, label);
		if (!finished || rolled_back)
		{
			skip(im, e, rolled_back ? "rolled back" : "failed (not finished)");
			continue;
		}
		e->applied_at = dup_or_null(res, i, 2);
		e->source_checksum = dup_or_null(res, i, 1);
		if (e->source_checksum != NULL && strlen(e->source_checksum) == 64 &&
			strspn(e->source_checksum, "0123456789abcdef") == 64)
			e->checksum = strdup(e->source_checksum);
		e->execution_ms = dup_or_null(res, i, 4);
		map_file_style_name(im, e, "migration");
	}
}

/*
 * flyway_schema_history: versioned migrations that succeeded and were not
 * undone or deleted since (the last row of a version decides); Flyway's
 * baseline marker becomes dbcore's baseline; repeatable migrations have no
 * version and cannot be imported.
 */
static void
read_flyway(Import *im, PGresult *res)
{
	int			i;

	for (i = 0; i < PQntuples(res); i++)
	{
		const char *version = PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1);
		const char *description = PQgetvalue(res, i, 2);
		const char *type = PQgetvalue(res, i, 3);
		const char *script = PQgetvalue(res, i, 4);
		bool		success = strcmp(PQgetvalue(res, i, 9), "t") == 0;
		char	   *label = xmalloc(strlen(script) + 64);
		Entry	   *e;
		Entry	   *earlier;
		char	   *key;

		sprintf(label, "%s (rank %s)", script, PQgetvalue(res, i, 0));
		e = new_entry(im, label);
		free(label);
		if (strcmp(type, "SCHEMA") == 0)
		{
			skip(im, e, "Flyway's record of the schemas it created");
			continue;
		}
		if (version == NULL)
		{
			unmapped(im, e, "a repeatable migration: dbcore records versioned migrations only");
			continue;
		}
		key = version_key(version);
		if (key == NULL)
		{
			unmapped(im, e, "its version is not a dbcore version (digit groups joined by \".\", \"_\" or \"-\")");
			continue;
		}
		earlier = find_entry(im, key);
		if (strncmp(type, "UNDO", 4) == 0 || strcmp(type, "DELETE") == 0)
		{
			skip(im, e, strcmp(type, "DELETE") == 0 ? "marks the migration deleted" : "undoes the migration");
			if (earlier != NULL && earlier->applied)
			{
				earlier->applied = false;
				earlier->key = NULL;
				info("skipped   %s: undone or deleted by %s", earlier->label, e->label);
				im->skipped++;
			}
			continue;
		}
		if (!success)
		{
			skip(im, e, "failed");
			continue;
		}
		if (earlier != NULL && earlier->applied)
		{
			unmapped(im, e, "its version was applied before");
			continue;
		}
		e->key = key;
		e->version = strdup(version);
		e->baseline = strcmp(type, "BASELINE") == 0;
		e->name = strdup(description[0] != '\0' ? description : script);
		e->source_checksum = dup_or_null(res, i, 5);
		e->applied_by = dup_or_null(res, i, 6);
		e->applied_at = dup_or_null(res, i, 7);
		e->execution_ms = dup_or_null(res, i, 8);
	}
}

/* ----------------------------------------------------------------------
 * Files: down scripts, and Prisma's scripts checked against its checksums
 * ----------------------------------------------------------------------
 */

static void
attach_files(Import *im, const MigrationSet *set)
{
	int			i;

	for (i = 0; i < set->n; i++)
	{
		const MigrationFile *mf = &set->files[i];
		char	   *key = version_key(mf->version);
		Entry	   *e = key ? find_entry(im, key) : NULL;

		free(key);
		if (e == NULL || !e->applied || e->baseline)
			continue;
		e->down = mf->down;
		if (e->checksum != NULL)
		{
			const char *params[1] = {mf->up};
			PGresult   *res = exec_params("SELECT dbcore.migration_checksum($1)", 1, params);

			if (PQresultStatus(res) == PGRES_TUPLES_OK &&
				strcmp(PQgetvalue(res, 0, 0), e->checksum) != 0)
				fprintf(stderr, "%s: warning: %s differs from the script %s applied (checksum %s, not %s); "
						"the ledger records what was applied, and verify will report it as changed\n",
						PROGNAME, mf->path, sources[im->kind].tool, PQgetvalue(res, 0, 0), e->checksum);
			PQclear(res);
		}
	}
}

/* ----------------------------------------------------------------------
 * The import
 * ----------------------------------------------------------------------
 */

static int
cmp_entries(const void *a, const void *b)
{
	const Entry *x = a;
	const Entry *y = b;

	if (x->key == NULL || y->key == NULL)
		return (x->key == NULL) - (y->key == NULL);
	return strcmp(x->key, y->key);
}

/*
 * The ledger's earlier imports from this tool must all be applied there
 * still.  Returns the number of those that are not (after listing them).
 */
static int
check_earlier_imports(Import *im)
{
	const char *params[1] = {sources[im->kind].tool};
	PGresult   *res = exec_params("SELECT version, name FROM dbcore.migration_imports()"
								  " WHERE imported_from OPERATOR(pg_catalog.=) $1",
								  1, params);
	int			i;
	int			gone = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		report_result(res, "could not read the ledger's imports");
		PQclear(res);
		return -1;
	}
	for (i = 0; i < PQntuples(res); i++)
	{
		char	   *key = version_key(PQgetvalue(res, i, 0));
		Entry	   *e = key ? find_entry(im, key) : NULL;

		free(key);
		if (e == NULL || !e->applied)
		{
			errmsg_("the ledger records migration %s \"%s\" as imported from %s, which no longer lists it as applied",
					PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), sources[im->kind].tool);
			gone++;
		}
	}
	PQclear(res);
	if (gone > 0)
		fprintf(stderr, "hint: find out whether %s applied, reverted or deleted %s since the last import; the ledger is not changed.\n",
				gone == 1 ? "this migration was" : "these migrations were", sources[im->kind].tool);
	return gone;
}

/* Record one entry; returns an exit code after reporting an error. */
static int
record(const Import *im, const Entry *e, bool dry_run, int *imported, int *already)
{
	const char *params[9] = {e->version, e->name, e->applied_at, sources[im->kind].tool,
		e->checksum, e->source_checksum, e->applied_by, e->execution_ms, e->down};
	PGresult   *res;
	bool		ran;

	if (e->baseline)
		res = exec_params("SELECT dbcore.baseline($1)", 1, params);
	else
		res = exec_params("SELECT dbcore.import_migration($1, $2, $3::pg_catalog.timestamptz, $4, $5, $6, $7,"
						  " $8::pg_catalog.float8, $9)", 9, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		char	   *ctx = xmalloc(strlen(e->label) + 32);
		int			rc = (sqlstate_is(res, SQLSTATE_MIGRATION_CHANGED) ||
						  sqlstate_is(res, SQLSTATE_MIGRATION_CONFLICT)) ? EXIT_DRIFT : EXIT_FAILURE_;

		sprintf(ctx, "could not import %s", e->label);
		report_result(res, ctx);
		free(ctx);
		PQclear(res);
		return rc;
	}
	ran = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (ran)
	{
		(*imported)++;
		info("%s %s %s (%s%s)", dry_run ? "would import" : "imported ", e->version, e->name,
			 e->baseline ? "as the baseline, " : "applied ", e->baseline ? "everything up to it" : e->applied_at);
	}
	else
	{
		(*already)++;
		info("already   %s %s (in the ledger)", e->version, e->name);
	}
	return EXIT_OK;
}

static int
run_sql(const char *sql)
{
	PGresult   *res = PQexec(conn, sql);
	int			rc = EXIT_OK;

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		report_result(res, NULL);
		rc = EXIT_FAILURE_;
	}
	PQclear(res);
	return rc;
}

int
cmd_import(const char *from, const char *table, const char *dir, bool dry_run)
{
	Import		im = {0};
	const char *params[1];
	PGresult   *res;
	char	   *relname;
	char	   *sql;
	int			i;
	int			rc = EXIT_OK;
	int			imported = 0;
	int			already = 0;
	bool		found = false;

	for (i = 0; i < (int) (sizeof(sources) / sizeof(sources[0])); i++)
		if (strcmp(from, sources[i].tool) == 0)
		{
			im.kind = (SourceKind) i;
			found = true;
		}
	if (!found)
	{
		errmsg_("unknown migration tool \"%s\"", from);
		fprintf(stderr, "hint: --from node-pg-migrate, prisma, flyway or migrations-table.\n");
		return EXIT_USAGE;
	}

	/* Fixed formats for the times read and passed back. */
	if ((rc = run_sql("SET datestyle = 'ISO, YMD'")) != EXIT_OK ||
		(rc = run_sql("SET intervalstyle = 'postgres'")) != EXIT_OK)
		return rc;

	/* The table, resolved as the other tool resolves it: by search_path. */
	params[0] = table ? table : sources[im.kind].table;
	res = exec_params("SELECT pg_catalog.to_regclass($1)::pg_catalog.text", 1, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		report_result(res, "bad --table");
		PQclear(res);
		return EXIT_USAGE;
	}
	if (PQgetisnull(res, 0, 0))
	{
		errmsg_("table \"%s\" of %s does not exist", params[0], sources[im.kind].tool);
		fprintf(stderr, "hint: name the table %s keeps its history in with --table SCHEMA.TABLE.\n",
				sources[im.kind].tool);
		PQclear(res);
		return EXIT_FAILURE_;
	}
	relname = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);

	sql = xmalloc(strlen(sources[im.kind].query) + strlen(relname) + 1);
	sprintf(sql, sources[im.kind].query, relname);
	res = PQexec(conn, sql);
	free(sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		char	   *ctx = xmalloc(strlen(relname) + 32);

		sprintf(ctx, "could not read %s", relname);
		report_result(res, ctx);
		free(ctx);
		PQclear(res);
		return EXIT_FAILURE_;
	}
	switch (im.kind)
	{
		case SOURCE_NODE_PG_MIGRATE:
		case SOURCE_MIGRATIONS_TABLE:
			read_names(&im, res);
			break;
		case SOURCE_PRISMA:
			read_prisma(&im, res);
			break;
		case SOURCE_FLYWAY:
			read_flyway(&im, res);
			break;
	}
	PQclear(res);

	/* Down scripts from the migrations directory, when there is one. */
	if (dir != NULL)
	{
		MigrationSet set = {NULL, 0};

		if (!load_migrations(dir, &set))
			return EXIT_USAGE;
		attach_files(&im, &set);
	}

	qsort(im.entries, im.n, sizeof(Entry), cmp_entries);
	if ((rc = run_sql("BEGIN")) != EXIT_OK)
		return rc;
	i = check_earlier_imports(&im);
	if (i != 0)
		rc = i < 0 ? EXIT_FAILURE_ : EXIT_DRIFT;
	for (i = 0; i < im.n && rc == EXIT_OK; i++)
		if (im.entries[i].applied && im.entries[i].key != NULL)
			rc = record(&im, &im.entries[i], dry_run, &imported, &already);
	if (rc != EXIT_OK || dry_run)
	{
		int			rb = run_sql("ROLLBACK");

		if (rc == EXIT_OK)
			rc = rb;
	}
	else
		rc = run_sql("COMMIT");
	if (rc != EXIT_OK)
	{
		errmsg_("nothing was imported");
		return rc;
	}
	info("%s from %s (%s): %d %s, %d already in the ledger, %d skipped, %d not imported",
		 dry_run ? "dry run of the import" : "import", sources[im.kind].tool, relname,
		 imported, dry_run ? "to import" : "imported", already, im.skipped, im.unmapped);
	return EXIT_OK;
}
