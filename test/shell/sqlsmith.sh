#!/usr/bin/env bash
# Shell test: sqlsmith (Debian package), a random query generator that knows
# nothing of dbcore, against a database that uses every dbcore feature
# (test/fuzz/sqlsmith_schema.sql: updated_at triggers with every option,
# tenant-scoped tables with uuid, bigint, integer and text client columns,
# one partitioned on two levels, a security_invoker view, ledger rows from
# apply_migration, begin/finish_migration and revert_migration, data).
#
# Two runs: as a superuser, then as an ordinary role with an application's
# privileges.  The ordinary role runs without a client scope: sqlsmith can
# only send queries, and dbcore refuses a scope from the connection's
# startup options or a role default by design, so its queries on scoped
# tables exercise the no-scope errors of the policies and guards.
#
# Pass rule (test/fuzz/sqlsmith_report.py): no crash (no lost connection,
# no crash line in the server log, same postmaster PID); no SQLSTATE of
# class XX from a query that ran dbcore code; no malformed message from
# one.  PostgreSQL's own XX errors in queries that ran no dbcore code are
# listed, not failed.  Errors by SQLSTATE are printed for each run.
#
# Environment: SQLSMITH_SEED (default 42, fixed for repeatability; the
# second run uses seed + 1), SQLSMITH_QUERIES (default 2000 as superuser,
# half that as the ordinary role), SQLSMITH_SECONDS (default 45, the time
# cap of both runs together, split 60/40).  Uses the cluster of
# tools/test.sh; run on its own, it starts a throwaway cluster.
# Budget: SQLSMITH_SECONDS + about 10 s.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
seed="${SQLSMITH_SEED:-42}"
queries="${SQLSMITH_QUERIES:-2000}"
seconds="${SQLSMITH_SECONDS:-45}"
for v in "$seed" "$queries" "$seconds"; do
    [[ "$v" =~ ^[0-9]+$ ]] || { echo "not ok - SQLSMITH_SEED, SQLSMITH_QUERIES and SQLSMITH_SECONDS must be whole numbers"; exit 1; }
done

if ! command -v sqlsmith >/dev/null 2>&1; then
    echo "not ok - sqlsmith is not installed (Debian package sqlsmith; tools/lib.sh installs it)"
    exit 1
fi

own_cluster=0
if [[ -z "${PGHOST:-}" || -z "${PGPORT:-}" || -z "${DBCORE_CLUSTER_LOG:-}" || ! -r "${DBCORE_CLUSTER_LOG:-/nonexistent}" ]]; then
    own_cluster=1
    unset DBCORE_CLUSTER_NAME DBCORE_CLUSTER_BASE DBCORE_CLUSTER_DATA DBCORE_CLUSTER_LOG \
          PGHOST PGPORT PGDATABASE
    # shellcheck source=/dev/null
    source "$root/tools/lib.sh"
    cluster_trap
    cluster_start sqlsmith >/dev/null
fi
export PGUSER="${PGUSER:-postgres}"

psql_bin="$(command -v psql)"
tag="$$_$RANDOM"
db="dbcore_smith_$tag"
logdb="dbcore_smithlog_$tag"
app="dbcore_smith_app_$tag"
work="$(mktemp -d "${TMPDIR:-/tmp}/dbcore-sqlsmith.XXXXXX")"
smith_pids=()

psql_admin() { "$psql_bin" -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }

# shellcheck disable=SC2317  # called from the exit trap
cleanup() {
    local rc=$? pid
    set +e
    for pid in "${smith_pids[@]}"; do
        kill "$pid" 2>/dev/null
    done
    psql_admin -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" \
               -c "DROP DATABASE IF EXISTS \"$logdb\" WITH (FORCE)" \
               -c "DROP ROLE IF EXISTS \"$app\"" >/dev/null 2>&1
    rm -rf "$work"
    [[ $own_cluster -eq 0 ]] || cluster_stop >/dev/null 2>&1
    exit "$rc"
}
# (with our own cluster, cluster_trap's INT/TERM handlers exit through this)
trap cleanup EXIT

failed=0
ok()     { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; failed=1; }

postmaster_pid() {
    if [[ -n "${DBCORE_CLUSTER_DATA:-}" && -r "$DBCORE_CLUSTER_DATA/postmaster.pid" ]]; then
        head -n 1 "$DBCORE_CLUSTER_DATA/postmaster.pid"
    else
        echo "-"
    fi
}
start_time() { "$psql_bin" -X -At -d postgres -c "SELECT pg_postmaster_start_time()"; }
pid_before="$(postmaster_pid)"
start_before="$(start_time)"
log="${DBCORE_CLUSTER_LOG:-}"
log_offset=0
if [[ -n "$log" && -r "$log" ]]; then
    log_offset=$(stat -c %s "$log")
fi

# The target database, the log database (its tables are what sqlsmith's
# --log-to writes: instance, error, stat) and the ordinary role.
psql_admin -c "CREATE ROLE \"$app\" LOGIN" -c "CREATE DATABASE \"$db\"" -c "CREATE DATABASE \"$logdb\"" >/dev/null
psql_admin -c "ALTER DATABASE \"$db\" SET log_min_messages = 'fatal'" \
           -c "ALTER DATABASE \"$db\" SET log_min_error_statement = 'panic'" >/dev/null
