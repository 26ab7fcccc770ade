#!/usr/bin/env bash
# bench/tenant.sh: what does dbcore's tenant scoping cost?
#
#   bash bench/tenant.sh [--quick] [--no-build] [--no-deps] [--callgrind]
#
# Installs missing packages, builds and installs dbcore, starts a throwaway
# PostgreSQL cluster and loads three copies of the same ROWS rows (20
# tenants; the large tenant holds 43% of the rows, see bench/tenant/setup.sql):
#   plain     no row level security; every query says WHERE client_id = $1
#   setting   RLS forced, policy client_id = current_setting('app.client_id')::uuid
#   dbcore    dbcore.enable_tenant_scoping(): RLS forced, policies
#             client_id = (SELECT dbcore.current_client_id()), row guard
# All measured statements run as bench_app, an ordinary role that owns the
# tables (superusers and BYPASSRLS roles skip row level security).
#
# 1. Per-tenant scans of the large tenant: a total (count, sum) and a
#    per-status aggregate, each with the plan forced to a sequential scan, to
#    a bitmap scan on the (client_id, id) index, and left to the planner,
#    under plan_cache_mode = force_custom_plan and force_generic_plan.
#    Server-side wall time (clock_timestamp() around EXECUTE) and the
#    backend's CPU time (/proc/self/schedstat), ROUNDS rounds.
# 2. pgbench, -M prepared, plan_cache_mode = force_generic_plan: an indexed
#    lookup by id, an UPDATE by id and an INSERT, a random tenant per
#    transaction; each variant's transaction is BEGIN, one scope statement
#    (for plain: the same client id computation, no scope), the statement,
#    END.  TPS and server CPU time per transaction, PGB_ROUNDS rounds of
#    PGB_TIME seconds.
# 3. A demonstration: a non-LEAKPROOF predicate (ref LIKE 'ABC%') loses its
#    index under row level security; leakproof spellings (ref ^@ 'ABC',
#    ref >= 'ABC' AND ref < 'ABD') keep it.
# The variants run in an order that rotates from round to round; the report
# gives medians (min–max), ratios to the plain baseline and to the setting
# policy, and whether dbcore met its targets:
#   throughput >= 0.95x plain and >= the setting policy's;
#   per-tenant scan time <= 1.05x plain's.
# It prints a Markdown report and writes it to bench/results/tenant-latest.md.
#
# This is a measurement, not a test: it exits 0 whether or not the targets
# were met, and non-zero only when something failed (including a variant
# returning other rows than the baseline).
#
# Options:
#   --quick      smoke run: ROWS=100000 ROUNDS=3 PGB_ROUNDS=1 PGB_TIME=2
#                unless set; the report is printed but not written to a file
#                unless RESULTS_FILE is set
#   --no-build   use the dbcore already installed (no make / make install)
#   --no-deps    don't check for or install Debian packages
#   --callgrind  also count the instructions per transaction of every
#                pgbench workload and variant: the cluster is restarted
#                under valgrind --tool=callgrind (needs valgrind; adds about
#                3 minutes).  Unlike TPS and CPU time, instruction counts do
#                not move with the machine's other load
#
# Settings (environment):
#   ROWS=1000000     rows per table (a multiple of 100, at least 10000)
#   ROUNDS=7         rounds of the scan measurements
#   PGB_ROUNDS=6     rounds of the pgbench workloads
#   PGB_TIME=3       seconds per pgbench run (3 workloads x 3 variants per round)
#   CLIENTS=4 JOBS=2 pgbench clients and threads
#   FILLFACTOR=90    of the tables: room for HOT updates, so the update
#                    workload does not drift from round to round
#   RESULTS_FILE     where to write the report (default
#                    bench/results/tenant-latest.md)
#   DBCORE_KEEP_CLUSTER=1  leave the cluster running after a normal exit
set -euo pipefail

# shellcheck source=tools/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tools/lib.sh"
cd "$DBCORE_ROOT"

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit "${1:-0}"
}

quick=0 build=1 deps=1 callgrind=0
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        --no-build) build=0 ;;
        --no-deps) deps=0 ;;
        --callgrind) callgrind=1 ;;
        -h|--help) usage 0 ;;
        *) echo "unknown option: $arg" >&2; usage 2 >&2 ;;
    esac
done

# How this run was started, for the report.
command="bash bench/tenant.sh${*:+ $*}"
for var in CLIENTS FILLFACTOR JOBS PGB_ROUNDS PGB_TIME ROUNDS ROWS; do
    if [[ -n "${!var:-}" ]]; then
        command="$var=${!var} $command"
    fi
done

if [[ $quick == 1 ]]; then
    ROWS="${ROWS:-100000}"
    ROUNDS="${ROUNDS:-3}"
    PGB_ROUNDS="${PGB_ROUNDS:-1}"
    PGB_TIME="${PGB_TIME:-2}"
    RESULTS_FILE="${RESULTS_FILE:-}"
else
    ROWS="${ROWS:-1000000}"
    ROUNDS="${ROUNDS:-7}"
    PGB_ROUNDS="${PGB_ROUNDS:-6}"
    PGB_TIME="${PGB_TIME:-3}"
    RESULTS_FILE="${RESULTS_FILE-bench/results/tenant-latest.md}"
fi
CLIENTS="${CLIENTS:-4}"
JOBS="${JOBS:-2}"
FILLFACTOR="${FILLFACTOR:-90}"
[[ "$ROWS" =~ ^[0-9]+$ && "$ROWS" -ge 10000 && $((ROWS % 100)) -eq 0 ]] ||
    die "ROWS must be a multiple of 100, at least 10000 (got '$ROWS')"
for var in ROUNDS PGB_ROUNDS PGB_TIME CLIENTS JOBS; do
    [[ "${!var}" =~ ^[0-9]+$ && "${!var}" -ge 1 ]] || die "$var must be a whole number >= 1 (got '${!var}')"
done
[[ "$FILLFACTOR" =~ ^[0-9]+$ && "$FILLFACTOR" -ge 10 && "$FILLFACTOR" -le 100 ]] ||
    die "FILLFACTOR must be between 10 and 100 (got '$FILLFACTOR')"
((JOBS <= CLIENTS)) || die "JOBS ($JOBS) must not exceed CLIENTS ($CLIENTS)"

