#!/usr/bin/env bash
# test/shell/lib/migrate.sh: helpers for the dbcore-migrate shell tests.
# Sourced by test/shell/migrate_*.sh, which tools/test.sh runs with PGHOST,
# PGPORT and PGUSER pointing at its throwaway cluster.
#
#   mig_setup NAME     create database NAME (dropped again on exit) with
#                      dbcore, a scratch directory $WORK with $WORK/migrations,
#                      and $MIGRATE, the tool to test
#   check DESC CMD...  run CMD; count it as passed or failed
#   expect_rc N DESC CMD...   run CMD, expect exit status N
#   q SQL              one value from the test database
#   finish             print the counts; exit non-zero if anything failed

set -euo pipefail

: "${PGHOST:?PGHOST must point at a test cluster (run through tools/test.sh)}"
: "${PGPORT:?}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
PSQL="${PSQL:-psql}"
if [[ -n "${PG_CONFIG:-}" && -x "$("$PG_CONFIG" --bindir)/psql" ]]; then
    PSQL="$("$PG_CONFIG" --bindir)/psql"
fi

# The installed tool (make install puts it in pg_config's bindir), else the
# one built in the tree.
if [[ -z "${MIGRATE:-}" ]]; then
    if [[ -n "${PG_CONFIG:-}" && -x "$("$PG_CONFIG" --bindir)/dbcore-migrate" ]]; then
        MIGRATE="$("$PG_CONFIG" --bindir)/dbcore-migrate"
    elif command -v dbcore-migrate >/dev/null 2>&1; then
        MIGRATE="$(command -v dbcore-migrate)"
    else
        MIGRATE="$ROOT/src/bin/dbcore-migrate/dbcore-migrate"
    fi
fi
[[ -x "$MIGRATE" ]] || { echo "dbcore-migrate not found (make && make install)" >&2; exit 1; }

passed=0 failed=0 TESTDB='' WORK=''

_mig_cleanup() {
    local rc=$?
    set +e
    if [[ -n "$TESTDB" ]]; then
        "$PSQL" -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$TESTDB\" WITH (FORCE)" >/dev/null 2>&1
    fi
    [[ -z "$WORK" ]] || rm -rf "$WORK"
    exit "$rc"
}

mig_setup() {
    TESTDB="$1"
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/dbcore-migrate-test.XXXXXX")"
    mkdir "$WORK/migrations"
    trap _mig_cleanup EXIT INT TERM
    "$PSQL" -X -q -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" \
        -c "DROP DATABASE IF EXISTS \"$TESTDB\" WITH (FORCE)" \
        -c "CREATE DATABASE \"$TESTDB\"" >/dev/null
    "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$TESTDB" -c "CREATE EXTENSION dbcore" >/dev/null
    export PGDATABASE="$TESTDB"
    unset DATABASE_URL
    cd "$WORK"
}

pass() { passed=$((passed + 1)); echo "ok $((passed + failed)) - $*"; }
fail() { failed=$((failed + 1)); echo "not ok $((passed + failed)) - $*"; }

# check leaves $WORK/out and $WORK/err (of the last expect_rc) alone.
check() {
    local desc="$1"; shift
    if "$@" >"$WORK/check.out" 2>&1; then
        pass "$desc"
    else
        fail "$desc (exit $?)"
        sed 's/^/#   /' "$WORK/check.out" "$WORK/out" "$WORK/err"
    fi
}

expect_rc() {
    local want="$1" desc="$2" rc=0
    shift 2
    "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
    if [[ $rc -eq $want ]]; then
        pass "$desc"
    else
        fail "$desc (exit $rc, wanted $want)"
        sed 's/^/#   /' "$WORK/out" "$WORK/err"
    fi
}

# Does the last command's stdout/stderr contain a string?
out_has() { grep -qF -- "$1" "$WORK/out"; }
out_lacks() { ! grep -qF -- "$1" "$WORK/out"; }
err_has() { grep -qF -- "$1" "$WORK/err"; }

q() { "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$TESTDB" -c "$1"; }

eq() {   # eq DESC SQL EXPECTED
    local got
    got="$(q "$2" 2>&1 || true)"
    if [[ "$got" == "$3" ]]; then
        pass "$1"
    else
        fail "$1: got '$got', wanted '$3'"
    fi
}

finish() {
    echo "$passed passed, $failed failed"
    [[ $failed -eq 0 ]]
}
