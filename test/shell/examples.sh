#!/usr/bin/env bash
# Shell test: the ORM examples in examples/ (node-postgres, Drizzle, Prisma
# 7 with @prisma/adapter-pg), TypeScript run by node's test runner (tsx,
# pinned in examples/package-lock.json) against the test cluster.
#
#   1. npm ci in examples/ when node_modules is missing or was installed
#      from another lockfile (needs the npm registry once).
#   2. prisma generate.  Prisma's CLI wants its schema engine binary, which
#      it downloads from Prisma's own servers, not from the npm registry; if
#      that download fails (it does on machines that reach only package
#      registries), the client is generated with PRISMA_SCHEMA_ENGINE_BINARY
#      pointing at a stub: generate does not run the schema engine (the
#      client is the WebAssembly query compiler, in the npm package).
#      Prisma Migrate needs the engine and is not run (examples/README.md).
#   3. A database and three roles: the owner (BYPASSRLS, as dbcore asks of
#      migration roles: runs the migrations, owns the
#      tables), the application role (no BYPASSRLS; default privileges on
#      the owner's tables) and a strict-mode application role (its session
#      has dbcore.signing_keys set, so only signed tokens enter a scope).
#   4. dbcore-migrate up over examples/migrations (node-pg-migrate's SQL
#      format), as the owner.
#   5. tsc --noEmit over the examples, then node --test: every example
#      proves that concurrent requests for two clients never see each
#      other's rows, that a request without a scope fails (42501), and that
#      updated_at moves on update.
#   6. The node-postgres example once more, through a pgbouncer in
#      transaction pooling mode (test/shell/lib/pgbouncer.sh).
# Connects with PGHOST/PGPORT/PGUSER (a superuser) from the environment, as
# tools/test.sh sets them.  Budget: ~20 s (npm ci, when needed, ~60 s more).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
EX="$ROOT/examples"
: "${PGHOST:?PGHOST must point at a test cluster (run through tools/test.sh)}"
: "${PGPORT:?PGPORT must point at a test cluster (run through tools/test.sh)}"
export PGUSER="${PGUSER:-postgres}"
unset PGDATABASE PGOPTIONS DATABASE_URL

BINDIR=/usr/lib/postgresql/15/bin
if [[ -n "${PG_CONFIG:-}" ]]; then BINDIR="$("$PG_CONFIG" --bindir)"; fi
PSQL="$BINDIR/psql"
MIGRATE="$BINDIR/dbcore-migrate"
[[ -x "$MIGRATE" ]] || MIGRATE="$ROOT/src/bin/dbcore-migrate/dbcore-migrate"

say() { echo "# $*"; }
# shellcheck source=test/shell/lib/examples_npm.sh
source "$ROOT/test/shell/lib/examples_npm.sh"
# shellcheck source=test/shell/lib/pgbouncer.sh
source "$ROOT/test/shell/lib/pgbouncer.sh"
[[ -x "$PGBOUNCER" ]] || { echo "not ok - $PGBOUNCER not found (install the pgbouncer package; tools/lib.sh does)"; exit 1; }

SUFFIX="$$"
DB="dbcore_examples_$SUFFIX"
OWNER="dbcore_ex_owner_$SUFFIX"
APP="dbcore_ex_app_$SUFFIX"
STRICT="dbcore_ex_strict_$SUFFIX"
START=$SECONDS
LOG="$(mktemp "${TMPDIR:-/tmp}/dbcore-examples.XXXXXX")"
BWORK="$(mktemp -d /tmp/dbcore-ex-bouncer.XXXXXX)"

