#!/usr/bin/env bash
# tools/test.sh: run every dbcore test, on every PostgreSQL server dbcore
# supports, each against a throwaway cluster.
#
#   bash tools/test.sh [--server 15|18|citus|all] [--no-deps] [--keep]
#
# Servers: 15 is Debian's PostgreSQL 15 (installed with apt-get); 18 is
# PostgreSQL 18.6 built with assertions from ../shared/vendor by
# tools/build-server.sh, once per machine (a rerun finds the cached build);
# citus is that build plus Citus 14.0.1, where test/citus/run.sh runs on a
# cluster of its own (a coordinator and two workers, then three).
# By default every server is tested; --server picks one.  With PG_CONFIG
# set in the environment (a server of your own) and no --server, only that
# server is tested, and nothing is built.
#
# For each server but citus it builds and installs the extension, starts a
# private cluster and runs, in order:
#   regress     make installcheck, pg_regress part   (sql/, expected/)
#   isolation   make installcheck, isolation part    (test/isolation/)
#   pgtap       pg_prove test/pgtap/*.sql            (database dbcore_tap, with
#               pgtap created; each file creates dbcore itself, so that the
#               library is loaded in its session as in a fresh install)
#   upgrade     test/upgrade/run.sh
#   shell       every test/shell/*.sh (a test whose header says
#               "# test.sh: servers 15" runs on those servers only, and one
#               that says "# test.sh: once" on the first server only)
# A failing stage doesn't stop the later ones.  It prints one
# "server N: N passed, N failed" line per server; the last line printed is
# "N passed, N failed" for all of them, counting individual tests; the exit
# status is non-zero when anything failed.  Every cluster is always stopped,
# Ctrl-C included, unless --keep asks to leave the last one running for a
# look after a normal exit.
set -euo pipefail

# shellcheck source=tools/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DBCORE_ROOT"

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit "${1:-0}"
}

with_deps=1
server_arg=''
while [[ $# -gt 0 ]]; do
    case "$1" in
        --no-deps) with_deps=0 ;;
        --keep) DBCORE_KEEP_CLUSTER=1 ;;
        --server) [[ $# -ge 2 ]] || usage 2 >&2; server_arg="$2"; shift ;;
        --server=*) server_arg="${1#--server=}" ;;
        -h|--help) usage 0 ;;
        *) echo "unknown option: $1" >&2; usage 2 >&2 ;;
    esac
    shift
done
if [[ -n "$server_arg" ]]; then
    case "$server_arg" in
        15|18|citus) SERVERS=("$server_arg") ;;
        all) SERVERS=(15 18 citus) ;;
        *) echo "unknown server: $server_arg (15, 18, citus or all)" >&2; usage 2 >&2 ;;
    esac
elif [[ -n "${PG_CONFIG:-}" ]]; then
    SERVERS=(own)
    OWN_PG_CONFIG="$PG_CONFIG"
else
    SERVERS=(15 18 citus)
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/dbcore-testlogs.XXXXXX")"
# shellcheck disable=SC2317  # called from the exit trap
_remove_work() { rm -rf "${WORK:?}"; }
DBCORE_EXIT_HOOKS+=(_remove_work)
cluster_trap


# select_server LABEL: point PG_CONFIG (and the cached bindir) at a server,
# building PostgreSQL 18 first if needed.
select_server() {
    case "$1" in
        15) PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config ;;
        18) PG_CONFIG="$(bash "$DBCORE_ROOT/tools/build-server.sh" pg18 | tail -n 1)/bin/pg_config" ;;
        citus) PG_CONFIG="$(bash "$DBCORE_ROOT/tools/build-server.sh" citus | tail -n 1)/bin/pg_config" ;;
        own) PG_CONFIG="$OWN_PG_CONFIG" ;;
    esac
    export PG_CONFIG
    unset _DBCORE_PG_BINDIR
    [[ -x "$PG_CONFIG" ]] || { echo "pg_config not found: $PG_CONFIG" >&2; return 1; }
    PSQL="$(pg_bin psql)"
    SERVER_VERSION="$("$PG_CONFIG" --version)"
}

