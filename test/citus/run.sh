#!/usr/bin/env bash
# test/citus/run.sh: dbcore's tests on a real Citus cluster.
#
#   PG_CONFIG=<Citus server>/bin/pg_config bash test/citus/run.sh [NN ...]
#
# The server needs Citus and dbcore installed (tools/test.sh --server citus
# builds both; tools/build-server.sh citus prints the server's prefix).
# Starts a coordinator and two workers (tools/citus-cluster.sh), stopped on
# every exit path; runs setup.sql on the coordinator, then each test file
# test/citus/NN_*.sql (or those whose name starts with an NN given) with
# pg_prove, on the coordinator, in order.  Before the files from
# 07_new_worker.sql on, a third worker is started and added to the cluster.
# Test files get psql variables with each node's port (coord_port, w1_port,
# w2_port, w3_port once it exists) and the path of psql (psql_bin).  Prints pg_prove's report and, last,
# "N passed, N failed".
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=tools/lib.sh
source "$root/tools/lib.sh"

if [[ -z "${DBCORE_CITUS_BASE:-}" ]]; then
    [[ -n "${PG_CONFIG:-}" ]] || die "set PG_CONFIG to the Citus server's pg_config (bash tools/build-server.sh citus)"
    exec bash "$root/tools/citus-cluster.sh" run --name test -- bash "${BASH_SOURCE[0]}" "$@"
fi
[[ -f "$DBCORE_CITUS_BASE/nodes" ]] || die "DBCORE_CITUS_BASE=$DBCORE_CITUS_BASE is not a running Citus cluster (unset it to start one)"
citus_cluster_load "$DBCORE_CITUS_BASE"
command -v pg_prove >/dev/null 2>&1 || die "pg_prove not found (package libtap-parser-sourcehandler-pgtap-perl)"
psql_bin="$("$PG_CONFIG" --bindir)/psql"

# psql variables naming every node's port.
node_sets() {
    local node
    for node in $(citus_nodes); do
        printf -- '--set\n%s_port=%s\n' "$node" "$(citus_node_port "$node")"
    done
    printf -- '--set\npsql_bin=%s\n' "$psql_bin"
}

"$psql_bin" -X -q -v ON_ERROR_STOP=1 -f "$here/setup.sql" >/dev/null
# (a test runs psql on the coordinator's machine, as the server's OS user)

wanted=("$@")
files=()
for f in "$here"/[0-9][0-9]_*.sql; do
    base="$(basename "$f" .sql)"
    if [[ ${#wanted[@]} -gt 0 ]]; then
        hit=0
        for w in "${wanted[@]}"; do
            [[ "$base" == "$w"* ]] && hit=1
        done
        [[ $hit == 1 ]] || continue
    fi
    files+=("$f")
done
[[ ${#files[@]} -gt 0 ]] || die "no test file matches: $*"

passed=0 failed=0
# prove FILE...: one pg_prove run; adds to the counts.
prove() {
    local log sets=() counts p f rc=0
    log="$(mktemp)"
    mapfile -t sets < <(node_sets)
    pg_prove --psql-bin "$psql_bin" -d "$PGDATABASE" --failures --comments \
        "${sets[@]}" "$@" 2>&1 | tee "$log" || rc=$?
    counts="$(dbcore_parse_pg_prove "$log")"
    [[ -n "$counts" ]] || counts="0 1"
    read -r p f <<<"$counts"
    if [[ $rc -ne 0 && $f -eq 0 ]]; then f=1; fi
    passed=$((passed + p)) failed=$((failed + f))
    rm -f "$log"
}

before=() after=()
for f in "${files[@]}"; do
    if [[ "$(basename "$f")" < 07 ]]; then before+=("$f"); else after+=("$f"); fi
done
if [[ ${#before[@]} -gt 0 ]]; then
    prove "${before[@]}"
fi
if [[ ${#after[@]} -gt 0 ]]; then
    say "adding a worker"
    citus_add_worker >/dev/null
    prove "${after[@]}"
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