# dbcore's targets, from the issue.
TARGET_TPS=0.95        # throughput >= this x plain's (and >= the setting policy's)
TARGET_SCAN=1.05       # per-tenant scan time <= this x plain's

started=$SECONDS
BENCH_DIR="$DBCORE_ROOT/bench/tenant"
VARIANTS=(plain setting dbcore)
WORKLOADS=(lookup update insert)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/dbcore-benchfiles.XXXXXX")"
# shellcheck disable=SC2317  # called from the exit trap
_remove_work() { rm -rf "${WORK:?}"; }
DBCORE_EXIT_HOOKS+=(_remove_work)
cluster_trap

if [[ $deps == 1 ]]; then
    dbcore_install_deps
fi
if [[ $callgrind == 1 ]] && ! command -v valgrind >/dev/null 2>&1; then
    die "--callgrind needs valgrind (apt-get install valgrind)"
fi
if [[ $build == 1 ]]; then
    dbcore_build_install
fi

# CPU work only, as in bench/updated_at.sh: everything fits in
# shared_buffers and is prewarmed, WAL is written but never waited for
# (lib.sh turns fsync off), no checkpoint, autovacuum or JIT compilation
# starts on its own.  Parallel query is off: on two shared cores, parallel
# workers add noise and would split the same work differently per variant
# (dbcore supports parallel plans; this is about the per-row cost).
# dbcore is preloaded, as its documentation recommends.  work_mem is large
# enough that bitmaps of the large tenant stay exact (no lossy pages).
export DBCORE_CLUSTER_CONF="$DBCORE_BENCH_CONF
work_mem = 64MB
shared_preload_libraries = 'dbcore'
"
cluster_start bench

PSQL="$(pg_bin psql)"
PGBENCH="$(pg_bin pgbench)"
psql_run() { "$PSQL" -X -q -v ON_ERROR_STOP=1 "$@"; }
# The application role's session: every measured statement runs as bench_app.
psql_app() { psql_run -U bench_app "$@"; }

pg_version="$(psql_run -At -c 'SHOW server_version')"
say "PostgreSQL $pg_version, $ROWS rows per table, $ROUNDS scan rounds, $PGB_ROUNDS pgbench rounds of ${PGB_TIME}s"

say "loading 3 x $ROWS rows"
schedstat=0
[[ -r /proc/self/schedstat ]] && schedstat=1
psql_run -v rows="$ROWS" -v fillfactor="$FILLFACTOR" -v schedstat="$schedstat" \
    -f "$BENCH_DIR/setup.sql" >/dev/null
large_rows="$(psql_app -At -c "SELECT count(*) FROM bench.t_plain WHERE client_id = md5('tenant-0')::uuid")"
ok "loaded; the large tenant has $large_rows rows"

# --------------------------------------------------------------------------
# 1. Per-tenant scans
#
# One psql session as bench_app.  Every (plan_cache_mode, query, scan,
# variant) has its own prepared statement; its plan-forcing settings are set
# (SET LOCAL) before every execution, including the first, so a cached
# generic plan was always made under them.  The plain variant gets the
# tenant as a parameter ($1: a constant in custom plans, a parameter in
# generic ones); the policy variants get it from their scope, set in the
# same transaction before the timed statement.
#
# Timing: clock_timestamp() before and after EXECUTE, read on the server;
# the window adds one local round trip (~0.1 ms) to every variant alike.
# EXPLAIN ANALYZE was not used: even with TIMING OFF it instruments every
# row passing each plan node, a cost added on top of what is compared.
#
# Each result (count and sum) is recorded; every variant must return the
# same as the baseline (checked below), so a policy that silently filtered
# out rows would fail the run instead of looking fast.
# --------------------------------------------------------------------------
MODES=(force_custom_plan force_generic_plan)
QUERIES=(total by_status)
SCANS=(seq bitmap auto)

query_sql() {   # query_sql QUERY VARIANT
    local tbl="bench.t_$2" where=""
    [[ $2 == plain ]] && where=" WHERE client_id = \$1"
    case "$1" in
        total) echo "SELECT count(*) AS n, sum(amount) AS total FROM $tbl$where" ;;
        # per status; wrapped so that one row (a checksum) comes back
        by_status) echo "SELECT sum(g.n) AS n, sum(g.total) AS total FROM (SELECT status, count(*) AS n, sum(amount) AS total FROM $tbl$where GROUP BY status) AS g" ;;
        *) die "unknown query $1" ;;
    esac
}

scan_settings() {   # scan_settings SCAN MODE
    echo "SET LOCAL plan_cache_mode = $2;"
    case "$1" in
        seq) echo "SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off; SET LOCAL enable_bitmapscan = off;" ;;
        bitmap) echo "SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off;" ;;
        auto) ;;
    esac
}

scope_sql() {   # scope_sql VARIANT: enter the large tenant's scope
    case "$1" in
        plain) ;;
        setting) echo "SELECT set_config('app.client_id', :'cid', true) AS scope \\gset" ;;
        dbcore) echo "SELECT dbcore.set_client(:'cid'::uuid) AS scope \\gset" ;;
    esac
}

exec_sql() {   # exec_sql NAME VARIANT
    if [[ $2 == plain ]]; then
        echo "EXECUTE $1(:'cid')"
    else
        echo "EXECUTE $1"
    fi
}