# ---------------------------------------------------------------------------
# Book-keeping: one row per stage.
# ---------------------------------------------------------------------------
S_NAME=() S_RESULT=() S_PASS=() S_FAIL=()
S_SERVER=()
CURRENT_SERVER=-
record() {   # record NAME RESULT PASSED FAILED
    S_SERVER+=("$CURRENT_SERVER")
    S_NAME+=("$1") S_RESULT+=("$2") S_PASS+=("$3") S_FAIL+=("$4")
    case "$2" in
        ok) if [[ "$3" == - ]]; then ok "$1"; else ok "$1: $3 passed"; fi ;;
        skipped) say "$1: skipped" ;;
        *) printf '%sFAIL%s %s: %s failed, %s passed\n' "$_DBCORE_R" "$_DBCORE_0" "$1" "$4" "$3" ;;
    esac
}

banner() {
    printf '\n%s======== %s ========%s\n' "$_DBCORE_B" "$*" "$_DBCORE_0"
}

# run_logged LOG CMD...: run CMD showing its output, also saving it in LOG.
# Returns CMD's status.  pg_regress's command tags (CREATE DATABASE, SET ...)
# are left out of what is shown.
run_logged() {
    local log="$1" rc
    shift
    set +e
    "$@" 2>&1 </dev/null | tee "$log" |
        grep --line-buffered -vxE '(ALTER|CREATE|DROP) DATABASE|SET|echo "\+\+\+ .*'
    rc=${PIPESTATUS[0]}
    set -e
    return "$rc"
}

# Value of a Makefile variable (after PGXS is included).
make_var() {
    make -s --no-print-directory -f Makefile -f - PG_CONFIG="$PG_CONFIG" "print-$1" 2>/dev/null <<'EOF' || echo '?'
print-%:
	@echo '$($*)'
EOF
}

# pg_regress / pg_isolation_regress summaries -> "passed failed" or "".
parse_pg_regress() {
    awk '
        /All [0-9]+ tests passed/        { for (i = 1; i <= NF; i++) if ($i == "All") { p += $(i+1) } ; seen = 1; next }
        /[0-9]+ of [0-9]+ tests failed/  { for (i = 1; i <= NF; i++) if ($i == "of") { f += $(i-1); p += $(i+1) - $(i-1) } ; seen = 1; next }
        /[0-9]+ of [0-9]+ tests passed/  { for (i = 1; i <= NF; i++) if ($i == "of") { p += $(i-1) } ; seen = 1; next }
        END { if (seen) print p + 0, f + 0 }' "$1"
}

show_file() {   # show_file FILE [MAXLINES]
    local file="$1" max="${2:-400}" n
    [[ -s "$file" ]] || return 0
    n=$(wc -l <"$file")
    printf '%s---- %s ----%s\n' "$_DBCORE_B" "$file" "$_DBCORE_0"
    head -n "$max" "$file"
    [[ $n -le $max ]] || echo "... ($((n - max)) more lines in $file)"
    echo "----"
}

# ---------------------------------------------------------------------------
# Stages
# ---------------------------------------------------------------------------

stage_make_check() {   # stage_make_check NAME VAR-TO-KEEP VAR-TO-BLANK DIFFS
    local name="$1" keep="$2" blank="$3" diffs="$4" log="$WORK/$1.log" rc=0 counts p f
    banner "$name"
    if [[ -z "$(make_var "$keep")" ]]; then
        record "$name" skipped - -
        return 0
    fi
    rm -f "$diffs"
    run_logged "$log" make --no-print-directory installcheck PG_CONFIG="$PG_CONFIG" "$blank=" || rc=$?
    counts="$(parse_pg_regress "$log")"
    if [[ -z "$counts" ]]; then
        counts=$([[ $rc -eq 0 ]] && echo "1 0" || echo "0 1")
    fi
    read -r p f <<<"$counts"
    if [[ $rc -ne 0 && $f -eq 0 ]]; then f=1; fi
    if [[ $f -gt 0 ]]; then
        show_file "$diffs"
        record "$name" FAILED "$p" "$f"
    else
        record "$name" ok "$p" 0
    fi
}

