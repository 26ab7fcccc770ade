#!/usr/bin/env bash
# bench/citus.sh: scoped queries on a Citus cluster, routed by dbcore, against
# the hand-written form.
#
#   bash bench/citus.sh [--quick] [--no-build] [--callgrind]
#
# Builds PostgreSQL 18 with Citus 14 without assertions (tools/build-server.sh
# citus --release, cached), installs dbcore there, starts a coordinator and
# two workers (tools/citus-cluster.sh, stopped on every exit path) and loads
# the same ROWS rows (20 tenants, as bench/tenant/setup.sql lays them out)
# into two co-located tables distributed by client_id:
#   plain   no row level security; every statement names the client:
#           WHERE client_id = $1, or the column in the INSERT
#   dbcore  dbcore.enable_tenant_scoping(); statements never name the
#           client: the transaction starts with dbcore.set_client($1), and
#           dbcore routes each statement to that client's shard
# Both run as bench_app, an ordinary role that owns nothing (the tables'
# owner is bench_owner).
#
# pgbench -M prepared, CLIENTS clients: the workloads of bench/tenant.sh
# (an indexed lookup by id, an UPDATE by id, an INSERT), each transaction
# BEGIN; the client (set_client, or computing the id for plain); the
# statement; END, for a random tenant.  PGB_ROUNDS rounds of PGB_TIME
# seconds per workload and variant, in alternating order.  The report gives
# median TPS and server CPU time per transaction (all nodes), the medians of
# the per-round ratios, and whether dbcore met its target: at least TARGET
# (0.9) of the hand-written form's throughput, judged on CPU time per
# transaction (TPS on a shared machine moves with its other load).  Every statement ends in \gset, which fails the transaction
# unless exactly one row comes back, and the run stops on any failed
# transaction.
#
# --callgrind: then also counts the instructions per transaction of each
# workload and variant on every node: the nodes are restarted under valgrind
# --tool=callgrind and each pair runs over one connection (pgbench -c 1, a
# fixed random seed) for CG_SHORT=100 and CG_LONG=600 transactions; the
# difference of the two runs' instructions, summed over every backend of
# every node that ended with the run (the pgbench session on the
# coordinator, the connections Citus opened for it on the workers), divided
# by the difference of the transactions.  Deterministic whatever else the
# machine does; needs valgrind and adds about 10 minutes.  CG_KEEP=DIR keeps
# each run's profiles in DIR/WORKLOAD-VARIANT-TRANSACTIONS/NODE/ (for
# callgrind_annotate).
#
# Writes the Markdown report to bench/results/citus-latest.md (RESULTS_FILE).
# A measurement, not a test: exits 0 whether or not the target was met.
#
# Settings (environment): ROWS=200000 PGB_ROUNDS=5 PGB_TIME=5 CLIENTS=8
# JOBS=2; --quick: ROWS=20000 PGB_ROUNDS=1 PGB_TIME=2.  --no-build: use the
# release server and dbcore as installed.
set -euo pipefail

# shellcheck source=tools/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tools/lib.sh"
cd "$DBCORE_ROOT"

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit "${1:-0}"
}

quick=0 build=1 callgrind=0
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        --no-build) build=0 ;;
        --callgrind) callgrind=1 ;;
        -h|--help) usage 0 ;;
        *) echo "unknown option: $arg" >&2; usage 2 >&2 ;;
    esac
done
if [[ $quick == 1 ]]; then
    ROWS="${ROWS:-20000}" PGB_ROUNDS="${PGB_ROUNDS:-1}" PGB_TIME="${PGB_TIME:-2}"
else
    ROWS="${ROWS:-200000}" PGB_ROUNDS="${PGB_ROUNDS:-5}" PGB_TIME="${PGB_TIME:-5}"
