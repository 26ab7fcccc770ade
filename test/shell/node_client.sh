#!/usr/bin/env bash
# Shell test: a real application client.  node-postgres (`pg` from npm,
# pinned in test/client/package.json and package-lock.json) with the pool
# pattern backend teams use, Pool({max: 15}), one transaction per request,
# dbcore.set_client($1) first, runs a mixed workload for 10 tenants over the
# demo schema (businesses, users, conversations, messages, each scoped by a
# uuid client_id and with updated_at attached): sign-ups, creates, lists with
# joins, updates (updated_at must move), deletes, requests that reach for
# other tenants' ids (nothing may come back or change; writing as another
# client fails with 42501, pointing at its rows with 23503), and requests
# that forget set_client (42501).  Every row any request gets back is
# checked to belong to the request's tenant.  See test/client/tenant_workload.js.
#
# Installs the client's dependencies with `npm ci` when
# test/client/node_modules is missing (needs the npm registry once; offline
# afterwards).  Fails with a clear message when node or npm are missing
# (tools/lib.sh installs them).  Connects with PGHOST/PGPORT/PGUSER (a
# superuser) from the environment, as tools/test.sh sets them.
# Budget: ~30 s (the workload runs 10 s; npm ci, when needed, ~5 s more).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CLIENT_DIR="$ROOT/test/client"
: "${PGHOST:?PGHOST must point at a test cluster (run through tools/test.sh)}"
: "${PGPORT:?PGPORT must point at a test cluster (run through tools/test.sh)}"
export PGUSER="${PGUSER:-postgres}"
unset PGDATABASE PGOPTIONS

BINDIR=/usr/lib/postgresql/15/bin
if [[ -n "${PG_CONFIG:-}" ]]; then BINDIR="$("$PG_CONFIG" --bindir)"; fi
PSQL="$BINDIR/psql"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "not ok - node and npm are required (Debian packages nodejs and npm; bash tools/test.sh installs them)"
    exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [[ "$node_major" -lt 18 ]]; then
    echo "not ok - node $(node --version) is too old; node 18 or later is required"
    exit 1
fi

SUFFIX="$$"
DB="dbcore_node_$SUFFIX"
APP="dbcore_node_app_$SUFFIX"
START=$SECONDS

cleanup() {
    local rc=$?
    set +e
    "$PSQL" -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1
    "$PSQL" -X -q -d postgres -c "DROP ROLE IF EXISTS \"$APP\"" >/dev/null 2>&1
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# node-postgres
# ---------------------------------------------------------------------------

pinned="$(node -p 'require(process.argv[1]).dependencies.pg' "$CLIENT_DIR/package.json")"
if [[ ! -f "$CLIENT_DIR/node_modules/pg/package.json" ]]; then
    echo "# installing node-postgres $pinned with npm ci (test/client/node_modules)"
    if ! (cd "$CLIENT_DIR" && timeout 120 npm ci --no-audit --no-fund --loglevel=error) >"$CLIENT_DIR/.npm-ci.log" 2>&1; then
        echo "not ok - npm ci in test/client failed (is the npm registry reachable?)"
        sed 's/^/#   /' "$CLIENT_DIR/.npm-ci.log" | tail -n 20
        rm -f "$CLIENT_DIR/.npm-ci.log"
        exit 1
    fi
    rm -f "$CLIENT_DIR/.npm-ci.log"
fi
installed="$(node -p 'require(process.argv[1]).version' "$CLIENT_DIR/node_modules/pg/package.json")"
if [[ "$installed" != "$pinned" ]]; then
    echo "not ok - test/client/node_modules has pg $installed, package.json pins $pinned (remove node_modules and rerun)"
    exit 1
fi
echo "ok - node $(node --version), node-postgres $installed"

# ---------------------------------------------------------------------------
# The demo schema, scoped
# ---------------------------------------------------------------------------

"$PSQL" -X -q -v ON_ERROR_STOP=1 -d postgres \
    -c "CREATE ROLE \"$APP\" LOGIN NOBYPASSRLS" -c "CREATE DATABASE \"$DB\" OWNER \"$APP\""

if ! PGOPTIONS="-c client_min_messages=warning" "$PSQL" -X -q -v ON_ERROR_STOP=1 -v app="$APP" -d "$DB" \
        >"$ROOT/test/client/.schema.log" 2>&1 <<'EOF'
CREATE EXTENSION dbcore;
GRANT USAGE ON SCHEMA dbcore TO :"app";
SET ROLE :"app";
CREATE SCHEMA app;
ALTER ROLE :"app" IN DATABASE :"DBNAME" SET search_path = app;
SET search_path = app;

CREATE TABLE businesses (
    client_id   uuid NOT NULL,
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    name        text NOT NULL,
    plan        text NOT NULL DEFAULT 'free',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, id));