{
    echo "SET client_min_messages = warning;"
    echo "SELECT client_id AS cid FROM bench.tenants WHERE n = 0 \\gset"
    for m in "${MODES[@]}"; do
        for q in "${QUERIES[@]}"; do
            for s in "${SCANS[@]}"; do
                for v in "${VARIANTS[@]}"; do
                    name="${q}_${s}_${m%_plan}_$v"
                    name="${name//force_/}"
                    if [[ $v == plain ]]; then
                        echo "PREPARE $name(uuid) AS $(query_sql "$q" "$v");"
                    else
                        echo "PREPARE $name AS $(query_sql "$q" "$v");"
                    fi
                    # The plan, for the report (and, for generic plans, the
                    # cached plan itself), then one untimed warm-up run.
                    echo "BEGIN;"
                    scan_settings "$s" "$m"
                    scope_sql "$v"
                    printf '%s\n' "\\echo PLAN $m $q $s $v"
                    echo "EXPLAIN (COSTS OFF) $(exec_sql "$name" "$v");"
                    echo "$(exec_sql "$name" "$v") \\gset r_"
                    echo "COMMIT;"
                done
            done
        done
    done
    printf '%s\n' '\echo ENDPLANS'
    for ((r = 1; r <= ROUNDS; r++)); do
        i=0
        for m in "${MODES[@]}"; do
            for q in "${QUERIES[@]}"; do
                for s in "${SCANS[@]}"; do
                    for ((p = 0; p < ${#VARIANTS[@]}; p++)); do
                        v="${VARIANTS[$(((p + r + i) % ${#VARIANTS[@]}))]}"
                        name="${q}_${s}_${m%_plan}_$v"
                        name="${name//force_/}"
                        echo "BEGIN;"
                        scan_settings "$s" "$m"
                        scope_sql "$v"
                        cat <<SQL
SELECT extract(epoch FROM clock_timestamp()) AS t0, coalesce(bench.cpu_ns(), -1) AS c0 \\gset
$(exec_sql "$name" "$v") \\gset r_
SELECT CASE WHEN :c0 < 0 THEN -1 ELSE (bench.cpu_ns() - :c0) / 1e6 END AS cpu_ms, (extract(epoch FROM clock_timestamp()) - :t0) * 1000 AS ms \\gset
COMMIT;
INSERT INTO bench.scan_run VALUES ($r, '$m', '$q', '$s', '$v', :ms, nullif(:cpu_ms, -1), :r_n, :r_total);
\\echo RUN $r $m $q $s $v :ms
SQL
                    done
                    i=$((i + 1))
                done
            done
        done
    done
} >"$WORK/scans.sql"

n_scan=$((${#MODES[@]} * ${#QUERIES[@]} * ${#SCANS[@]} * ${#VARIANTS[@]}))
say "per-tenant scans: $ROUNDS rounds x $n_scan runs"
# The session's output: PLAN blocks, then RUN lines (shown as progress).  It
# runs in the background so that a SIGTERM reaches the trap at once.
psql_app -At -f "$WORK/scans.sql" 2>&1 | tee "$WORK/scans.out" |
    awk -v rounds="$ROUNDS" -v per="$n_scan" '
        $1 == "RUN" && ++runs % per == 0 { printf "   scan round %s/%s done\n", $2, rounds; fflush() }' &
wait $! || true
[[ "$(grep -c '^RUN ' "$WORK/scans.out")" == $((ROUNDS * n_scan)) ]] ||
    { tail -n 20 "$WORK/scans.out" >&2; die "the scan session failed"; }

# The plans: "mode query scan variant" -> scan node(s), e.g. "Seq Scan".
declare -A PLAN
while IFS='|' read -r key node; do
    PLAN[$key]="$node"
done < <(awk '
    $1 == "ENDPLANS" { exit }
    $1 == "PLAN" { if (key != "") print key "|" nodes; key = $2 " " $3 " " $4 " " $5; nodes = ""; next }
    key != "" && /Scan on / {
        s = $0; sub(/^[ ->]*/, "", s); sub(/ on .*/, "", s)
        if (index(nodes, s) == 0) nodes = (nodes == "" ? s : nodes " + " s)
    }
    END { if (key != "") print key "|" nodes }' "$WORK/scans.out")

# Forced plans must be what they claim.
for key in "${!PLAN[@]}"; do
    read -r _ _ s _ <<<"$key"
    case "$s" in
        seq) [[ "${PLAN[$key]}" == "Seq Scan" ]] || die "plan of $key is '${PLAN[$key]}', not a sequential scan" ;;
        bitmap) [[ "${PLAN[$key]}" == *"Bitmap Heap Scan"* && "${PLAN[$key]}" != *"Seq Scan"* ]] ||
                    die "plan of $key is '${PLAN[$key]}', not a bitmap scan" ;;
    esac
done

# Every variant returned the same rows as the baseline.
bad="$(psql_app -At -c "
    SELECT query || ': ' || string_agg(DISTINCT variant || '=' || n || '/' || total, ', ')
      FROM bench.scan_run GROUP BY query HAVING count(DISTINCT (n, total)) > 1")"
[[ -z "$bad" ]] || die "variants returned different results: $bad"
[[ "$(psql_app -At -c "SELECT min(n) FROM bench.scan_run")" == "$large_rows" ]] ||
    die "the scans did not count the large tenant's $large_rows rows"

# --------------------------------------------------------------------------
# 2. pgbench
#
# -M prepared with plan_cache_mode = force_generic_plan: what prepared
# statements settle on anyway (statements without parameters, like the
# policy variants', always use the generic plan; the baseline's
# client_id = $1 lookups go generic after five executions), pinned so that
# no variant switches plans in the middle of a run.
#
# Every script is BEGIN; scope; statement; END (see bench/tenant/*.pgbench):
# the same number of round trips for every variant.  The statements end in
# \gset, which fails the transaction unless exactly one row comes back: a
# variant whose policy hid the row would abort instead of looking fast.
# One short warm-up run of every script first, then PGB_ROUNDS rounds of
# short runs (many short alternating runs follow load changes on a shared
# machine better than a few long ones).
#
# Two measures per run:
#  - TPS, as pgbench reports it (wall clock: on a shared machine it moves
#    with whatever else runs);
#  - server CPU time per transaction: the CPU time of the run's backends,
#    read from the postmaster's cutime + cstime (/proc/PID/stat: the CPU
#    time of its children that have exited and been reaped, i.e. of the
#    pgbench connections, which are the only ones that end during the run).
#    Much less sensitive to other load than wall time; on a CPU-bound server
#    throughput is inversely proportional to it.  pgbench's own CPU (the
#    same for every variant) is left out.
# --------------------------------------------------------------------------
PM_PID="$(head -n 1 "$DBCORE_CLUSTER_DATA/postmaster.pid")"
CLK_TCK="$(getconf CLK_TCK)"
# True while a client backend of ours is alive or not yet reaped.
pm_busy() {
    local p
    for p in $(ps -o pid= --ppid "$PM_PID"); do
        if [[ "$(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null)" == Z ]] ||
           grep -qa '\[local\]' "/proc/$p/cmdline" 2>/dev/null; then
            return 0
        fi
    done
    return 1
}
pm_settle() {
    local i
    for ((i = 0; i < 200; i++)); do
        pm_busy || return 0
        sleep 0.05
    done
    die "client backends did not exit"
}
pm_child_ticks() { awk '{ print $16 + $17 }' "/proc/$PM_PID/stat"; }

pgbench_run() {   # pgbench_run WORKLOAD VARIANT SECONDS: sets PB_TPS, PB_XACTS, PB_CPU_US
    local out="$WORK/pgbench-$1-$2.out" failed t0 t1
    pm_settle
    t0="$(pm_child_ticks)"
    # In the background, so that a SIGTERM reaches the trap at once.
    PGOPTIONS="-c plan_cache_mode=force_generic_plan" \
        "$PGBENCH" -n -M prepared -c "$CLIENTS" -j "$JOBS" -T "$3" \
        -U bench_app -D rows="$ROWS" -f "$BENCH_DIR/$1-$2.pgbench" \
        postgres >"$out" 2>&1 &
    if ! wait $!; then
        tail -n 20 "$out" >&2
        die "pgbench $1-$2 failed"
    fi
    pm_settle
    t1="$(pm_child_ticks)"
    PB_TPS="$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$out")"
    PB_XACTS="$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")"
    failed="$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")"
    [[ -n "$PB_TPS" && -n "$PB_XACTS" && "$PB_XACTS" -gt 0 ]] ||
        { cat "$out" >&2; die "could not read pgbench $1-$2's output"; }
    [[ "${failed:-0}" == 0 ]] || { cat "$out" >&2; die "pgbench $1-$2: $failed failed transactions"; }
    PB_CPU_US="$(awk -v t="$((t1 - t0))" -v hz="$CLK_TCK" -v n="$PB_XACTS" 'BEGIN { printf "%.3f", t * 1e6 / hz / n }')"
}

say "pgbench: warm-up, then $PGB_ROUNDS rounds x ${#WORKLOADS[@]} workloads x ${#VARIANTS[@]} variants x ${PGB_TIME}s (-c $CLIENTS -j $JOBS)"
for w in "${WORKLOADS[@]}"; do
    for v in "${VARIANTS[@]}"; do
        pgbench_run "$w" "$v" 1
    done
done
: >"$WORK/tps.tsv"
for ((r = 1; r <= PGB_ROUNDS; r++)); do
    for ((wi = 0; wi < ${#WORKLOADS[@]}; wi++)); do
        w="${WORKLOADS[$wi]}"
        for ((p = 0; p < ${#VARIANTS[@]}; p++)); do
            v="${VARIANTS[$(((p + r + wi) % ${#VARIANTS[@]}))]}"
            # No dirty buffers or fresh WAL segments left over from the run
            # before (fsync is off, so this is quick).
            psql_run -c CHECKPOINT
            pgbench_run "$w" "$v" "$PGB_TIME"
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$w" "$v" "$PB_TPS" "$PB_XACTS" "$PB_CPU_US" >>"$WORK/tps.tsv"
            printf '   round %s/%s  %-7s %-8s %8.0f tps  %7.1f µs CPU/txn\n' "$r" "$PGB_ROUNDS" "$w" "$v" "$PB_TPS" "$PB_CPU_US"
        done
    done
done
psql_app -c "\\copy bench.tps_run FROM '$WORK/tps.tsv'"

# --------------------------------------------------------------------------
# 3. LIKE under row level security
#
# ref LIKE 'ABC%' is not LEAKPROOF (textlike may raise errors that reveal
# the value), so under row level security the planner must apply it after
# the policy and cannot use it as an index condition.  starts_with (^@) and
# the comparison operators are LEAKPROOF (see pg_proc.proleakproof) and keep
# the index on ref (a COLLATE "C" column).  Custom plans, the planner's
# choice; median of LIKE_REPS runs per query and tenant.
# --------------------------------------------------------------------------
LIKE_REPS=5
LIKE_LABELS=(plain_like setting_like dbcore_like dbcore_starts dbcore_range)
like_sql() {   # like_sql LABEL
    case "$1" in
        plain_like) echo "SELECT count(*) AS n FROM bench.t_plain WHERE client_id = :'cid' AND ref LIKE 'ABC%'" ;;
        setting_like) echo "SELECT count(*) AS n FROM bench.t_setting WHERE ref LIKE 'ABC%'" ;;
        dbcore_like) echo "SELECT count(*) AS n FROM bench.t_dbcore WHERE ref LIKE 'ABC%'" ;;
        dbcore_starts) echo "SELECT count(*) AS n FROM bench.t_dbcore WHERE ref ^@ 'ABC'" ;;
        dbcore_range) echo "SELECT count(*) AS n FROM bench.t_dbcore WHERE ref >= 'ABC' AND ref < 'ABD'" ;;
    esac
}
# shellcheck disable=SC2016  # the backquotes are Markdown
like_label() {
    case "$1" in
        plain_like) echo 'plain, `WHERE client_id = $1 AND ref LIKE '"'ABC%'"'`' ;;
        setting_like) echo 'setting policy, `WHERE ref LIKE '"'ABC%'"'`' ;;
        dbcore_like) echo 'dbcore, `WHERE ref LIKE '"'ABC%'"'`' ;;
        dbcore_starts) echo 'dbcore, `WHERE ref ^@ '"'ABC'"'` (starts_with, leakproof)' ;;
        dbcore_range) echo 'dbcore, `WHERE ref >= '"'ABC'"' AND ref < '"'ABD'"'` (leakproof)' ;;
    esac
}
{
    echo "SET plan_cache_mode = force_custom_plan;"
    for tn in 0 1; do
        echo "SELECT client_id AS cid FROM bench.tenants WHERE n = $tn \\gset"
        for l in "${LIKE_LABELS[@]}"; do
            v="${l%%_*}"
            echo "BEGIN;"
            scope_sql "$v"
            printf '%s\n' "\\echo PLAN $tn $l"
            echo "EXPLAIN (COSTS OFF) $(like_sql "$l");"
            echo "$(like_sql "$l") \\gset r_"     # warm-up
            echo "COMMIT;"
        done
        for ((k = 1; k <= LIKE_REPS; k++)); do
            for l in "${LIKE_LABELS[@]}"; do
                v="${l%%_*}"
                echo "BEGIN;"
                scope_sql "$v"
                cat <<SQL
SELECT extract(epoch FROM clock_timestamp()) AS t0 \\gset
$(like_sql "$l") \\gset r_
SELECT (extract(epoch FROM clock_timestamp()) - :t0) * 1000 AS ms \\gset
COMMIT;
INSERT INTO bench.like_run VALUES ($tn, '$l', :ms, :r_n);
SQL
            done
        done
    done
} >"$WORK/like.sql"
say "LIKE under row level security"
psql_app -At -f "$WORK/like.sql" >"$WORK/like.out" 2>&1 &
wait $! || { tail -n 20 "$WORK/like.out" >&2; die "the LIKE session failed"; }
declare -A LIKE_PLAN
while IFS='|' read -r key node; do
    LIKE_PLAN[$key]="$node"