cleanup() {
    local rc=$?
    set +e
    bouncer_stop
    rm -rf "$BWORK"
    "$PSQL" -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1
    for r in "$APP" "$STRICT" "$OWNER"; do
        "$PSQL" -X -q -d postgres -c "DROP ROLE IF EXISTS \"$r\"" >/dev/null 2>&1
    done
    rm -f "$LOG"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run DESC CMD...: run CMD with its output in $LOG; on failure show the tail.
run() {
    local desc="$1"; shift
    if "$@" >"$LOG" 2>&1; then
        return 0
    fi
    echo "not ok - $desc"
    tail -n 40 "$LOG" | sed 's/^/#   /'
    exit 1
}

# ---------------------------------------------------------------------------
# Packages: npm ci from the committed lockfile
# ---------------------------------------------------------------------------

examples_npm_ci
echo "ok - node $(node --version); $(cd "$EX" && node -p "const l = require('./package-lock.json').packages; ['pg', 'drizzle-orm', '@prisma/client', '@prisma/adapter-pg', 'tsx'].map((p) => p + ' ' + l['node_modules/' + p].version).join(', ')")"

# ---------------------------------------------------------------------------
# Prisma Client
# ---------------------------------------------------------------------------

prisma_generate() {
    (cd "$EX" && timeout 120 npx --no-install prisma generate --config prisma/prisma.config.ts "$@")
}
if prisma_generate >"$LOG" 2>&1; then
    echo "ok - prisma generate"
elif grep -qiE 'binaries\.prisma\.sh|schema-engine|ENOTFOUND|EAI_AGAIN|ECONNREFUSED' "$LOG"; then
    say "prisma generate could not download Prisma's schema engine binary:"
    grep -iE 'error' "$LOG" | head -n 2 | sed 's/^/#   /'
    run "prisma generate with a stub schema engine" \
        env PRISMA_SCHEMA_ENGINE_BINARY=/bin/false bash -c "cd '$EX' && timeout 120 npx --no-install prisma generate --config prisma/prisma.config.ts"
    echo "ok - prisma generate (the schema engine binary cannot be downloaded here: a stub stands in, generate does not run it)"
else
    echo "not ok - prisma generate"
    tail -n 40 "$LOG" | sed 's/^/#   /'
    exit 1
fi

# ---------------------------------------------------------------------------
# The database, the roles, the migrations
# ---------------------------------------------------------------------------

# A test-only key for strict mode (base64 of 32 random bytes).
KEY="examples:$(head -c 32 /dev/urandom | base64 -w0)"
run "create the roles and the database" \
    "$PSQL" -X -q -v ON_ERROR_STOP=1 -d postgres \
        -c "CREATE ROLE \"$OWNER\" LOGIN BYPASSRLS" \
        -c "CREATE ROLE \"$APP\" LOGIN NOBYPASSRLS" \
        -c "CREATE ROLE \"$STRICT\" LOGIN NOBYPASSRLS" \
        -c "CREATE DATABASE \"$DB\" OWNER \"$OWNER\""
run "set up dbcore in the database" \
    env PGOPTIONS="-c client_min_messages=warning" "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$DB" \
        -v owner="$OWNER" -v app="$APP" -v strict="$STRICT" -f - <<'EOF'
CREATE EXTENSION dbcore;
GRANT USAGE ON SCHEMA dbcore TO :"owner", :"app", :"strict";
GRANT EXECUTE ON FUNCTION dbcore.apply_migration(text, text, text, text),
                          dbcore.revert_migration(text),
                          dbcore.begin_migration(text, text, text, text),
                          dbcore.finish_migration(text),
                          dbcore.repair_migration(text),
                          dbcore.baseline(text),
                          dbcore.migration_status(),
                          dbcore.verify_migrations(text[], text[]),
                          dbcore.import_migration(text, text, timestamptz, text, text, text, text, float8, text),
                          dbcore.migration_imports()
   TO :"owner";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app", :"strict";
EOF
run "dbcore-migrate up over examples/migrations" \
    env PGUSER="$OWNER" "$MIGRATE" -d "$DB" --dir "$EX/migrations" up
echo "ok - dbcore-migrate applied examples/migrations (node-pg-migrate's SQL format) as the owner"
holes="$("$PSQL" -X -At -d "$DB" -c "SELECT count(*) FROM dbcore.tenant_audit()")"
if [[ "$holes" != 0 ]]; then
    echo "not ok - the examples' schema has $holes tenant holes (dbcore.tenant_audit())"
    "$PSQL" -X -At -d "$DB" -c "SELECT * FROM dbcore.tenant_audit()" | sed 's/^/#   /'
    exit 1
fi
echo "ok - dbcore.tenant_audit() finds no hole"
# Strict mode for one role only, so that the cluster's other tests are not
# affected.  tenant_audit() would now rightly report the stored secret:
# production sets dbcore.signing_keys with ALTER SYSTEM.
run "strict mode for the strict role" \
    "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "ALTER ROLE \"$STRICT\" SET dbcore.signing_keys = '$KEY'"

# ---------------------------------------------------------------------------
# Type check, then the tests
# ---------------------------------------------------------------------------

run "tsc --noEmit over the examples" bash -c "cd '$EX' && timeout 120 npx --no-install tsc -p tsconfig.json"
echo "ok - the examples type-check (tsc --noEmit)"

rc=0
(cd "$EX" && PGDATABASE="$DB" PGUSER="$APP" \
    DBCORE_EXAMPLES_STRICT_USER="$STRICT" DBCORE_EXAMPLES_SIGNING_KEY="$KEY" \
    timeout 180 node --import tsx --test --test-reporter=spec \
        node-postgres/*.test.ts drizzle/*.test.ts prisma/*.test.ts) || rc=$?
if [[ $rc -ne 0 ]]; then
    echo "not ok - the examples' tests failed (exit $rc)"
    exit 1
fi
echo "ok - the examples' tests pass"

# ---------------------------------------------------------------------------
# node-postgres again, through pgbouncer in transaction pooling mode: server
# connections pass from client to client between transactions
# ---------------------------------------------------------------------------

bouncer_workdir "$BWORK"
if ! bouncer_start_any "$APP $STRICT $PGUSER" "$DB = host=$PGHOST port=$PGPORT dbname=$DB" \
        "default_pool_size = 4
max_client_conn = 100
server_reset_query ="; then
    echo "not ok - start pgbouncer"
    tail -n 20 "$BWORK/pgbouncer.log" 2>/dev/null | sed 's/^/#   /'
    exit 1
fi
rc=0
(cd "$EX" && PGHOST="$BWORK/sock" PGPORT="$BPORT" PGDATABASE="$DB" PGUSER="$APP" \
    DBCORE_EXAMPLES_STRICT_USER="$STRICT" DBCORE_EXAMPLES_SIGNING_KEY="$KEY" \
    timeout 120 node --import tsx --test --test-reporter=spec node-postgres/*.test.ts) || rc=$?
if [[ $rc -ne 0 ]]; then
    echo "not ok - the node-postgres example through pgbouncer $(bouncer_version) (pool_mode transaction) failed (exit $rc)"
    exit 1
fi
echo "ok - the node-postgres example through pgbouncer $(bouncer_version), pool_mode transaction ($((SECONDS - START)) s)"