fi
CLIENTS="${CLIENTS:-8}" JOBS="${JOBS:-2}"
RESULTS_FILE="${RESULTS_FILE-bench/results/citus-latest.md}"
TARGET=0.9
[[ "$ROWS" =~ ^[0-9]+$ && "$ROWS" -ge 10000 && $((ROWS % 100)) -eq 0 ]] ||
    die "ROWS must be a multiple of 100, at least 10000 (got '$ROWS')"
CG_SHORT="${CG_SHORT:-100}" CG_LONG="${CG_LONG:-600}"
for var in PGB_ROUNDS PGB_TIME CLIENTS JOBS CG_SHORT CG_LONG; do
    [[ "${!var}" =~ ^[0-9]+$ && "${!var}" -ge 1 ]] || die "$var must be a whole number >= 1 (got '${!var}')"
done

((CG_LONG > CG_SHORT)) || die "CG_LONG must be greater than CG_SHORT"
if [[ $callgrind == 1 ]] && ! command -v valgrind >/dev/null 2>&1; then
    die "--callgrind needs valgrind (apt-get install valgrind)"
fi

BENCH_DIR="$DBCORE_ROOT/bench/citus"
WORKLOADS=(lookup update insert)
VARIANTS=(plain dbcore)

if [[ $build == 1 ]]; then
    PG_CONFIG="$(bash tools/build-server.sh citus --release | tail -n 1)/bin/pg_config"
    export PG_CONFIG
    dbcore_build_install
else
    PG_CONFIG="${PG_CONFIG:-$(bash tools/build-server.sh path citus --release)/bin/pg_config}"
    export PG_CONFIG
fi
[[ -x "$PG_CONFIG" ]] || die "no Citus release build at $PG_CONFIG (run without --no-build)"

if [[ -z "${DBCORE_CITUS_BASE:-}" ]]; then
    # No signing keys: bench_app sets plain client ids, as on a server
    # without strict mode.  Settings as in bench/tenant.sh: CPU work only.
    export DBCORE_CITUS_SIGNING_KEYS=''
    export DBCORE_CITUS_CONF="
shared_buffers = 512MB
synchronous_commit = off
autovacuum = off
jit = off
max_parallel_workers_per_gather = 0
citus.max_cached_conns_per_worker = 16
"
    exec bash tools/citus-cluster.sh run --name bench -- bash "${BASH_SOURCE[0]}" "$@"
fi
citus_cluster_load "$DBCORE_CITUS_BASE"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/dbcore-benchcitus.XXXXXX")"
# shellcheck disable=SC2317  # called from the exit trap
_remove_work() { rm -rf "${WORK:?}"; }
DBCORE_EXIT_HOOKS+=(_remove_work)
cluster_trap

bindir="$("$PG_CONFIG" --bindir)"
PSQL="$bindir/psql" PGBENCH="$bindir/pgbench"
psql_run() { "$PSQL" -X -q -v ON_ERROR_STOP=1 "$@"; }

say "Citus $(psql_run -At -c "SELECT extversion FROM pg_extension WHERE extname = 'citus'") on PostgreSQL $(psql_run -At -c 'SHOW server_version'): $ROWS rows per table, $PGB_ROUNDS rounds of ${PGB_TIME}s, $CLIENTS clients"
psql_run -v rows="$ROWS" -f "$BENCH_DIR/setup.sql" >/dev/null
ok "loaded"

# Server CPU time, as in bench/tenant.sh but over every node: the CPU time
# of the postmasters' children that have exited (cutime + cstime of
# /proc/PID/stat), i.e. of the pgbench connections on the coordinator and
# of the connections Citus opened for them on the workers, which end with
# them.  Far less sensitive to the machine's other load than TPS.
PM_PIDS=()
for node in $(citus_nodes); do
    PM_PIDS+=("$(head -n 1 "$DBCORE_CITUS_BASE/$node/data/postmaster.pid")")