CREATE TABLE users (
    client_id    uuid NOT NULL,
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    business_id  uuid NOT NULL,
    email        text NOT NULL,
    display_name text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, id),
    UNIQUE (client_id, email),
    FOREIGN KEY (client_id, business_id) REFERENCES businesses ON DELETE CASCADE);
CREATE TABLE conversations (
    client_id    uuid NOT NULL,
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    business_id  uuid NOT NULL,
    title        text NOT NULL,
    status       text NOT NULL DEFAULT 'open',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, id),
    FOREIGN KEY (client_id, business_id) REFERENCES businesses ON DELETE CASCADE);
CREATE TABLE messages (
    client_id        uuid NOT NULL,
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    conversation_id  uuid NOT NULL,
    author_id        uuid,
    body             text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, id),
    FOREIGN KEY (client_id, conversation_id) REFERENCES conversations ON DELETE CASCADE,
    FOREIGN KEY (client_id, author_id) REFERENCES users);
CREATE INDEX ON conversations (client_id, updated_at);
CREATE INDEX ON messages (client_id, created_at);
CREATE INDEX ON messages (client_id, conversation_id);

SELECT dbcore.enable_tenant_scoping(t), dbcore.attach_updated_at(t)
  FROM unnest('{businesses,users,conversations,messages}'::regclass[]) t;
RESET ROLE;
SELECT count(*) AS problems FROM dbcore.tenant_audit();
EOF
then
    echo "not ok - create the demo schema"
    sed 's/^/#   /' "$ROOT/test/client/.schema.log"
    rm -f "$ROOT/test/client/.schema.log"
    exit 1
fi
rm -f "$ROOT/test/client/.schema.log"
holes="$("$PSQL" -X -At -d "$DB" -c "SELECT count(*) FROM dbcore.tenant_audit()")"
if [[ "$holes" != 0 ]]; then
    echo "not ok - the demo schema has $holes tenant holes (dbcore.tenant_audit())"
    "$PSQL" -X -At -d "$DB" -c "SELECT * FROM dbcore.tenant_audit()" | sed 's/^/#   /'
    exit 1
fi
echo "ok - demo schema: businesses, users, conversations, messages scoped with updated_at, no tenant hole"

# ---------------------------------------------------------------------------
# The workload
# ---------------------------------------------------------------------------

rc=0
PGUSER="$APP" PGDATABASE="$DB" DBCORE_TENANTS=10 DBCORE_DURATION_MS=10000 DBCORE_CONCURRENCY=40 \
    timeout 90 node "$CLIENT_DIR/tenant_workload.js" || rc=$?
if [[ $rc -ne 0 ]]; then
    echo "not ok - the node-postgres workload failed (exit $rc)"
    exit 1
fi

# The database agrees: every message's client is its conversation's.
bad="$("$PSQL" -X -At -d "$DB" -c "SELECT count(*) FROM app.messages m JOIN app.conversations c ON c.id = m.conversation_id WHERE c.client_id <> m.client_id")"
if [[ "$bad" != 0 ]]; then
    echo "not ok - $bad messages belong to another client than their conversation"
    exit 1
fi
echo "ok - every stored message belongs to its conversation's client ($((SECONDS - START)) s)"