done < <(awk '
    $1 == "PLAN" { if (key != "") print key "|" nodes; key = $2 " " $3; nodes = ""; next }
    key != "" && / Scan / && !/DbcoreClientScope/ {
        s = $0; sub(/^[ ->]*/, "", s); sub(/  \(.*/, "", s)
        nodes = (nodes == "" ? s : nodes " ← " s)
    }
    END { if (key != "") print key "|" nodes }' "$WORK/like.out")
bad="$(psql_app -At -c "
    SELECT tenant || ': ' || string_agg(DISTINCT label || '=' || n, ', ')
      FROM bench.like_run GROUP BY tenant HAVING count(DISTINCT n) > 1")"
[[ -z "$bad" ]] || die "LIKE variants returned different counts: $bad"

# --------------------------------------------------------------------------
# Summary, computed by the server.
# --------------------------------------------------------------------------
# Scans: mode|query|scan|variant|median|min|max
declare -A SMED SLO SHI
while IFS='|' read -r m q s v med lo hi; do
    k="$m $q $s $v"
    SMED[$k]=$med SLO[$k]=$lo SHI[$k]=$hi
done < <(psql_app -At -F '|' -c "
    SELECT mode, query, scan, variant,
           round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2),
           round(min(ms)::numeric, 2), round(max(ms)::numeric, 2)
      FROM bench.scan_run GROUP BY 1, 2, 3, 4")
# Scans: per-round ratios (the three variants ran back to back), medians,
# of wall time (w) and of CPU time (c, empty without /proc/self/schedstat).
declare -A SRAT
while IFS='|' read -r m q sc pair med; do
    SRAT[$m $q $sc $pair]=$med
done < <(psql_app -At -F '|' -c "
    WITH r AS (
        SELECT p.mode, p.query, p.scan, p.round,
               d.ms / p.ms AS dpw, s.ms / p.ms AS spw, d.ms / s.ms AS dsw,
               d.cpu_ms / p.cpu_ms AS dpc, s.cpu_ms / p.cpu_ms AS spc, d.cpu_ms / s.cpu_ms AS dsc
          FROM bench.scan_run p
          JOIN bench.scan_run s USING (mode, query, scan, round)
          JOIN bench.scan_run d USING (mode, query, scan, round)
         WHERE p.variant = 'plain' AND s.variant = 'setting' AND d.variant = 'dbcore'
    )
    SELECT mode, query, scan, x.pair,
           round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x.v)::numeric, 3)
      FROM r CROSS JOIN LATERAL (VALUES ('dpw', r.dpw), ('spw', r.spw), ('dsw', r.dsw),
                                        ('dpc', r.dpc), ('spc', r.spc), ('dsc', r.dsc)) AS x(pair, v)
     GROUP BY 1, 2, 3, 4")
# pgbench, per workload and variant: TPS and CPU/txn medians (min-max).
declare -A TMED TLO THI CMED CLO CHI
while IFS='|' read -r w v med lo hi cmed clo chi; do
    TMED[$w $v]=$med TLO[$w $v]=$lo THI[$w $v]=$hi CMED[$w $v]=$cmed CLO[$w $v]=$clo CHI[$w $v]=$chi
done < <(psql_app -At -F '|' -c "
    SELECT workload, variant,
           round(percentile_cont(0.5) WITHIN GROUP (ORDER BY tps)::numeric, 0),
           round(min(tps)::numeric, 0), round(max(tps)::numeric, 0),
           round(percentile_cont(0.5) WITHIN GROUP (ORDER BY cpu_us)::numeric, 1),
           round(min(cpu_us)::numeric, 1), round(max(cpu_us)::numeric, 1)
      FROM bench.tps_run GROUP BY 1, 2")
# ... and dbcore's ratios, round by round (the three variants of a round ran
# back to back), as throughput ratios: TPS(dbcore) / TPS(other) and
# CPU(other) / CPU(dbcore).  Each: median|min|max.
declare -A RAT
while IFS='|' read -r w measure other med lo hi; do
    RAT[$w $measure $other]="$med|$lo|$hi"
done < <(psql_app -At -F '|' -c "
    WITH r AS (
        SELECT o.workload, o.variant AS other,
               d.tps / o.tps AS tps, o.cpu_us / d.cpu_us AS cpu
          FROM bench.tps_run d
          JOIN bench.tps_run o ON o.workload = d.workload AND o.round = d.round
         WHERE d.variant = 'dbcore' AND o.variant <> 'dbcore'
    )
    SELECT workload, m.measure, other,
           round(percentile_cont(0.5) WITHIN GROUP (ORDER BY m.x)::numeric, 3),
           round(min(m.x)::numeric, 3), round(max(m.x)::numeric, 3)
      FROM r CROSS JOIN LATERAL (VALUES ('tps', r.tps), ('cpu', r.cpu)) AS m(measure, x)
     GROUP BY 1, 2, 3")
# LIKE: tenant|label|median|n
declare -A LMED
while IFS='|' read -r tn l med; do
    LMED[$tn $l]=$med
done < <(psql_app -At -F '|' -c "
    SELECT tenant, label, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2)
      FROM bench.like_run GROUP BY 1, 2")

verdict_of() { [[ $1 == 1 ]] && echo "**met**" || echo "**not met**"; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
spread() { printf '%s (%s–%s)' "$1" "$2" "$3"; }

# shellcheck disable=SC2016  # the backquotes are Markdown
scan_label() {
    case "$1" in
        total) echo 'total: `count(*), sum(amount)`' ;;
        by_status) echo 'per status: `... GROUP BY status`' ;;
    esac
}
scan_kind() {
    case "$1" in
        seq) echo "sequential (forced)" ;;
        bitmap) echo "bitmap (forced)" ;;
        auto) echo "planner's choice" ;;
    esac
}
mode_label() { [[ $1 == force_custom_plan ]] && echo custom || echo generic; }

