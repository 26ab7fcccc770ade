#!/usr/bin/env bash
# dbcore-migrate import: another tool's history into the ledger, and the
# other tools' file layouts.
#
#   node-pg-migrate  the real tool (npm, pinned in examples/package-lock.json)
#                    applies SQL and JavaScript migrations and writes its
#                    pgmigrations; dbcore-migrate imports it, then takes over
#                    the same folder (node-pg-migrate's SQL format)
#   Prisma           Prisma Migrate needs a schema engine binary that cannot
#                    be downloaded here (examples/README.md): a faithful
#                    fixture, _prisma_migrations as Prisma creates it (its
#                    DDL in prisma-engines' PostgreSQL connector), with
#                    checksums computed as Prisma does (SHA-256 of
#                    migration.sql), a failed attempt rolled back and applied
#                    again, and an unresolved failure; then Prisma's folders
#   Flyway           Flyway needs Java and Maven Central, not reachable here:
#                    a faithful fixture, flyway_schema_history as Flyway 10
#                    creates it on PostgreSQL, with its schema-creation and
#                    baseline markers, a repeatable migration, a failure, a
#                    deleted version
# and for each: dry run, idempotence, a ledger that disagrees (exit 3,
# nothing changed).
source "$(dirname "${BASH_SOURCE[0]}")/lib/migrate.sh"
# shellcheck source=test/shell/lib/examples_npm.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/examples_npm.sh"
examples_npm_ci
mig_setup dbcore_migrate_import
PRISMA_DB=dbcore_migrate_import_prisma
FLY_DB=dbcore_migrate_import_flyway
# The fixtures' databases go with the test database, whatever happens.
_import_cleanup() {
    local rc=$?
    "$PSQL" -X -q -d postgres -c "DROP DATABASE IF EXISTS $PRISMA_DB WITH (FORCE)" \
        -c "DROP DATABASE IF EXISTS $FLY_DB WITH (FORCE)" >/dev/null 2>&1
    (exit "$rc")
    _mig_cleanup
}
trap _import_cleanup EXIT INT TERM
"$PSQL" -X -q -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS $PRISMA_DB WITH (FORCE)" -c "DROP DATABASE IF EXISTS $FLY_DB WITH (FORCE)" \
    -c "CREATE DATABASE $PRISMA_DB" -c "CREATE DATABASE $FLY_DB" >/dev/null
NPM_MIGRATE="$EXAMPLES_DIR/node_modules/.bin/node-pg-migrate"
M=("$MIGRATE" --dir migrations)
export DATABASE_URL="postgres://$PGUSER@localhost/$TESTDB?host=$PGHOST&port=$PGPORT"
node_pg_migrate() { "$NPM_MIGRATE" --migrations-dir migrations "$@"; }

# ---------------------------------------------------------------------------
# node-pg-migrate, for real
# ---------------------------------------------------------------------------
cat >migrations/1700000000000_create-users.sql <<'SQL'
-- Up Migration
CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL);
-- Down Migration
DROP TABLE users;
SQL
cat >migrations/1700000000001_add-orders.js <<'JS'
exports.up = (pgm) => {
  pgm.createTable('orders', { id: 'id', user_id: { type: 'integer', references: 'users' } });
};
exports.down = (pgm) => pgm.dropTable('orders');
JS
cat >migrations/1700000000002_users-email-index.sql <<'SQL'
-- Up Migration
CREATE INDEX users_email_idx ON users (email);

-- Down Migration
DROP INDEX users_email_idx;
SQL
expect_rc 0 "node-pg-migrate $(node -p "require('$EXAMPLES_DIR/node_modules/node-pg-migrate/package.json').version") applies the folder" \
    node_pg_migrate up
eq "node-pg-migrate wrote pgmigrations" "SELECT string_agg(name, ',' ORDER BY id) FROM pgmigrations" \
    "1700000000000_create-users,1700000000001_add-orders,1700000000002_users-email-index"

