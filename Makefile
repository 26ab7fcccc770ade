# dbcore: PGXS build.  `make && make install` builds against the pg_config on
# PATH, or the one named by PG_CONFIG=...

EXTENSION  = dbcore
EXTVERSION = $(shell sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" $(EXTENSION).control)

MODULE_big = dbcore
OBJS       = src/dbcore.o src/common.o src/citus.o src/citus_xact.o src/citus_activity.o \
             src/client_token.o src/client_scope.o src/scope_forward.o src/row_guard.o \
             src/tenant_registry.o src/ddl_risks.o src/guard_rails.o src/scope_plan.o \
             src/scope_route.o src/updated_at.o src/migration_ledger.o src/migrate.o \
             src/audit.o src/audit_log.o src/audit_registry.o \
             src/soft_delete.o src/soft_delete_admin.o

# Only the install and upgrade scripts are installed; sql/<feature>.sql files
# beside them are pg_regress inputs (the classic contrib layout).  As in
# contrib, there is one base install script, sql/dbcore--0.1.sql, and a
# chain of upgrade scripts: CREATE EXTENSION installs the base and runs the
# chain up to default_version, so a fresh install is an upgrade by
# construction (test/upgrade/run.sh checks every released version).
DATA       = $(wildcard sql/$(EXTENSION)--*.sql)
DOCS       = README.md CHANGELOG.md SECURITY.md $(wildcard doc/*.md)

REGRESS    = updated_at tenant_scoping tenant_tokens tenant_stale_scope tenant_hazards scope_plans migrations bad_input audit soft_delete
REGRESS_OPTS = --inputdir=.

ISOLATION  = updated_at_concurrency tenant_scopes tenant_ddl_locks migrations_concurrency audit_concurrency soft_delete_concurrency
ISOLATION_OPTS = --inputdir=test/isolation

PG_CPPFLAGS = -I$(srcdir)/src
# PostgreSQL's own warning flags plus -Wextra.  -Wno-unused-parameter because
# PostgreSQL's headers (inline functions, callback signatures) trip it.
PG_CFLAGS  = -Wextra -Wno-unused-parameter
ifdef WERROR
PG_CFLAGS += -Werror
endif

# The command-line tool, src/bin/dbcore-migrate (its own Makefile, libpq):
# PGXS builds SCRIPTS_built with `make` and installs it into pg_config's
# bindir with `make install`.
SCRIPTS_built = src/bin/dbcore-migrate/dbcore-migrate

EXTRA_CLEAN = results output_iso regression.diffs regression.out

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# DOCS go to a directory of dbcore's own under PostgreSQL's documentation of
# extensions, not beside other extensions' README.md (PGXS reads
# docmoduledir when it installs).
docmoduledir := $(docmoduledir)/$(EXTENSION)

.PHONY: test demo bench cppcheck version valgrind dist

src/bin/dbcore-migrate/dbcore-migrate: $(wildcard src/bin/dbcore-migrate/*.c src/bin/dbcore-migrate/*.h) src/bin/dbcore-migrate/Makefile $(EXTENSION).control
	$(MAKE) -C src/bin/dbcore-migrate PG_CONFIG=$(PG_CONFIG) DBCORE_VERSION=$(EXTVERSION)

# The README's two commands, reachable through make as well.
test:
	bash tools/test.sh
demo:
	bash tools/demo.sh
bench:
	bash bench/updated_at.sh
	bash bench/migrations.sh
	bash bench/tenant.sh
	bash bench/audit.sh

# The regression and isolation suites with the server under valgrind memcheck.
valgrind:
	bash tools/valgrind.sh

# PGXN release archives (dbcore-X.Y.Z.zip and .tar.gz).
dist:
	bash tools/release.sh dist

# __builtin_constant_p(x)=1 lets cppcheck see that ereport(ERROR, ...) does
# not return (elog.h ends it with pg_unreachable() only when the level is a
# compile-time constant); findings inside PostgreSQL's headers are not ours.
cppcheck:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr --suppress=missingIncludeSystem --library=gnu --suppress=toomanyconfigs \
		-D'__builtin_constant_p(x)=1' \
		--suppress='*:$(shell $(PG_CONFIG) --includedir-server)/*' \
		-I src -I $(shell $(PG_CONFIG) --includedir-server) src/*.c
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr --suppress=missingIncludeSystem --suppress=toomanyconfigs \
		-I $(shell $(PG_CONFIG) --includedir) src/bin/dbcore-migrate/*.c

version:
	@echo $(EXTVERSION)
