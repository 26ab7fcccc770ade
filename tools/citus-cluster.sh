#!/usr/bin/env bash
# tools/citus-cluster.sh: a Citus cluster (coordinator + workers) on this
# machine, for dbcore's Citus tests and experiments.
#
#   PG_CONFIG=<citus prefix>/bin/pg_config bash tools/citus-cluster.sh COMMAND
#
# Commands:
#   run [--name N] [--workers K] -- CMD [ARG...]
#                     start a cluster, run CMD with PGHOST/PGPORT (coordinator)
#                     and DBCORE_CITUS_* exported, then stop it, whatever
#                     happens (exit, error, Ctrl-C, SIGTERM); exits with CMD's
#                     status.  CMD can call `bash tools/citus-cluster.sh psql
#                     w1 ...` or `... add-worker` through those variables.
#   start [--name N] [--workers K]
#                     start a cluster and leave it running; prints export
#                     lines: eval "$(bash tools/citus-cluster.sh start)".
#                     A failed or interrupted start removes what it made.
#   add-worker [--no-register] [DIR]
#                     start one more worker (w3, ...) and citus_add_node it;
#                     prints its name
#   psql NODE [ARG...] psql as postgres on coord, w1, w2, ...
#   env [DIR]         print the export lines of a running cluster
#   stop [DIR]        stop every node of the cluster and remove DIR
#   list              the Citus clusters in /tmp
#
# DIR defaults to $DBCORE_CITUS_BASE.  PG_CONFIG must be set (nothing else is
# assumed): the server needs Citus and dbcore installed, see
# tools/build-server.sh citus.  Ports: 56000-56999 (DBCORE_CITUS_PORT_BASE,
# DBCORE_CITUS_PORT_LAST).  Extra settings for every node:
# DBCORE_CITUS_CONF.  Keys: DBCORE_CITUS_SIGNING_KEYS (default: a test key).
set -euo pipefail

# shellcheck source=tools/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit "${1:-0}"
}

print_env() {
    local v
    for v in DBCORE_CITUS_BASE DBCORE_CITUS_NAME DBCORE_CITUS_COORD_PORT DBCORE_CITUS_WORKER_PORTS \
             PGHOST PGPORT PGUSER PGDATABASE PG_CONFIG; do
        printf 'export %s=%q\n' "$v" "${!v}"
    done
}

# The cluster named by DIR or $DBCORE_CITUS_BASE.
load() {
    local dir="${1:-${DBCORE_CITUS_BASE:-}}"
    [[ -n "$dir" ]] || die "no cluster: pass its directory or set DBCORE_CITUS_BASE"
    citus_cluster_load "$dir"
}

cmd="${1:-}"
[[ -n "$cmd" ]] || usage 2 >&2
shift

case "$cmd" in
    run|start)
        name=citus workers=2
        while [[ $# -gt 0 ]]; do
            case "$1" in
                --name) name="${2:?--name needs a value}"; shift 2 ;;
                --workers) workers="${2:?--workers needs a value}"; shift 2 ;;
                --) shift; break ;;
                -h|--help) usage 0 ;;
                *) [[ "$cmd" == run ]] && break; die "unknown option: $1" ;;
            esac
        done
        if [[ "$cmd" == run && $# -eq 0 ]]; then
            die "run: no command (bash $0 run -- CMD ARGS)"
        fi
        # Every exit path stops the cluster; `start` disarms that at the end.
        unset DBCORE_CITUS_BASE
        citus_cluster_trap
        citus_cluster_start "$name" "$workers" >&2
        if [[ "$cmd" == start ]]; then
            print_env
            trap - EXIT INT TERM HUP
            exit 0
        fi
        # In the background, so that a signal reaches the trap at once (bash
        # runs traps only between foreground commands); the trap's exit
        # stops the cluster, and the command gets the signal too.
        "$@" <&0 &
        child=$!
        forward() {
            kill -"$1" "$child" 2>/dev/null || true
            wait "$child" 2>/dev/null || true
            _dbcore_on_signal "$1" "$2"
        }
        trap 'forward INT 130' INT
        trap 'forward TERM 143' TERM
        trap 'forward HUP 129' HUP
        rc=0
        wait "$child" || rc=$?
        exit "$rc"
        ;;
    add-worker)
        register=()
        if [[ "${1:-}" == --no-register ]]; then
            register=(--no-register)
            shift
        fi
        load "${1:-}"
        citus_add_worker "${register[@]}"
        ;;
    psql)
        node="${1:?psql: which node (coord, w1, w2 ...)?}"
        shift
        load ""
        citus_psql "$node" "$@"
        ;;
    env)
        load "${1:-}"
        print_env
        ;;
    stop)
        dir="${1:-${DBCORE_CITUS_BASE:-}}"
        [[ -n "$dir" ]] || die "stop: pass the cluster's directory or set DBCORE_CITUS_BASE"
        _citus_stop_dir "${dir%/}"
        ok "stopped and removed ${dir%/}" >&2
        ;;
    list)
        shopt -s nullglob
        for d in /tmp/dbcore-citus-*.*/; do
            d="${d%/}"
            [[ -f "$d/nodes" ]] || { echo "broken   $d"; continue; }
            while read -r node port; do
                if [[ -f "$d/$node/data/postmaster.pid" ]]; then
                    echo "running  $d  $node  port $port"
                else
                    echo "stopped  $d  $node  port $port"
                fi
            done <"$d/nodes"
        done
        ;;
    -h|--help|help)
        usage 0
        ;;
    *)
        echo "unknown command: $cmd" >&2
        usage 2 >&2
        ;;
esac