expect_rc 0 "import --dry-run" "${M[@]}" import --from node-pg-migrate --dry-run
check "the dry run says what it would import" out_has "would import 1700000000001 add-orders"
check "and sums it up" out_has "dry run of the import from node-pg-migrate (pgmigrations): 3 to import, 0 already in the ledger, 0 skipped, 0 not imported"
eq "the dry run recorded nothing" "SELECT count(*) FROM dbcore.migrations" 0
expect_rc 0 "import" "${M[@]}" import --from node-pg-migrate
check "import sums it up" out_has "import from node-pg-migrate (pgmigrations): 3 imported, 0 already in the ledger, 0 skipped, 0 not imported"
eq "the ledger has node-pg-migrate's migrations, names and times" \
    "SELECT string_agg(m.version || ' ' || m.name || ' ' || m.state || ' ' || m.imported_from || ' ' || (m.applied_at = p.run_on::timestamptz), ',' ORDER BY m.version_key)
       FROM dbcore.migrations m JOIN pgmigrations p ON p.name = m.version || '_' || m.name" \
    "1700000000000 create-users imported node-pg-migrate true,1700000000001 add-orders imported node-pg-migrate true,1700000000002 users-email-index imported node-pg-migrate true"
eq "no checksum: node-pg-migrate records none" "SELECT count(*) FROM dbcore.migrations WHERE checksum IS NOT NULL" 0
eq "SQL files gave their down scripts; the JavaScript one has none" \
    "SELECT string_agg(version || '=' || (down_sql IS NOT NULL), ',' ORDER BY version_key) FROM dbcore.migrations" \
    "1700000000000=true,1700000000001=false,1700000000002=true"
eq "the history says imported" "SELECT string_agg(DISTINCT event, ',') FROM dbcore.migration_log" imported
eq "nothing ran: the schema is node-pg-migrate's" "SELECT count(*) FROM pg_class WHERE relname IN ('users', 'orders', 'users_email_idx')" 3

expect_rc 0 "import again" "${M[@]}" import --from node-pg-migrate
check "is idempotent" out_has "0 imported, 3 already in the ledger"
expect_rc 0 "verify over the same folder" "${M[@]}" verify
expect_rc 0 "status" "${M[@]}" status
check "status shows the imported state" grep -qE '^1700000000001 +add-orders +imported' "$WORK/out"

# dbcore-migrate takes over the folder: a new file in node-pg-migrate's format.
cat >migrations/1700000000003_add-name.sql <<'SQL'
-- Up Migration
ALTER TABLE users ADD COLUMN name text;
-- Down Migration
ALTER TABLE users DROP COLUMN name;
SQL
expect_rc 0 "up applies a new node-pg-migrate file" "${M[@]}" up
check "only the new one" out_has "applied  1700000000003 add-name"
eq "with node-pg-migrate's up part as the script (checksummed)" \
    "SELECT checksum = dbcore.migration_checksum(E'-- Up Migration\nALTER TABLE users ADD COLUMN name text;\n') FROM dbcore.migrations WHERE version = '1700000000003'" t
expect_rc 0 "down 2: the new one, then an imported one with its file's down script" "${M[@]}" down 2
eq "both reverted" "SELECT count(*) FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'name'
                     UNION ALL SELECT count(*) FROM pg_class WHERE relname = 'users_email_idx'" "0
0"
expect_rc 0 "up again re-applies 1700000000002 from its file" "${M[@]}" up
eq "now as applied by dbcore" "SELECT state FROM dbcore.migrations WHERE version = '1700000000002'" applied

# Markers in any case and order, as node-pg-migrate matches them; a file
# without an up marker is one up script, whatever its comments say.
printf -- '-- Down Migration\nDROP TABLE rev;\n--- UP MIGRATION\nCREATE TABLE rev (id int);\n' \
    >migrations/1700000000004_reversed.sql
printf -- '-- down migration: none, drop it by hand\nCREATE TABLE plain_t (id int);\n' \
    >migrations/1700000000005_plain.sql
expect_rc 0 "up applies files with markers in any case and order" "${M[@]}" up
eq "reversed markers: the up part runs, the down part is stored" \
    "SELECT (SELECT to_regclass('rev') IS NOT NULL) AND down_sql = E'-- Down Migration\nDROP TABLE rev;\n'
       FROM dbcore.migrations WHERE version = '1700000000004'" t
eq "no up marker: the whole file is the up script, no down script" \
    "SELECT checksum = dbcore.migration_checksum(E'-- down migration: none, drop it by hand\nCREATE TABLE plain_t (id int);\n') AND down_sql IS NULL
       FROM dbcore.migrations WHERE version = '1700000000005'" t