stage_pgtap() {
    local log="$WORK/pgtap.log" rc=0 counts files=() p f
    banner pgtap
    shopt -s nullglob
    files=(test/pgtap/*.sql)
    shopt -u nullglob
    if [[ ${#files[@]} -eq 0 ]]; then
        record pgtap skipped - -
        return 0
    fi
    if ! command -v pg_prove >/dev/null 2>&1; then
        echo "pg_prove not found (package libtap-parser-sourcehandler-pgtap-perl)"
        record pgtap FAILED 0 1
        return 0
    fi
    if ! PGOPTIONS="-c client_min_messages=warning" "$PSQL" -X -q -v ON_ERROR_STOP=1 -d postgres \
            -c 'DROP DATABASE IF EXISTS dbcore_tap' -c 'CREATE DATABASE dbcore_tap' ||
       ! "$PSQL" -X -q -v ON_ERROR_STOP=1 -d dbcore_tap -c 'CREATE EXTENSION pgtap'; then
        record pgtap FAILED 0 1
        return 0
    fi
    run_logged "$log" pg_prove --psql-bin "$PSQL" -d dbcore_tap --failures --comments "${files[@]}" || rc=$?
    counts="$(dbcore_parse_pg_prove "$log")"
    [[ -n "$counts" ]] || counts="0 1"
    read -r p f <<<"$counts"
    if [[ $rc -ne 0 && $f -eq 0 ]]; then f=1; fi
    "$PSQL" -X -q -d postgres -c 'DROP DATABASE IF EXISTS dbcore_tap' || true
    if [[ $f -gt 0 ]]; then record pgtap FAILED "$p" "$f"; else record pgtap ok "$p" 0; fi
}

# stage_script NAME SCRIPT: a script that ends with "N passed, N failed".
stage_script() {
    local name="$1" script="$2" log="$WORK/$1.log" rc=0 line p f
    banner "$name"
    if [[ ! -f "$script" ]]; then
        record "$name" skipped - -
        return 0
    fi
    run_logged "$log" bash "$script" || rc=$?
    line="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)"
    if [[ -n "$line" ]]; then
        read -r p _ f _ <<<"${line//,/}"
    else
        p=0 f=1
    fi
    if [[ $rc -ne 0 && $f -eq 0 ]]; then f=1; fi
    if [[ $f -gt 0 ]]; then record "$name" FAILED "$p" "$f"; else record "$name" ok "$p" 0; fi
}

# shell_test_runs_here FILE: does the test's "# test.sh:" header let it run
# on the current server?
shell_test_runs_here() {
    local rule
    rule="$(sed -n 's/^# test\.sh: *//p' "$1" | head -n 1)"
    case "$rule" in
        '') return 0 ;;
        once) [[ "$FIRST_SERVER" == 1 ]] ;;
        servers\ *) [[ " ${rule#servers } " == *" $CURRENT_SERVER "* ]] ;;
        *) return 0 ;;
    esac
}

