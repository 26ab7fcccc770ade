#!/usr/bin/env bash
# test/citus/run-experiments.sh: run the Citus experiments of
# test/citus/experiments/ on a fresh cluster and keep what they print.
#
#   export PG_CONFIG=$(bash tools/build-server.sh citus)/bin/pg_config
#   make PG_CONFIG=$PG_CONFIG install
#   bash test/citus/run-experiments.sh [NN ...]     # e.g. 01 04; default: all
#
# The cluster (coordinator + 2 workers, tools/citus-cluster.sh) is started
# for the run and stopped on every exit path.  00_node_log.sql runs on every
# node, then 00_setup.sql on the coordinator, then the chosen experiments in
# order, each with psql -a (statements echoed, errors in place) into
# test/citus/experiments/transcripts/NN_name.out (or DBCORE_CITUS_RESULTS).
# Before 02b a third worker w3 is started (not registered: the experiment
# registers it itself).  These are experiments, not tests: nothing is
# compared; ports, OIDs, shard ids and timestamps differ between runs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=tools/lib.sh
source "$root/tools/lib.sh"

if [[ -z "${DBCORE_CITUS_BASE:-}" ]]; then
    [[ -n "${PG_CONFIG:-}" ]] || die "set PG_CONFIG to the Citus server's pg_config (bash tools/build-server.sh citus)"
    exec bash "$root/tools/citus-cluster.sh" run --name exp -- bash "${BASH_SOURCE[0]}" "$@"
fi

[[ -f "$DBCORE_CITUS_BASE/nodes" ]] || die "DBCORE_CITUS_BASE=$DBCORE_CITUS_BASE is not a running Citus cluster (unset it to start one)"
citus_cluster_load "$DBCORE_CITUS_BASE"
exp="$here/experiments"
out="${DBCORE_CITUS_RESULTS:-$exp/transcripts}"
mkdir -p "$out"
psql_bin="$("$PG_CONFIG" --bindir)/psql"

# psql variables naming every node: coord_host, coord_port, w1_host ...
node_vars() {
    local node
    for node in $(citus_nodes); do
        printf -- '-v\n%s_host=%s\n-v\n%s_port=%s\n' "$node" "$DBCORE_CITUS_BASE/$node" "$node" "$(citus_node_port "$node")"
    done
}

run_file() {   # run_file NODE FILE OUTPUT
    local vars=()
    mapfile -t vars < <(node_vars)
    "$psql_bin" -X -a -h "$DBCORE_CITUS_BASE/$1" -p "$(citus_node_port "$1")" -U postgres -d postgres \
        -v ON_ERROR_STOP=0 "${vars[@]}" -f "$2" >"$3" 2>&1 || true
}

node_log_setup() {   # on one node
    "$psql_bin" -X -q -h "$DBCORE_CITUS_BASE/$1" -p "$(citus_node_port "$1")" -U postgres -d postgres \
        -v ON_ERROR_STOP=1 -f "$exp/00_node_log.sql" >/dev/null
}

for node in $(citus_nodes); do
    node_log_setup "$node"
done
run_file coord "$exp/00_setup.sql" "$out/00_setup.out"

wanted=("$@")
for f in "$exp"/[0-9][0-9]*_*.sql; do
    base="$(basename "$f" .sql)"
    case "$base" in 00_*) continue ;; esac
    if [[ ${#wanted[@]} -gt 0 ]]; then
        hit=0
        for w in "${wanted[@]}"; do
            [[ "$base" == "$w"* ]] && hit=1
        done
        [[ $hit == 1 ]] || continue
    fi
    if [[ "$base" == 02b_* ]]; then
        node="$(citus_add_worker --no-register)"
        node_log_setup "$node"
    fi
    say "experiment $base"
    run_file coord "$f" "$out/$base.out"
done
ok "transcripts in $out"