# The ledger disagrees: node-pg-migrate no longer lists an imported migration.
q "DELETE FROM pgmigrations WHERE name = '1700000000001_add-orders'" >/dev/null
expect_rc 3 "import over a ledger that disagrees exits 3" "${M[@]}" import --from node-pg-migrate
check "it names the migration" err_has 'the ledger records migration 1700000000001 "add-orders" as imported from node-pg-migrate, which no longer lists it as applied'
check "and changes nothing" err_has "nothing was imported"
q "INSERT INTO pgmigrations (name, run_on) VALUES ('1700000000001_add-orders', now())" >/dev/null
# ... or under another name (MG004).
q "UPDATE pgmigrations SET name = '1700000000000_create-accounts' WHERE name = '1700000000000_create-users'" >/dev/null
expect_rc 3 "another name for an imported version exits 3" "${M[@]}" import --from node-pg-migrate
check "with the server's MG004" err_has '(SQLSTATE MG004)'
q "UPDATE pgmigrations SET name = '1700000000000_create-users' WHERE name = '1700000000000_create-accounts'" >/dev/null

# Names dbcore cannot map, from another table (--table).
q "CREATE SCHEMA legacy; CREATE TABLE legacy.migs (LIKE pgmigrations INCLUDING ALL);
   INSERT INTO legacy.migs (name, run_on) SELECT name, run_on FROM pgmigrations ORDER BY id;
   INSERT INTO legacy.migs (name, run_on) VALUES ('seed-data', now()), ('1700000000002_duplicate', now())" >/dev/null
expect_rc 0 "import --table with names it cannot map" "${M[@]}" import --from node-pg-migrate --table legacy.migs
check "reports a name without a version" err_has "warning: not imported: seed-data: the name does not start with a version"
check "and a second name for a version" err_has 'not imported: 1700000000002_duplicate: same version as migration "1700000000002_users-email-index"'
check "sums it up" out_has "import from node-pg-migrate (legacy.migs): 0 imported, 3 already in the ledger, 0 skipped, 2 not imported"
expect_rc 1 "a missing table exits 1" "${M[@]}" import --from node-pg-migrate --table nowhere
check "with a hint" err_has "hint: name the table node-pg-migrate keeps its history in with --table SCHEMA.TABLE."
expect_rc 2 "an unknown tool exits 2" "${M[@]}" import --from liquibase
expect_rc 2 "import needs --from" "${M[@]}" import
expect_rc 2 "--from belongs to import" "${M[@]}" --from prisma up

# ---------------------------------------------------------------------------
# Prisma: a faithful _prisma_migrations, and Prisma's folders
# ---------------------------------------------------------------------------
qp() { "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$PRISMA_DB" -c "$1"; }
qp "CREATE EXTENSION dbcore" >/dev/null
mkdir -p prisma/migrations/20240101000000_init prisma/migrations/20240201000000_add_posts \
         prisma/migrations/20240215000000_broken prisma/migrations/20240301000000_add_tags
printf '# Please do not edit this file manually\nprovider = "postgresql"\n' >prisma/migrations/migration_lock.toml
printf -- '-- CreateTable\nCREATE TABLE "User" (\n    "id" SERIAL NOT NULL,\n    "email" TEXT NOT NULL,\n\n    CONSTRAINT "User_pkey" PRIMARY KEY ("id")\n);\n' \
    >prisma/migrations/20240101000000_init/migration.sql
printf -- '-- CreateTable\nCREATE TABLE "Post" ("id" SERIAL NOT NULL, "title" TEXT NOT NULL, CONSTRAINT "Post_pkey" PRIMARY KEY ("id"));\n' \
    >prisma/migrations/20240201000000_add_posts/migration.sql
printf -- '-- AlterTable\nALTER TABLE "Post" ADD COLUMN "broken" BOGUS;\n' >prisma/migrations/20240215000000_broken/migration.sql
sha() { sha256sum "$1" | cut -d' ' -f1; }
qp "$(cat prisma/migrations/20240101000000_init/migration.sql prisma/migrations/20240201000000_add_posts/migration.sql)" >/dev/null
# _prisma_migrations exactly as Prisma Migrate creates it.
qp "CREATE TABLE \"_prisma_migrations\" (
        \"id\"                    VARCHAR(36) PRIMARY KEY NOT NULL,
        \"checksum\"              VARCHAR(64) NOT NULL,
        \"finished_at\"           TIMESTAMPTZ,
        \"migration_name\"        VARCHAR(255) NOT NULL,
        \"logs\"                  TEXT,
        \"rolled_back_at\"        TIMESTAMPTZ,
        \"started_at\"            TIMESTAMPTZ NOT NULL DEFAULT now(),
        \"applied_steps_count\"   INTEGER NOT NULL DEFAULT 0
    )" >/dev/null