# Verdicts on CPU time when it was measured (it moves much less with the
# machine's other load than wall time), else on wall time; both are shown.
judge=c judge_words="CPU time"
[[ -n "${SRAT[${MODES[0]} ${QUERIES[0]} ${SCANS[0]} dpc]}" ]] || judge=w judge_words="wall time"
declare -A SCAN_OK=([c forced]=1 [c auto]=1 [w forced]=1 [w auto]=1) WORST
scan_table="| Query (large tenant) | Scan | Plans | Plain \`WHERE client_id = \$1\`, ms | \`current_setting\` policy, ms | dbcore, ms | dbcore ÷ plain, wall | dbcore ÷ plain, CPU | setting ÷ plain, CPU | dbcore ÷ setting, CPU | ≤ ${TARGET_SCAN}× plain ($judge_words) |
|---|---|---|---:|---:|---:|---:|---:|---:|---:|:---:|"
for m in "${MODES[@]}"; do
    for q in "${QUERIES[@]}"; do
        for s in "${SCANS[@]}"; do
            kp="$m $q $s plain" ks="$m $q $s setting" kd="$m $q $s dbcore"
            class=forced
            [[ $s == auto ]] && class=auto
            for x in w c; do
                rr="${SRAT[$m $q $s dp$x]}"
                [[ -n "$rr" ]] || continue
                le "$rr" "$TARGET_SCAN" || SCAN_OK[$x $class]=0
                { [[ -z "${WORST[$x $class]:-}" ]] || ge "$rr" "${WORST[$x $class]}"; } && WORST[$x $class]="$rr"
            done
            if le "${SRAT[$m $q $s dp$judge]}" "$TARGET_SCAN"; then mark="yes"; else mark="**no**"; fi
            plans="plain: ${PLAN[$kp]:-?}; setting: ${PLAN[$ks]:-?}; dbcore: ${PLAN[$kd]:-?}"
            if [[ $s != auto ]]; then
                plans="${PLAN[$kp]:-?}"
                [[ "${PLAN[$ks]}" == "${PLAN[$kp]}" && "${PLAN[$kd]}" == "${PLAN[$kp]}" ]] ||
                    plans="plain: ${PLAN[$kp]:-?}; setting: ${PLAN[$ks]:-?}; dbcore: ${PLAN[$kd]:-?}"
            fi
            cells=""
            for pair in dpw dpc spc dsc; do
                cells+=" ${SRAT[$m $q $s $pair]:-n/a}$([[ -n "${SRAT[$m $q $s $pair]}" ]] && echo ×) |"
            done
            scan_table+="