stage_shell() {
    local files=() t p=0 f=0 rc
    banner shell
    shopt -s nullglob
    files=(test/shell/*.sh)
    shopt -u nullglob
    if [[ ${#files[@]} -eq 0 ]]; then
        record shell skipped - -
        return 0
    fi
    for t in "${files[@]}"; do
        if ! shell_test_runs_here "$t"; then
            say "$t: not on server $CURRENT_SERVER"
            continue
        fi
        say "$t"
        rc=0
        (cd "$DBCORE_ROOT" && bash "$t") </dev/null || rc=$?
        if [[ $rc -eq 0 ]]; then
            ok "$t"
            p=$((p + 1))
        else
            printf '%sFAIL%s %s (exit %s)\n' "$_DBCORE_R" "$_DBCORE_0" "$t" "$rc"
            f=$((f + 1))
        fi
    done
    if [[ $f -gt 0 ]]; then record shell FAILED "$p" "$f"; else record shell ok "$p" 0; fi
}

# The table of stages; sets total_p and total_f.
summary_table() {
    local i srv p f
    total_p=0 total_f=0
    banner summary
    printf '%-7s %-12s %-8s %7s %7s\n' server stage result passed failed
    for i in "${!S_NAME[@]}"; do
        printf '%-7s %-12s %-8s %7s %7s\n' "${S_SERVER[$i]}" "${S_NAME[$i]}" "${S_RESULT[$i]}" "${S_PASS[$i]}" "${S_FAIL[$i]}"
        [[ "${S_PASS[$i]}" == - ]] || total_p=$((total_p + S_PASS[i]))
        [[ "${S_FAIL[$i]}" == - ]] || total_f=$((total_f + S_FAIL[i]))
    done
    echo
    for srv in $(printf '%s\n' "${S_SERVER[@]}" | awk '!seen[$0]++'); do
        [[ "$srv" != - ]] || continue
        p=0 f=0
        for i in "${!S_NAME[@]}"; do
            [[ "${S_SERVER[$i]}" == "$srv" ]] || continue
            [[ "${S_PASS[$i]}" == - ]] || p=$((p + S_PASS[i]))
            [[ "${S_FAIL[$i]}" == - ]] || f=$((f + S_FAIL[i]))
        done
        echo "server $srv: $p passed, $f failed"
    done
}

# If the script dies early (cluster won't start, Ctrl-C ...) still end with
# the summary, counting the abort as one failure.
summary_done=0
# shellcheck disable=SC2317  # called from the exit trap
_summary_on_abort() {
    [[ $summary_done -eq 0 ]] || return 0
    record aborted FAILED 0 1
    summary_table
    echo
    echo "$total_p passed, $total_f failed"
}
DBCORE_EXIT_HOOKS+=(_summary_on_abort)

# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

ready=1
if [[ $with_deps -eq 1 ]]; then
    banner deps
    if ! (dbcore_install_deps); then
        record deps FAILED 0 1
        ready=0
    fi
fi

FIRST_SERVER=1
for server in "${SERVERS[@]}"; do
    [[ $ready -eq 1 ]] || break
    CURRENT_SERVER="$server"
    banner "server $server"
    if ! select_server "$server"; then
        record server FAILED 0 1
        FIRST_SERVER=0
        continue
    fi
    say "$SERVER_VERSION ($PG_CONFIG)"

    banner "build ($server)"
    if ! (dbcore_build_install); then
        record build FAILED 0 1
        FIRST_SERVER=0
        continue
    fi
    record build ok - -

    if [[ "$server" == citus ]]; then
        # (its own cluster: test/citus/run.sh)
        stage_script citus test/citus/run.sh
        FIRST_SERVER=0
        continue
    fi

    banner "cluster ($server)"
    # cluster_start exports into this shell, so it can't run in a subshell;
    # its failures exit the script (the summary then counts the abort).
    cluster_start "test$server"

    stage_make_check regress REGRESS ISOLATION regression.diffs
    stage_make_check isolation ISOLATION REGRESS output_iso/regression.diffs
    stage_pgtap
    stage_script upgrade test/upgrade/run.sh
    stage_shell

    # The last server's cluster stays with --keep; the others are stopped.
    if [[ "$server" != "${SERVERS[-1]}" || "$DBCORE_KEEP_CLUSTER" != 1 ]]; then
        cluster_stop
    fi
    FIRST_SERVER=0
done

# ---------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------

summary_table

if [[ "$DBCORE_KEEP_CLUSTER" == 1 && -n "${DBCORE_CLUSTER_BASE:-}" ]]; then
    echo
    say "cluster kept running (--keep):"
    echo "    psql -h $PGHOST -p $PGPORT -U postgres postgres"
    echo "    server log: $DBCORE_CLUSTER_LOG"
    echo "    stop it:    bash tools/lib.sh stop $DBCORE_CLUSTER_BASE"
fi

echo
echo "$total_p passed, $total_f failed"
summary_done=1
exit $((total_f > 0 ? 1 : 0))