qp "INSERT INTO _prisma_migrations VALUES
    (gen_random_uuid(), '$(sha prisma/migrations/20240101000000_init/migration.sql)', '2024-01-01 10:00:01.5+00', '20240101000000_init', NULL, NULL, '2024-01-01 10:00:00+00', 1),
    (gen_random_uuid(), '$(sha prisma/migrations/20240201000000_add_posts/migration.sql)', NULL, '20240201000000_add_posts', 'syntax error', '2024-02-01 11:00:00+00', '2024-02-01 10:00:00+00', 0),
    (gen_random_uuid(), '$(sha prisma/migrations/20240201000000_add_posts/migration.sql)', '2024-02-01 12:00:00.25+00', '20240201000000_add_posts', NULL, NULL, '2024-02-01 12:00:00+00', 1),
    (gen_random_uuid(), '$(sha prisma/migrations/20240215000000_broken/migration.sql)', NULL, '20240215000000_broken', 'type \"bogus\" does not exist', NULL, '2024-02-15 10:00:00+00', 0)" >/dev/null
MP=("$MIGRATE" -d "$PRISMA_DB" --dir prisma/migrations)
expect_rc 0 "import --from prisma" "${MP[@]}" import --from prisma
check "the rolled-back attempt is listed as skipped" out_has "skipped   20240201000000_add_posts: rolled back"
check "so is the unresolved failure" out_has "skipped   20240215000000_broken: failed (not finished)"
check "and the counts" out_has "import from prisma (_prisma_migrations): 2 imported, 0 already in the ledger, 2 skipped, 0 not imported"
got="$("$PSQL" -X -q -At -d "$PRISMA_DB" -c "SET timezone = 'UTC'; SELECT string_agg(version || ' ' || name || ' ' || applied_at || ' ' || execution_ms || ' ' || (checksum = source_checksum), ',' ORDER BY version_key) FROM dbcore.migrations")"
if [[ "$got" == "20240101000000 init 2024-01-01 10:00:01.5+00 1500 true,20240201000000 add_posts 2024-02-01 12:00:00.25+00 250 true" ]]; then
    pass "Prisma's names, times, run times and checksums (Prisma's checksum is dbcore's)"
else
    fail "Prisma's names, times, run times and checksums: got '$got'"
fi
expect_rc 0 "verify compares Prisma's folders with the imported checksums" "${MP[@]}" verify
check "they match; the unresolved failure is pending" out_has "ok: 2 files match the ledger, 1 pending"
rm -r prisma/migrations/20240215000000_broken
printf -- '-- CreateTable\nCREATE TABLE "Tag" ("id" SERIAL NOT NULL, CONSTRAINT "Tag_pkey" PRIMARY KEY ("id"));\n' \
    >prisma/migrations/20240301000000_add_tags/migration.sql
expect_rc 0 "up applies a new Prisma folder" "${MP[@]}" up
check "it names the folder's migration" out_has "applied  20240301000000 add_tags"
eq_p() { local got; got="$(qp "$2" 2>&1 || true)"; if [[ "$got" == "$3" ]]; then pass "$1"; else fail "$1: got '$got', wanted '$3'"; fi; }
eq_p "the table exists" "SELECT to_regclass('\"Tag\"') IS NOT NULL" t
printf '\n-- edited\n' >>prisma/migrations/20240101000000_init/migration.sql
expect_rc 0 "import again warns about an edited migration.sql" "${MP[@]}" import --from prisma
check "naming both checksums" err_has "differs from the script prisma applied"
check "and is idempotent" out_has "0 imported, 2 already in the ledger"
expect_rc 3 "verify reports the edited file as changed" "${MP[@]}" verify
check "changed" out_has "changed     20240101000000 init"