| $(scan_label "$q") | $(scan_kind "$s"), $(mode_label "$m") plans | $plans | $(spread "${SMED[$kp]}" "${SLO[$kp]}" "${SHI[$kp]}") | $(spread "${SMED[$ks]}" "${SLO[$ks]}" "${SHI[$ks]}") | $(spread "${SMED[$kd]}" "${SLO[$kd]}" "${SHI[$kd]}") |$cells $mark |"
        done
    done
done
scan_verdict() {   # scan_verdict w|c
    echo "forced plans $(verdict_of "${SCAN_OK[$1 forced]}") (worst ${WORST[$1 forced]:-n/a}×), planner's choice $(verdict_of "${SCAN_OK[$1 auto]}") (worst ${WORST[$1 auto]:-n/a}×)"
}

# mark RATIO LO HI TARGET: does a throughput ratio meet its target?  "no,
# within noise" when the rounds themselves straddle the target.
mark() {
    if ge "$1" "$4"; then
        echo yes
    elif ge "$3" "$4"; then
        echo "no (rounds straddle it)"
    else
        echo "**no**"
    fi
}
ratio_cell() {   # ratio_cell "med|lo|hi"
    local med lo hi
    IFS='|' read -r med lo hi <<<"$1"
    printf '%s× (%s–%s)' "$med" "$lo" "$hi"
}
declare -A TPS_OK=([tps]=1 [cpu]=1) SET_OK=([tps]=1 [cpu]=1)
pgb_table() {   # pgb_table tps|cpu
    local measure="$1" w v cells rp rs med lo hi m1 m2
    if [[ $measure == tps ]]; then
        echo "| Workload | Plain \`WHERE client_id = \$1\`, TPS | \`current_setting\` policy, TPS | dbcore, TPS | dbcore ÷ plain | dbcore ÷ setting | ≥ ${TARGET_TPS}× plain | ≥ setting |"
    else
        echo "| Workload | Plain, µs CPU/txn | \`current_setting\` policy, µs CPU/txn | dbcore, µs CPU/txn | Throughput-equivalent dbcore ÷ plain | dbcore ÷ setting | ≥ ${TARGET_TPS}× plain | ≥ setting |"
    fi
    echo "|---|---:|---:|---:|---:|---:|:---:|:---:|"
    for w in "${WORKLOADS[@]}"; do
        cells=""
        for v in "${VARIANTS[@]}"; do
            if [[ $measure == tps ]]; then
                cells+=" $(spread "${TMED[$w $v]}" "${TLO[$w $v]}" "${THI[$w $v]}") |"
            else
                cells+=" $(spread "${CMED[$w $v]}" "${CLO[$w $v]}" "${CHI[$w $v]}") |"
            fi
        done
        rp="${RAT[$w $measure plain]}" rs="${RAT[$w $measure setting]}"
        IFS='|' read -r med lo hi <<<"$rp"
        m1="$(mark "$med" "$lo" "$hi" "$TARGET_TPS")"
        [[ $m1 == yes ]] || TPS_OK[$measure]=0
        IFS='|' read -r med lo hi <<<"$rs"
        m2="$(mark "$med" "$lo" "$hi" 1)"
        [[ $m2 == yes ]] || SET_OK[$measure]=0
        echo "| $w |$cells $(ratio_cell "$rp") | $(ratio_cell "$rs") | $m1 | $m2 |"
    done
}
# (redirected, not $(...): the verdicts are set in this shell)
pgb_table tps >"$WORK/tps_table.md"
pgb_table cpu >"$WORK/cpu_table.md"
tps_table="$(cat "$WORK/tps_table.md")"
cpu_table="$(cat "$WORK/cpu_table.md")"