done
CLK_TCK="$(getconf CLK_TCK)"
cluster_child_ticks() {
    local pid sum=0 t
    for pid in "${PM_PIDS[@]}"; do
        t="$(awk '{ print $16 + $17 }' "/proc/$pid/stat")"
        sum=$((sum + t))
    done
    echo "$sum"
}
# Wait until no connection of bench_app is left on any node (pgbench's, and
# those Citus opened for them), so that their CPU time has been counted.
cluster_settle() {
    local i n node c
    for ((i = 0; i < 200; i++)); do
        n=0
        for node in $(citus_nodes); do
            # (Citus connects to the workers as the coordinator session's user)
            c="$(citus_psql "$node" -X -At -c "SELECT count(*) FROM pg_stat_activity
                  WHERE backend_type = 'client backend' AND usename = 'bench_app'" 2>/dev/null || echo 1)"
            n=$((n + c))
        done
        [[ $n -eq 0 ]] && return 0
        sleep 0.05
    done
    warn "connections did not end: CPU time may be undercounted"
}

pgbench_run() {   # pgbench_run WORKLOAD VARIANT SECONDS: sets PB_TPS PB_CPU_US
    local out="$WORK/pgbench-$1-$2.out" failed t0 t1 xacts
    cluster_settle
    t0="$(cluster_child_ticks)"
    "$PGBENCH" -n -M prepared -c "$CLIENTS" -j "$JOBS" -T "$3" -U bench_app \
        -D rows="$ROWS" -f "$BENCH_DIR/$1-$2.pgbench" "$PGDATABASE" >"$out" 2>&1 &
    wait $! || { tail -n 20 "$out" >&2; die "pgbench $1-$2 failed"; }
    cluster_settle
    t1="$(cluster_child_ticks)"
    PB_TPS="$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$out")"
    xacts="$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")"
    failed="$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")"
    [[ -n "$PB_TPS" && -n "$xacts" && "$xacts" -gt 0 ]] || { cat "$out" >&2; die "could not read pgbench $1-$2's output"; }
    [[ "${failed:-0}" == 0 ]] || { cat "$out" >&2; die "pgbench $1-$2: $failed failed transactions"; }
    PB_CPU_US="$(awk -v t="$((t1 - t0))" -v hz="$CLK_TCK" -v n="$xacts" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')"
}

say "warm-up"
for w in "${WORKLOADS[@]}"; do
    for v in "${VARIANTS[@]}"; do
        pgbench_run "$w" "$v" 1
    done