# ---------------------------------------------------------------------------
# Flyway: a faithful flyway_schema_history
# ---------------------------------------------------------------------------
qf() { "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$FLY_DB" -c "$1"; }
qf "CREATE EXTENSION dbcore" >/dev/null
# flyway_schema_history exactly as Flyway creates it on PostgreSQL.
qf 'CREATE TABLE "public"."flyway_schema_history" (
        "installed_rank" INT NOT NULL,
        "version" VARCHAR(50),
        "description" VARCHAR(200) NOT NULL,
        "type" VARCHAR(20) NOT NULL,
        "script" VARCHAR(1000) NOT NULL,
        "checksum" INTEGER,
        "installed_by" VARCHAR(100) NOT NULL,
        "installed_on" TIMESTAMP NOT NULL DEFAULT now(),
        "execution_time" INTEGER NOT NULL,
        "success" BOOLEAN NOT NULL
    );
    ALTER TABLE "public"."flyway_schema_history" ADD CONSTRAINT "flyway_schema_history_pk" PRIMARY KEY ("installed_rank");
    CREATE INDEX "flyway_schema_history_s_idx" ON "public"."flyway_schema_history" ("success")' >/dev/null
qf "INSERT INTO flyway_schema_history VALUES
    (0, NULL, '<< Flyway Schema Creation >>', 'SCHEMA', '\"public\"', NULL, 'deploy', '2023-12-31 09:00', 0, true),
    (1, '1', '<< Flyway Baseline >>', 'BASELINE', '<< Flyway Baseline >>', NULL, 'deploy', '2024-01-01 09:00', 0, true),
    (2, '1.1', 'create users', 'SQL', 'V1_1__create_users.sql', -1502638133, 'deploy', '2024-01-02 09:00', 42, true),
    (3, '2', 'add orders', 'SQL', 'V2__add_orders.sql', 1024384021, 'deploy', '2024-01-03 09:00', 17, true),
    (4, NULL, 'reporting views', 'SQL', 'R__reporting_views.sql', 99, 'deploy', '2024-01-03 09:01', 5, true),
    (5, '3', 'add index', 'SQL', 'V3__add_index.sql', 77, 'deploy', '2024-01-04 09:00', 3, false),
    (6, '3', 'add index', 'SQL', 'V3__add_index.sql', 78, 'deploy', '2024-01-05 09:00', 9, true),
    (7, '2', 'add orders', 'DELETE', 'V2__add_orders.sql', 1024384021, 'deploy', '2024-01-06 09:00', 0, true),
    (8, '4', 'Seed', 'JDBC', 'db.migration.V4__Seed', NULL, 'ci', '2024-01-07 09:00', 120, true)" >/dev/null
MF=("$MIGRATE" -d "$FLY_DB" --dir nowhere-flyway)
expect_rc 2 "an explicit --dir must exist" "${MF[@]}" import --from flyway
MF=("$MIGRATE" -d "$FLY_DB")
expect_rc 0 "import --from flyway" "${MF[@]}" import --from flyway
check "the schema-creation marker is skipped" out_has "skipped   \"public\" (rank 0): Flyway's record of the schemas it created"
check "the baseline becomes dbcore's baseline" out_has "imported  1 << Flyway Baseline >> (as the baseline, everything up to it)"
check "a repeatable migration is not imported" err_has "not imported: R__reporting_views.sql (rank 4): a repeatable migration"
check "a failure is skipped" out_has "skipped   V3__add_index.sql (rank 5): failed"
check "a deleted version is skipped" out_has "skipped   V2__add_orders.sql (rank 3): undone or deleted by V2__add_orders.sql (rank 7)"
check "the counts" out_has "import from flyway (flyway_schema_history): 4 imported, 0 already in the ledger, 4 skipped, 1 not imported"
got="$("$PSQL" -X -q -At -d "$FLY_DB" -c "SET timezone = 'UTC'; SELECT string_agg(version || '|' || name || '|' || state || '|' || coalesce(source_checksum, '-') || '|' || applied_by || '|' || coalesce(execution_ms::text, '-'), ',' ORDER BY version_key) FROM dbcore.migrations")"
want="1|baseline|baseline|-|postgres|-,1.1|create users|imported|-1502638133|deploy|42,3|add index|imported|78|deploy|9,4|Seed|imported|-|ci|120"
if [[ "$got" == "$want" ]]; then
    pass "Flyway's versions, descriptions, checksums, authors and run times"
else
    fail "Flyway's versions ...: got '$got', wanted '$want'"
fi
expect_rc 0 "import again is idempotent" "${MF[@]}" import --from flyway
check "nothing new" out_has "0 imported, 4 already in the ledger"

finish