small_rows="$(psql_app -At -c "SELECT count(*) FROM bench.t_plain WHERE client_id = md5('tenant-1')::uuid")"
like_table="| Table, predicate | Large tenant: plan | ms | Small tenant: plan | ms |
|---|---|---:|---|---:|"
for l in "${LIKE_LABELS[@]}"; do
    like_table+="
| $(like_label "$l") | ${LIKE_PLAN[0 $l]:-?} | ${LMED[0 $l]} | ${LIKE_PLAN[1 $l]:-?} | ${LMED[1 $l]} |"
done

# --------------------------------------------------------------------------
# 4. (--callgrind) Instructions per transaction
#
# The cluster is restarted under valgrind --tool=callgrind, which follows
# the postmaster's forks: every backend writes its own profile when it
# exits.  Each workload and variant runs twice over one connection
# (pgbench -c 1, a fixed random seed), CG_SHORT and CG_LONG transactions,
# each time right after a VACUUM of its table; the difference of the two
# backends' instruction counts divided by the difference of the
# transactions is the cost of one transaction, with the backend's start-up
# and exit cancelled out.  Deterministic (up to the random tenants and the
# state of the pages), whatever else the machine does; instructions are not
# time, but the closest thing to it that does not move with other load.
# --------------------------------------------------------------------------
CG_SHORT=200 CG_LONG=1200
declare -A IR
if [[ $callgrind == 1 ]]; then
    say "callgrind: instructions per transaction (${#WORKLOADS[@]} workloads x ${#VARIANTS[@]} variants)"
    CG_DIR="$DBCORE_CLUSTER_BASE/callgrind"
    cluster_callgrind_start "$CG_DIR"
    PM_PID="$(head -n 1 "$DBCORE_CLUSTER_DATA/postmaster.pid")"

    # Under valgrind, /proc/PID/cmdline shows valgrind's command line, not
    # PostgreSQL's process title, so pm_settle cannot tell backends from
    # background processes.  Instead: the postmaster's children once they
    # have been the same for 3 s are the background processes; a run is over
    # when only they are left (a backend writes its profile before it exits).
    cg_children() { ps -o pid= --ppid "$PM_PID" | tr -d ' ' | sort; }
    cg_base="" stable=0
    for ((i = 0; i < 200; i++)); do
        now="$(cg_children)"
        if [[ "$now" == "$cg_base" ]]; then
            stable=$((stable + 1))
            ((stable >= 6)) && break
        else
            cg_base="$now" stable=0
        fi
        sleep 0.5
    done
    cg_settle() {
        local i
        for ((i = 0; i < 1200; i++)); do
            [[ "$(cg_children)" == "$cg_base" ]] && return 0
            sleep 0.1
        done
        die "backends did not exit under callgrind"
    }
    cg_backend_ir() {   # cg_backend_ir WORKLOAD VARIANT N: the instructions of the run's backend
        local f n best=0
        psql_run -c "VACUUM bench.t_$2"
        cg_settle
        rm -f "$CG_DIR"/cg.*
        PGOPTIONS="-c plan_cache_mode=force_generic_plan" \
            "$PGBENCH" -n -M prepared -c 1 -j 1 -t "$3" --random-seed=1 \
            -U bench_app -D rows="$ROWS" -f "$BENCH_DIR/$1-$2.pgbench" \
            postgres >"$WORK/cg-pgbench.out" 2>&1 ||
            { tail -n 20 "$WORK/cg-pgbench.out" >&2; die "pgbench $1-$2 failed under callgrind"; }
        cg_settle
        # pgbench opens a second, short connection; the run's is the largest.
        for f in "$CG_DIR"/cg.*; do
            [[ -f "$f" ]] || continue
            n="$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$f" | head -n 1)"
            [[ -n "$n" ]] && ((n > best)) && best=$n
        done
        ((best > 0)) || die "no callgrind profile for $1-$2"
        echo "$best"
    }
    for w in "${WORKLOADS[@]}"; do
        for v in "${VARIANTS[@]}"; do
            a="$(cg_backend_ir "$w" "$v" "$CG_SHORT")"
            b="$(cg_backend_ir "$w" "$v" "$CG_LONG")"
            if ! [[ "$a" =~ ^[0-9]+$ && "$b" =~ ^[0-9]+$ ]] || ((b <= a)); then
                die "callgrind measurement of $w-$v failed"
            fi
            IR[$w $v]=$(((b - a) / (CG_LONG - CG_SHORT)))
            printf '   %-7s %-8s %8s instructions/txn\n' "$w" "$v" "${IR[$w $v]}"
        done
    done
    # Back to a normal cluster, for cluster_stop.
    _dbcore_as_pg "$(pg_bin pg_ctl)" -D "$DBCORE_CLUSTER_DATA" -m fast -w -t 300 stop >/dev/null || true
    rm -rf "${CG_DIR:?}"
fi

ir_section=""
if [[ $callgrind == 1 ]]; then
    IR_OK=1 IR_SET_OK=1
    ir_table="| Workload | Plain, instructions/txn | \`current_setting\` policy | dbcore | Throughput-equivalent dbcore ÷ plain | dbcore ÷ setting | ≥ ${TARGET_TPS}× plain | ≥ setting |
|---|---:|---:|---:|---:|---:|:---:|:---:|"
    for w in "${WORKLOADS[@]}"; do
        rp="$(awk -v a="${IR[$w plain]}" -v b="${IR[$w dbcore]}" 'BEGIN { printf "%.3f", a / b }')"
        rs="$(awk -v a="${IR[$w setting]}" -v b="${IR[$w dbcore]}" 'BEGIN { printf "%.3f", a / b }')"
        if ge "$rp" "$TARGET_TPS"; then m1=yes; else m1="**no**"; IR_OK=0; fi
        if ge "$rs" 1; then m2=yes; else m2="**no**"; IR_SET_OK=0; fi
        ir_table+="