done
: >"$WORK/tps.tsv"
for ((r = 1; r <= PGB_ROUNDS; r++)); do
    for w in "${WORKLOADS[@]}"; do
        for ((p = 0; p < ${#VARIANTS[@]}; p++)); do
            v="${VARIANTS[$(((p + r) % ${#VARIANTS[@]}))]}"
            pgbench_run "$w" "$v" "$PGB_TIME"
            printf '%s\t%s\t%s\t%s\t%s\n' "$r" "$w" "$v" "$PB_TPS" "$PB_CPU_US" >>"$WORK/tps.tsv"
            printf '   round %s/%s  %-7s %-7s %8.0f tps  %7.1f µs CPU/txn (all nodes)\n' "$r" "$PGB_ROUNDS" "$w" "$v" "$PB_TPS" "$PB_CPU_US"
        done
    done
done

# The single-shard claim, checked on the statements of the dbcore variant.
tasks="$(psql_run -At -U bench_app <<'SQL'
BEGIN;
SELECT dbcore.set_client(md5('tenant-3')::uuid) \gset
SET LOCAL citus.multi_task_query_log_level = 'error';
SELECT count(*) FROM bench.t_dbcore WHERE id = 143;
UPDATE bench.t_dbcore SET amount = amount WHERE id = 143;
INSERT INTO bench.t_dbcore (id, amount, status, ref, created_at) VALUES (-1, 1, 'new', 'x', now());
ROLLBACK;
SQL
)" || die "a statement of the dbcore variant ran on more than one shard"

# --------------------------------------------------------------------------
# (--callgrind) Instructions per transaction, on every node
#
# Each node is restarted under valgrind --tool=callgrind, which follows the
# postmaster's forks: every backend writes its own profile when it exits.
# Each workload and variant runs over one connection (pgbench -c 1, a fixed
# random seed, so both variants get the same tenants and rows), CG_SHORT and
# CG_LONG transactions, each time right after a VACUUM of its table.  The
# instructions of every backend that ended with the run are summed per node:
# on the coordinator the pgbench session, on the workers the connections
# Citus opened for it, which end with it.  The difference of the two runs
# divided by the difference of their transactions is one transaction, with
# the connections' start-up and exit cancelled out.
# --------------------------------------------------------------------------
declare -A IR
CG_NODES=()
if [[ $callgrind == 1 ]]; then
    mapfile -t CG_NODES < <(citus_nodes)
    say "callgrind: instructions per transaction on ${#CG_NODES[@]} nodes (${#WORKLOADS[@]} workloads x ${#VARIANTS[@]} variants, $CG_SHORT and $CG_LONG transactions)"
    CG_DIR="$DBCORE_CITUS_BASE/callgrind"
    mkdir -p "$CG_DIR"
    # No connections between the nodes at times of the coordinator's own
    # choosing while counting: its distributed deadlock detector and its
    # recovery of prepared transactions open them.
    psql_run -c "ALTER SYSTEM SET citus.distributed_deadlock_detection_factor = -1" \
        -c "ALTER SYSTEM SET citus.recover_2pc_interval = -1" >/dev/null
    for node in "${CG_NODES[@]}"; do
        dir="$DBCORE_CITUS_BASE/$node"
        mkdir -p "$CG_DIR/$node"
        [[ $EUID -ne 0 ]] || chown postgres: "$CG_DIR" "$CG_DIR/$node"
        _citus_as_pg "$dir" "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
        _citus_as_pg "$dir" valgrind --tool=callgrind --trace-children=yes \
            --callgrind-out-file="$CG_DIR/$node/cg.%p" \
            "$bindir/postgres" -D "$dir/data" >"$CG_DIR/$node.log" 2>&1 &
    done
    CG_PM=()
    for node in "${CG_NODES[@]}"; do
        for ((i = 0; i < 240; i++)); do
            "$bindir/pg_isready" -q -h "$DBCORE_CITUS_BASE/$node" -p "$(citus_node_port "$node")" && break
            sleep 0.5
        done
        ((i < 240)) || { tail -n 20 "$CG_DIR/$node.log" >&2; die "node $node did not come up under callgrind"; }
        CG_PM+=("$(head -n 1 "$DBCORE_CITUS_BASE/$node/data/postmaster.pid")")
    done

    # Under valgrind, /proc/PID/cmdline shows valgrind's command line, not
    # the process title, so backends cannot be told from background
    # processes by name.  Instead: the postmasters' children, once they have
    # been the same for 5 s after a warm-up run of every script, are the
    # background processes (Citus's maintenance daemons among them); a run
    # is over when no other child is left.
    cg_children() {
        local pid
        for pid in "${CG_PM[@]}"; do
            ps -o pid= --ppid "$pid" || true
        done | tr -d ' ' | sort
    }
    cg_pgbench() {   # cg_pgbench WORKLOAD VARIANT TRANSACTIONS
        "$PGBENCH" -n -M prepared -c 1 -j 1 -t "$3" --random-seed=1 -U bench_app \
            -D rows="$ROWS" -f "$BENCH_DIR/$1-$2.pgbench" "$PGDATABASE" >"$WORK/cg-pgbench.out" 2>&1 ||
            { tail -n 20 "$WORK/cg-pgbench.out" >&2; die "pgbench $1-$2 failed under callgrind"; }
    }
    for w in "${WORKLOADS[@]}"; do
        for v in "${VARIANTS[@]}"; do
            cg_pgbench "$w" "$v" 5
        done
    done
    cg_base="" stable=0
    for ((i = 0; i < 600; i++)); do
        now="$(cg_children)"
        if [[ "$now" == "$cg_base" ]]; then
            stable=$((stable + 1))
            ((stable >= 10)) && break
        else
            cg_base="$now" stable=0
        fi
        sleep 0.5
    done
    ((stable >= 10)) || die "the nodes' processes did not settle under callgrind"
    cg_settle() {
        local i
        for ((i = 0; i < 1200; i++)); do
            [[ -z "$(comm -13 <(printf '%s\n' "$cg_base") <(cg_children))" ]] && return 0
            sleep 0.1
        done
        die "backends did not exit under callgrind"
    }
    cg_run() {   # cg_run WORKLOAD VARIANT TRANSACTIONS: prints each node's instructions
        local node f n sum
        # The same seed inserts the same ids: the rows of earlier runs go.
        psql_run -c "DELETE FROM bench.t_$2 WHERE id >= 1000000000" \
            -c "VACUUM bench.t_$2" >/dev/null
        cg_settle
        rm -f "$CG_DIR"/*/cg.*
        cg_pgbench "$1" "$2" "$3"
        cg_settle
        if [[ -n "${CG_KEEP:-}" ]]; then
            mkdir -p "$CG_KEEP/$1-$2-$3"
            cp -r "$CG_DIR"/*/ "$CG_KEEP/$1-$2-$3/"
        fi
        for node in "${CG_NODES[@]}"; do
            sum=0
            for f in "$CG_DIR/$node"/cg.*; do
                [[ -f "$f" ]] || continue
                n="$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$f" | head -n 1)"
                [[ "$n" =~ ^[0-9]+$ ]] || die "no instruction count in $f"
                sum=$((sum + n))
            done
            printf '%s ' "$sum"
        done
    }
    for w in "${WORKLOADS[@]}"; do
        for v in "${VARIANTS[@]}"; do
            read -r -a a <<<"$(cg_run "$w" "$v" "$CG_SHORT")"
            read -r -a b <<<"$(cg_run "$w" "$v" "$CG_LONG")"
            ((${#a[@]} == ${#CG_NODES[@]} && ${#b[@]} == ${#CG_NODES[@]})) ||
                die "callgrind measurement of $w-$v failed"
            total=0 line=""
            for ((k = 0; k < ${#CG_NODES[@]}; k++)); do
                ((b[k] >= a[k])) || die "callgrind measurement of $w-$v failed on ${CG_NODES[$k]}"
                IR[$w $v ${CG_NODES[$k]}]=$(((b[k] - a[k]) / (CG_LONG - CG_SHORT)))
                total=$((total + IR[$w $v ${CG_NODES[$k]}]))
                line+=" ${CG_NODES[$k]} ${IR[$w $v ${CG_NODES[$k]}]}"
            done
            ((total > 0)) || die "callgrind measurement of $w-$v counted nothing"
            IR[$w $v]=$total
            printf '   %-7s %-7s %10s instructions/txn (%s)\n' "$w" "$v" "$total" "${line# }"
        done
    done
    rm -rf "${CG_DIR:?}"/*/cg.*
fi

psql_run -c "CREATE TABLE bench.tps_run (round int, workload text, variant text, tps float8, cpu_us float8)" \
    -c "\\copy bench.tps_run FROM '$WORK/tps.tsv'" >/dev/null
report="$WORK/report.md"
{
    echo "# dbcore on Citus: scoped statements routed by dbcore vs WHERE client_id = \$1"
    echo
    echo "- run: \`bash bench/citus.sh${*:+ $*}\` on $(date -u +%F), $(nproc) CPUs"
    echo "- Citus $(psql_run -At -c "SELECT extversion FROM pg_extension WHERE extname = 'citus'"), PostgreSQL $(psql_run -At -c 'SHOW server_version'), a coordinator and 2 workers on this machine, release builds"
    echo "- $ROWS rows per table, 20 tenants; pgbench -M prepared, $CLIENTS clients, $PGB_ROUNDS rounds of ${PGB_TIME}s per workload and variant"
    echo "- target: dbcore's throughput >= ${TARGET}x the hand-written form's"
    echo
    echo "| workload | plain TPS | dbcore TPS | TPS dbcore / plain | plain CPU µs/txn | dbcore CPU µs/txn | CPU plain / dbcore | target |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    psql_run -At -F '|' -v target="$TARGET" <<'SQL'
WITH m AS (
    SELECT workload, variant, percentile_cont(0.5) WITHIN GROUP (ORDER BY tps) AS tps,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY cpu_us) AS cpu
      FROM bench.tps_run GROUP BY 1, 2
), r AS (
    SELECT d.workload, d.tps / p.tps AS tps_ratio, p.cpu_us / d.cpu_us AS cpu_ratio
      FROM bench.tps_run d JOIN bench.tps_run p USING (workload, round)
     WHERE d.variant = 'dbcore' AND p.variant = 'plain'
), rs AS (
    SELECT workload,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY tps_ratio) AS tmed, min(tps_ratio) AS tlo, max(tps_ratio) AS thi,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY cpu_ratio) AS cmed, min(cpu_ratio) AS clo, max(cpu_ratio) AS chi
      FROM r GROUP BY 1
)
SELECT format('| %s | %s | %s | %s (%s–%s) | %s | %s | %s (%s–%s) | %s |', rs.workload,
              round(p.tps::numeric), round(d.tps::numeric),
              round(rs.tmed::numeric, 3), round(rs.tlo::numeric, 3), round(rs.thi::numeric, 3),
              round(p.cpu::numeric, 1), round(d.cpu::numeric, 1),
              round(rs.cmed::numeric, 3), round(rs.clo::numeric, 3), round(rs.chi::numeric, 3),
              CASE WHEN rs.cmed >= :target THEN '**met**' ELSE '**not met**' END)
  FROM rs JOIN m p ON p.workload = rs.workload AND p.variant = 'plain'
          JOIN m d ON d.workload = rs.workload AND d.variant = 'dbcore'
 ORDER BY array_position(ARRAY['lookup', 'update', 'insert'], rs.workload)
SQL
    echo
    echo "Ratios are medians of the per-round ratios (min–max). CPU is the server time of all three nodes per transaction; on a CPU-bound cluster throughput is inversely proportional to it, and it moves far less with the machine's other load than TPS, so the target is judged on it."
    echo
    echo "Every statement of the dbcore variant ran as one task (checked with citus.multi_task_query_log_level = 'error')."
    if [[ $callgrind == 1 ]]; then
        echo
        echo "### Instructions per transaction (callgrind)"
        echo
        echo "| workload | plain: coordinator | plain: workers | plain: all nodes | dbcore: coordinator | dbcore: workers | dbcore: all nodes | plain / dbcore | target |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        for w in "${WORKLOADS[@]}"; do
            pc="${IR[$w plain coord]}" dc="${IR[$w dbcore coord]}"
            pt="${IR[$w plain]}" dt="${IR[$w dbcore]}"
            r="$(awk -v a="$pt" -v b="$dt" 'BEGIN { printf "%.3f", a / b }')"
            if awk -v r="$r" -v t="$TARGET" 'BEGIN { exit !(r >= t) }'; then m='**met**'; else m='**not met**'; fi
            echo "| $w | $pc | $((pt - pc)) | $pt | $dc | $((dt - dc)) | $dt | $r | $m |"
        done
        echo
        echo "One pgbench connection (\`-c 1\`, the same scripts and random seed), the instructions of $((CG_LONG - CG_SHORT)) transactions (the difference of a $CG_LONG- and a $CG_SHORT-transaction run, start-up cancelled out) of every backend on each node that ended with the run. Instructions are not time (cache misses, system calls and the socket round trips weigh differently), but they do not move with the machine's other load."
    fi
} >"$report"
cat "$report"
if [[ -n "$RESULTS_FILE" ]]; then
    mkdir -p "$(dirname "$RESULTS_FILE")"
    cp "$report" "$RESULTS_FILE"
    ok "report written to $RESULTS_FILE"
fi
: "$tasks"