if ! "$psql_bin" -X -q -d "$db" -v app="$app" -f "$root/test/fuzz/sqlsmith_schema.sql" >"$work/schema.log" 2>&1; then
    not_ok "could not create the database that uses every dbcore feature"
    sed 's/^/#   /' "$work/schema.log" | tail -n 20
    exit 1
fi
"$psql_bin" -X -q -v ON_ERROR_STOP=1 -d "$logdb" >/dev/null <<'EOF'
CREATE TABLE instance (id bigserial PRIMARY KEY, rev text, target text, hostname text,
                       version text, seed text, t timestamptz DEFAULT now());
CREATE TABLE error (id bigint, msg text, query text, sqlstate text, t timestamptz DEFAULT clock_timestamp());
CREATE TABLE stat (id bigint, generated numeric, level numeric, nodes numeric, updated timestamptz,
                   retries numeric, impedance text);
EOF
ok "database with every dbcore feature created ($(
    "$psql_bin" -X -At -d "$db" -c "SELECT count(*) FROM dbcore.tenant_tables") scoped tables, $(
    "$psql_bin" -X -At -d "$db" -c "SELECT count(*) FROM dbcore.migration_log") ledger events)"

conn() { echo "host=$PGHOST port=$PGPORT dbname=$1 user=$2"; }

# run_smith LABEL USER SEED MAX SECONDS: one sqlsmith run; sets ran_LABEL.
run_smith() {
    local label="$1" user="$2" s="$3" max="$4" secs="$5" rc=0 n pid
    timeout --kill-after=5 "$secs" sqlsmith --target="$(conn "$db" "$user")" \
        --log-to="$(conn "$logdb" "$PGUSER")" --seed="$s" --max-queries="$max" \
        --exclude-catalog --verbose >"$work/$label.out" 2>"$work/$label.err" &
    pid=$!
    smith_pids+=("$pid")
    wait "$pid" || rc=$?
    smith_pids=()
    # One progress character per query run (. ok, e error, s syntax error,
    # t timeout, c connection lost, ...), 80 to a line of their own.
    n=$(grep -E '^[.A-Za-z]+$' "$work/$label.err" | tr -d '\n' | wc -c || true)
    printf -v "ran_$label" '%s' "$n"
    case $rc in
        0) ok "sqlsmith as $label: $n queries (seed $s, all $max run)" ;;
        124|137) ok "sqlsmith as $label: $n queries (seed $s, stopped at the ${secs} s cap)" ;;
        *) not_ok "sqlsmith as $label exited with status $rc after $n queries"
           tail -n 5 "$work/$label.err" | sed 's/^/#   /' ;;
    esac
}

echo "# sqlsmith: seed $seed, $queries queries, at most ${seconds} s; another seed: SQLSMITH_SEED=..."
run_smith superuser "$PGUSER" "$seed" "$queries" $(( seconds * 6 / 10 ))
run_smith ordinary "$app" $(( seed + 1 )) $(( queries / 2 )) $(( seconds * 4 / 10 ))

rc=0
python3 -B "$root/test/fuzz/sqlsmith_report.py" --psql "$psql_bin" \
    --target "$(conn "$db" "$PGUSER")" --log "$(conn "$logdb" "$PGUSER")" \
    --instance superuser=superuser --instance ordinary=rls \
    --queries "superuser=${ran_superuser:-0}" --queries "ordinary=${ran_ordinary:-0}" \
    --summary "$work/summary.json" || rc=$?
[[ $rc -eq 0 ]] || failed=1

pid_after="$(postmaster_pid)"
start_after="$(start_time 2>/dev/null || echo gone)"
if [[ "$pid_before" == "$pid_after" && "$start_before" == "$start_after" ]]; then
    ok "postmaster unchanged (PID $pid_after, started $start_after)"
else
    not_ok "postmaster changed: PID $pid_before -> $pid_after, start time $start_before -> $start_after"
fi

LOG_CRASH='terminated by signal|was terminated by exception|server process \(PID [0-9]+\) (was terminated|exited with exit code)|terminating any other active server processes|all server processes terminated|database system is in recovery mode|database system was interrupted|PANIC:|TRAP:'
if [[ -n "$log" && -r "$log" ]]; then
    if tail -c +"$((log_offset + 1))" "$log" | grep -E "$LOG_CRASH" >"$work/crash.log"; then
        not_ok "server log shows a crash:"
        head -n 20 "$work/crash.log" | sed 's/^/#   /'
    else
        ok "server log has no crash line"
    fi
else
    not_ok "server log not readable: cannot check it for crashes"
fi

if [[ -s "$work/summary.json" ]]; then
    python3 - "$work/summary.json" "$seed" <<'EOF'
import collections, json, sys
s = json.load(open(sys.argv[1]))
classes = collections.Counter()
for state, n in s["by_sqlstate"].items():
    classes[state[:2]] += n
print("sqlsmith: %d queries run, %d errors by SQLSTATE class: %s; %d crashes, %d dbcore internal errors, "
      "%d PostgreSQL internal errors listed (seed %s)" % (
          s["queries"], s["errors"], ", ".join("%s %d" % kv for kv in sorted(classes.items())) or "none",
          s["crashes"], s["internal"], s["core_xx"], sys.argv[2]))
EOF
else
    echo "sqlsmith: no figures (the report did not run)"
fi
exit "$failed"
