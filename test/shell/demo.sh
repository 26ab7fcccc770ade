#!/usr/bin/env bash
# Shell test: README command 1 (tools/demo.sh) works end to end and stops
# cleanly.  Runs the demo under a private TMPDIR so it can never touch a demo
# cluster the user has running.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tmp="$(mktemp -d)"
chmod 755 "$tmp"          # the postgres OS user must reach the cluster dir
log="$tmp/demo.log"
# The test runner's own cluster settings must not leak into the demo.
unset DBCORE_CLUSTER_NAME DBCORE_CLUSTER_BASE DBCORE_CLUSTER_DATA DBCORE_CLUSTER_LOG \
      PGHOST PGPORT PGDATABASE
cleanup() {
    TMPDIR="$tmp" bash "$root/tools/demo.sh" stop >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "not ok - $*"; echo "--- demo output:"; cat "$log" 2>/dev/null || true; exit 1; }

TMPDIR="$tmp" bash "$root/tools/demo.sh" --no-deps >"$log" 2>&1 || fail "tools/demo.sh exited non-zero"
echo "ok - tools/demo.sh ran"

grep -q "Connect:  psql -h" "$log" || fail "demo does not say how to connect"
grep -q "Stop:     tools/demo.sh stop" "$log" || fail "demo does not say how to stop"
echo "ok - demo says how to connect and stop"

# Connect the way the demo says and check its work.
conn=$(sed -n 's/^  Connect:  psql \(.*\)$/\1/p' "$log")
[[ -n "$conn" ]] || fail "no connect line"
# shellcheck disable=SC2086  # the demo's connection words, split on purpose
got=$(psql -X -At $conn -c "SELECT count(*) FROM pg_trigger WHERE tgname = 'dbcore_updated_at'
                              AND tgrelid::regclass::text IN ('businesses','users','conversations','messages')")
[[ "$got" == 4 ]] || fail "expected the trigger on 4 demo tables, found $got"
echo "ok - the four demo tables have the trigger"

# shellcheck disable=SC2086
moved=$(psql -X -At $conn -c "SELECT updated_at > created_at FROM conversations WHERE title = 'Leaking kitchen tap'")
[[ "$moved" == t ]] || fail "the updated conversation's updated_at did not move (got '$moved')"
echo "ok - updated_at moved on the updated row"

# Migrations: applied, listed and verified by dbcore-migrate.
# shellcheck disable=SC2086
got=$(psql -X -At $conn -c "SELECT string_agg(version || ':' || state, ',' ORDER BY version) FROM dbcore.migrations")
[[ "$got" == "001:applied,002:applied,003:applied" ]] || fail "expected three applied migrations, got '$got'"
grep -q "applied  003 messages" "$log" || fail "demo does not show dbcore-migrate up"
grep -qE "^003 +messages +applied" "$log" || fail "demo does not show dbcore-migrate status"
grep -q "ok: 3 files match the ledger" "$log" || fail "demo does not show dbcore-migrate verify"
echo "ok - the demo's three migrations were applied, listed and verified"

# Tenant scoping: the error without a scope, and each client's own rows.
grep -q "ERROR:  no client scope is set" "$log" || fail "demo does not show the error without a client scope"
grep -q "new row for relation \"conversations\" belongs to another client" "$log" ||
    fail "demo does not show a row for another client refused"
# shellcheck disable=SC2086
got=$(psql -X -q -At $conn -c "BEGIN" -c "SET LOCAL ROLE demo_app" \
    -c "SELECT dbcore.set_client('aaaaaaaa-0000-4000-8000-000000000001'::uuid)" \
    -c "SELECT string_agg(title, ',' ORDER BY title) FROM conversations" -c "COMMIT" | tail -n 1)
[[ "$got" == "Leaking kitchen tap,New quote request" ]] || fail "Acme sees '$got'"
# shellcheck disable=SC2086
got=$(psql -X -q -At $conn -c "BEGIN" -c "SET LOCAL ROLE demo_app" \
    -c "SELECT dbcore.set_client('bbbbbbbb-0000-4000-8000-000000000002'::uuid)" \
    -c "SELECT string_agg(title, ',' ORDER BY title) FROM conversations" -c "COMMIT" | tail -n 1)
[[ "$got" == "Wedding cake order" ]] || fail "Bright sees '$got'"
echo "ok - as demo_app each client sees only its own conversations"

TMPDIR="$tmp" bash "$root/tools/demo.sh" stop >/dev/null 2>&1 || fail "tools/demo.sh stop failed"
TMPDIR="$tmp" bash "$root/tools/demo.sh" status >/dev/null 2>&1 && fail "demo cluster still running after stop"
echo "ok - tools/demo.sh stop stopped it"
