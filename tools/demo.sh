#!/usr/bin/env bash
# tools/demo.sh: dbcore's main job on an embedded default cluster.
#
#   bash tools/demo.sh [--no-deps] [--server 15|18]
#                                    build, install, start a demo cluster,
#                                    apply a SaaS schema's migrations with
#                                    dbcore-migrate, show updated_at and the
#                                    client scope at work; the cluster stays up.
#                                    PostgreSQL 15 (Debian's) by default; 18 is
#                                    built once from ../shared/vendor
#   bash tools/demo.sh status        is the demo cluster running?
#   bash tools/demo.sh stop          stop it and remove its files
#
# Running it again while a demo cluster is up replaces that cluster with a
# fresh one.  The demo's migrations are tools/demo/migrations/, its SQL is
# tools/demo.sql.
set -euo pipefail

# shellcheck source=tools/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DBCORE_ROOT"

STATE_DIR="${TMPDIR:-/tmp}/dbcore-demo-$(id -un)"
STATE="$STATE_DIR/state"
DB=dbcore_demo

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit "${1:-0}"
}

# Load the running demo's settings; false when there is none.
load_state() {
    [[ -f "$STATE" ]] || return 1
    [[ -O "$STATE" ]] || die "$STATE belongs to someone else"
    cluster_load_state "$STATE"
}

demo_stop() {
    if ! load_state; then
        say "no demo cluster is running"
        rm -rf "${STATE_DIR:?}"
        return 0
    fi
    local base="$DBCORE_CLUSTER_BASE"
    cluster_stop
    rm -rf "${STATE_DIR:?}"
    ok "demo cluster stopped, $base removed"
}

demo_status() {
    if load_state && cluster_running; then
        ok "demo cluster running: psql -h $PGHOST -p $PGPORT -U postgres $DB"
    elif [[ -f "$STATE" ]]; then
        say "demo cluster recorded in $STATE is not running (tools/demo.sh stop cleans up)"
        return 1
    else
        say "no demo cluster"
        return 1
    fi
}

demo_start() {
    local with_deps=1 server=''
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --no-deps) with_deps=0 ;;
            --server) [[ $# -ge 2 ]] || usage 2 >&2; server="$2"; shift ;;
            --server=*) server="${1#--server=}" ;;
            -h|--help) usage 0 ;;
            *) echo "unknown option: $1" >&2; usage 2 >&2 ;;
        esac
        shift
    done
    case "$server" in
        ''|15) ;;
        18) PG_CONFIG="$(bash "$DBCORE_ROOT/tools/build-server.sh" pg18 | tail -n 1)/bin/pg_config"
            export PG_CONFIG ;;
        *) echo "unknown server: $server (15 or 18)" >&2; usage 2 >&2 ;;
    esac

    if load_state; then
        if cluster_running; then
            say "a demo cluster is already running on port $PGPORT: replacing it with a fresh one"
        else
            say "cleaning up a demo cluster that is no longer running"
        fi
        demo_stop >/dev/null
    fi

    [[ $with_deps -eq 0 ]] || dbcore_install_deps
    dbcore_build_install

    # Until the demo has loaded, any failure or Ctrl-C stops the cluster.
    cluster_trap
    cluster_start demo
    mkdir -p "$STATE_DIR"
    chmod 700 "$STATE_DIR"
    cluster_save_state "$STATE"
    _forget_state() { [[ "$DBCORE_KEEP_CLUSTER" == 1 ]] || rm -rf "${STATE_DIR:?}"; }
    DBCORE_EXIT_HOOKS+=(_forget_state)

    local psql
    psql="$(pg_bin psql)"
    "$psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $DB"
    "$psql" -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "CREATE EXTENSION dbcore"
    ok "database $DB with extension dbcore $("$psql" -X -At -d "$DB" -c \
        "SELECT extversion FROM pg_extension WHERE extname = 'dbcore'")"

    # 1. Migrations, with the program that ships with dbcore.
    local migrate dir=tools/demo/migrations
    migrate="$(pg_bin dbcore-migrate)"
    printf '\n%s=== 1. Migrations: dbcore-migrate applies %s/ and records them in the ledger%s\n' \
        "$_DBCORE_B" "$dir" "$_DBCORE_0"
    echo "    dbcore-migrate -d $DB --dir $dir up"
    "$migrate" -d "$DB" --dir "$dir" up
    echo "    dbcore-migrate -d $DB --dir $dir status"
    "$migrate" -d "$DB" --dir "$dir" status
    echo "    dbcore-migrate -d $DB --dir $dir verify   # the files still match what was applied"
    "$migrate" -d "$DB" --dir "$dir" verify

    # 2. and 3. updated_at and tenant scoping.
    "$psql" -X -q -v ON_ERROR_STOP=1 -d "$DB" -f tools/demo.sql

    DBCORE_KEEP_CLUSTER=1
    trap - INT TERM HUP
    cat <<EOF

$_DBCORE_B=== The demo cluster keeps running.$_DBCORE_0
  Connect:  psql -h $PGHOST -p $PGPORT -U postgres $DB
  Try:      UPDATE businesses SET plan = 'pro' WHERE name = 'Bright Bakery';
            SELECT name, created_at, updated_at FROM businesses;
            SET ROLE demo_app; SELECT * FROM conversations;   -- refused: no client scope
            SELECT * FROM dbcore.migration_status();
  Log:      $DBCORE_CLUSTER_LOG
  Stop:     tools/demo.sh stop
EOF
}

case "${1:-start}" in
    -h|--help|help) usage 0 ;;
    start) shift || true; demo_start "$@" ;;
    --*) demo_start "$@" ;;
    stop) demo_stop ;;
    status) demo_status ;;
    *) echo "unknown command: $1" >&2; usage 2 >&2 ;;
esac