| $w | ${IR[$w plain]} | ${IR[$w setting]} | ${IR[$w dbcore]} | ${rp}× | ${rs}× | $m1 | $m2 |"
    done
    ir_section="#### pgbench workloads: instructions per transaction (callgrind)

$ir_table

One backend (\`pgbench -c 1\`, the same scripts and random seed), instructions of $((CG_LONG - CG_SHORT)) transactions (the difference of a $CG_LONG- and a $CG_SHORT-transaction run, start-up cancelled out), inverted so that above 1 means dbcore does better. Targets by instruction count: ≥ ${TARGET_TPS}× plain $(verdict_of $IR_OK); ≥ setting $(verdict_of $IR_SET_OK). Instructions are not time (cache misses, system calls and the socket round trips weigh differently), but they do not move with the machine's other load.

"
fi

cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)"
elapsed=$((SECONDS - started))
report="$(cat <<EOF
### Tenant scoping: dbcore against a hand-written \`WHERE client_id = \$1\` and a \`current_setting()\` policy

Three copies of the same $ROWS rows (20 tenants, interleaved on every page; the large tenant holds $large_rows rows, a small one $small_rows), index on \`(client_id, id)\`: **plain** (no row level security; queries say \`WHERE client_id = \$1\`), **setting** (RLS forced, policy \`client_id = current_setting('app.client_id')::uuid\`), **dbcore** (\`dbcore.enable_tenant_scoping()\`: RLS forced, policies \`client_id = (SELECT dbcore.current_client_id())\`, C row guard). Everything runs as an ordinary role that owns the tables.

#### Per-tenant scans of the large tenant (median ms of $ROUNDS rounds, min–max)

$scan_table

The ms columns are wall time. Ratios: medians of per-round ratios (the three variants of a round run back to back), of wall time and of the backend's CPU time (\`/proc/self/schedstat\`), which moves much less with the machine's other load.

Target: dbcore's time ≤ ${TARGET_SCAN}× plain's — by CPU time: $([[ $judge == c ]] && scan_verdict c || echo "not measured (no /proc/self/schedstat)"); by wall time: $(scan_verdict w).

#### pgbench: throughput (median TPS of $PGB_ROUNDS rounds of ${PGB_TIME} s, min–max)

$tps_table

#### pgbench: server CPU time per transaction (median of the same runs, min–max)

$cpu_table

Ratios are medians of per-round ratios (the three variants of a round run back to back), min–max over the rounds; CPU ratios are inverted (other's CPU ÷ dbcore's) so that, like TPS ratios, above 1 means dbcore does better. Targets: dbcore's throughput ≥ ${TARGET_TPS}× plain's — by TPS: $(verdict_of "${TPS_OK[tps]}"), by CPU time: $(verdict_of "${TPS_OK[cpu]}"); never below the setting policy's — by TPS: $(verdict_of "${SET_OK[tps]}"), by CPU time: $(verdict_of "${SET_OK[cpu]}"). On a CPU-bound server throughput is inversely proportional to CPU time per transaction; but on a machine shared with other work both move with the other load (for transactions this small, CPU time per transaction nearly as much as TPS): compare rounds, and see \`--callgrind\` for counts that do not move.

${ir_section}#### LIKE under row level security (median ms of $LIKE_REPS runs)

$like_table

\`LIKE\` (\`textlike\`) is not \`LEAKPROOF\`, so under any row level security policy it runs only after the policy and cannot be an index condition: the index on \`ref\` is lost and every row of the tenant is read. \`^@\` (\`starts_with\`) and \`>=\`/\`<\` on text are \`LEAKPROOF\` and keep the index (here a \`COLLATE "C"\` column; with another collation, a \`text_pattern_ops\` index and \`~>=~\`/\`~<~\`).

#### How this was measured

- Scans: \`PREPARE\`d statements, \`plan_cache_mode\` pinned per row of the table (\`force_custom_plan\`: the plain variant's tenant is a constant; \`force_generic_plan\`: a parameter), forced plans via \`enable_*\` settings, \`max_parallel_workers_per_gather = 0\` (no parallel query), everything in shared_buffers; server-side time from \`clock_timestamp()\` around \`EXECUTE\`; the scope (\`set_config('app.client_id', ...)\` / \`dbcore.set_client()\`) is set in the same transaction before the timed statement. Every variant's result (count and sum) is checked against the baseline's.
- The planner's-choice rows: dbcore's policy compares with an init-plan (\`(SELECT dbcore.current_client_id())\`), whose value the planner does not know, so it estimates 1/20 of the rows per tenant; the \`current_setting()\` policy and a constant \`client_id = '...'\` let it see the large tenant's real share. Plain with generic plans is in dbcore's position.
- pgbench: \`-M prepared -c $CLIENTS -j $JOBS\`, \`plan_cache_mode = force_generic_plan\`, a fresh set of connections per run, a random tenant per transaction; every transaction is \`BEGIN\`, one scope statement (\`set_config('app.client_id', ..., true)\` / \`dbcore.set_client(...)\`; plain: the same client id computation, no scope), the statement, \`END\` (bench/tenant/*.pgbench); each statement must return exactly one row (\`\\gset\`). Lookup: one row by id within the tenant; update: \`SET amount = amount + 1\` by id (HOT, fillfactor $FILLFACTOR); insert: one row, each variant as its users write it (plain names the client id; setting: the column's \`DEFAULT current_setting('app.client_id')::uuid\`; dbcore: the row guard stamps it). Server CPU time: the run's backends' user + system time (the postmaster's \`cutime + cstime\` in \`/proc\`, read before and after, when the backends have exited), divided by the transactions.
- Variants run in rotating order from round to round; dbcore preloaded (\`shared_preload_libraries\`), autovacuum and JIT off.

PostgreSQL $pg_version, ${cpu:-unknown CPU}, $(nproc) cores; $(date -u '+%Y-%m-%d'); \`$command\` took ${elapsed}s.
EOF
)"

echo
printf '%s\n' "$report"
echo

if [[ -n "$RESULTS_FILE" ]]; then
    mkdir -p "$(dirname "$RESULTS_FILE")"
    printf '%s\n' "$report" >"$RESULTS_FILE"
    ok "written to $RESULTS_FILE"
elif [[ $quick == 1 ]]; then
    say "quick run: report not written (set RESULTS_FILE=... to keep it)"
else
    say "report not written (RESULTS_FILE is empty)"
fi
