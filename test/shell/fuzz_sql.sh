#!/usr/bin/env bash
# Shell test: SQL-level fuzzing of dbcore (test/fuzz/fuzz_sql.py).
#
# Calls every function and trigger of schema dbcore (listed from pg_proc at
# run time) with NULLs, empty and 1 MB strings, odd identifiers, wrong types,
# dropped/renamed/retyped columns, as the wrong kind of trigger, in a seeded
# random order nested in savepoints, as a superuser, as the owner of a schema
# of scoped tables and as a plain role.  Passes when:
#   - the server never crashes or restarts: no session is lost, the server
#     log has no crash line (see LOG_CRASH below), the postmaster PID is the
#     same before and after;
#   - no error has an SQLSTATE of class XX (internal error);
#   - every error message passes the checks in check_message() of
#     test/fuzz/fuzz_sql.py (no empty message, no "cache lookup failed",
#     "unrecognized node type", "(null)", "<NULL>", SPI names, "unexpected";
#     and for dbcore's own messages: a specific SQLSTATE, lower-case start,
#     no trailing period, detail and hint as full sentences, no huge echo);
#   - every function of schema dbcore was called.
#
# Environment: FUZZ_SEED (default: 20261123; "random" for a new one, printed), FUZZ_SECONDS (default
# 45), FUZZ_STEPS (stop after that many steps instead: replays a run),
# FUZZ_VERBOSE=1 (per-function and per-SQLSTATE counts).
# Uses the cluster of tools/test.sh (PGHOST/PGPORT, server log in
# $DBCORE_CLUSTER_LOG); run on its own, it starts a throwaway cluster.
# Budget: FUZZ_SECONDS + about 10 s (setup, fixtures, teardown).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
seconds="${FUZZ_SECONDS:-45}"
# A fixed default keeps the suite repeatable; FUZZ_SEED=random explores.
seed="${FUZZ_SEED:-20261123}"
[[ "$seed" == random ]] && seed=$(( (RANDOM << 15 | RANDOM) % 1000000 ))
steps="${FUZZ_STEPS:-0}"
[[ "$seconds" =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "not ok - FUZZ_SECONDS must be a number"; exit 1; }
[[ "$seed" =~ ^[0-9]+$ ]] || { echo "not ok - FUZZ_SEED must be a number"; exit 1; }
[[ "$steps" =~ ^[0-9]+$ ]] || { echo "not ok - FUZZ_STEPS must be a number"; exit 1; }

own_cluster=0
if [[ -z "${PGHOST:-}" || -z "${PGPORT:-}" || -z "${DBCORE_CLUSTER_LOG:-}" || ! -r "${DBCORE_CLUSTER_LOG:-/nonexistent}" ]]; then
    own_cluster=1
    unset DBCORE_CLUSTER_NAME DBCORE_CLUSTER_BASE DBCORE_CLUSTER_DATA DBCORE_CLUSTER_LOG \
          PGHOST PGPORT PGDATABASE
    # shellcheck source=/dev/null
    source "$root/tools/lib.sh"
    cluster_trap
    cluster_start fuzzsql >/dev/null
fi
export PGUSER="${PGUSER:-postgres}"

psql_bin="$(command -v psql)"
tag="$$_$RANDOM"
db="dbcore_fuzz_$tag"
app="dbcore_fz_app_$tag"
plain="dbcore_fz_plain_$tag"
work="$(mktemp -d "${TMPDIR:-/tmp}/dbcore-fuzz.XXXXXX")"

psql_admin() { "$psql_bin" -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }

# shellcheck disable=SC2317  # called from the exit trap
cleanup() {
    local rc=$? gid
    set +e
    if "$psql_bin" -X -At -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'" 2>/dev/null | grep -q 1; then
        for gid in $("$psql_bin" -X -At -d postgres -c \
                "SELECT gid FROM pg_prepared_xacts WHERE database = '$db'" 2>/dev/null); do
            "$psql_bin" -X -q -d "$db" -c "ROLLBACK PREPARED '$gid'" >/dev/null 2>&1
        done
        psql_admin -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1
    fi
    psql_admin -c "DROP ROLE IF EXISTS \"$app\"" -c "DROP ROLE IF EXISTS \"$plain\"" >/dev/null 2>&1
    rm -rf "$work"
    [[ $own_cluster -eq 0 ]] || cluster_stop >/dev/null 2>&1
    exit "$rc"
}
# (with our own cluster, cluster_trap's INT/TERM handlers exit through this)
trap cleanup EXIT

failed=0
ok()     { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; failed=1; }

# The server's identity before the run: postmaster PID and start time.
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

psql_admin -c "CREATE ROLE \"$app\" LOGIN" -c "CREATE ROLE \"$plain\" LOGIN" \
           -c "CREATE DATABASE \"$db\"" >/dev/null
psql_admin -c "ALTER DATABASE \"$db\" SET statement_timeout = '3s'" \
           -c "ALTER DATABASE \"$db\" SET lock_timeout = '100ms'" \
           -c "ALTER DATABASE \"$db\" SET track_functions = 'all'" \
           -c "ALTER DATABASE \"$db\" SET log_min_messages = 'fatal'" \
           -c "ALTER DATABASE \"$db\" SET log_min_error_statement = 'panic'" >/dev/null

echo "# fuzz_sql: seed $seed, ${seconds} s$( [[ $steps -gt 0 ]] && echo ", $steps steps"); replay with FUZZ_SEED=$seed"
fuzz_args=(--db "$db" --superuser "$PGUSER" --app-role "$app" --plain-role "$plain"
           --seed "$seed" --seconds "$seconds" --steps "$steps" --psql "$psql_bin"
           --src-dir "$root/src" --summary "$work/summary.json")
[[ "${FUZZ_VERBOSE:-0}" == 1 ]] && fuzz_args+=(--verbose)
rc=0
timeout --kill-after=10 $(( ${seconds%.*} + 120 )) \
    python3 -B "$root/test/fuzz/fuzz_sql.py" "${fuzz_args[@]}" || rc=$?
case $rc in
    0) ok "fuzzer found no crash, internal error or bad message (seed $seed)" ;;
    1) not_ok "fuzzer found failures (seed $seed; see above)" ;;
    124|137) not_ok "fuzzer did not finish in time (seed $seed)" ;;
    *) not_ok "fuzzer could not run (exit $rc)" ;;
esac

# The server must still be the same one, never restarted or crash-restarted.
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
        ok "server log has no crash line ($(( $(stat -c %s "$log") - log_offset )) bytes written during the run)"
    fi
else
    not_ok "server log not readable: cannot check it for crashes"
fi

# The figure.
if [[ -s "$work/summary.json" ]]; then
    python3 - "$work/summary.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
classes = ", ".join("%s %d" % (c, n) for c, n in sorted(s["errors_by_class"].items()))
print("fuzz_sql: %d calls tried (%d statements, %d of %d functions), errors by SQLSTATE class: %s; "
      "%d crashes, %d internal errors, %d bad messages (seed %d)" % (
          s["calls"], s["statements"], s["functions_called"], s["functions"], classes or "none",
          s["crashes"], s["internal"], s["bad_messages"], s["seed"]))
EOF
else
    echo "fuzz_sql: no figures (the fuzzer did not finish)"
fi
exit "$failed"
