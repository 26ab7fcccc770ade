#!/usr/bin/env bash
# tools/test.sh: run every dbcore test against a throwaway PostgreSQL cluster.
#
#   bash tools/test.sh [--no-deps] [--keep]
#
# Installs missing packages, builds and installs the extension, starts a
# private cluster and runs, in order:
#   regress     make installcheck, pg_regress part   (sql/, expected/)
#   isolation   make installcheck, isolation part    (test/isolation/)
#   pgtap       pg_prove test/pgtap/*.sql            (database dbcore_tap, with
#               pgtap created; each file creates dbcore itself, so that the
#               library is loaded in its session as in a fresh install)
#   upgrade     test/upgrade/run.sh
#   shell       every test/shell/*.sh
# A failing stage doesn't stop the later ones.  The last line printed is
# "N passed, N failed", counting individual tests; the exit status is non-zero
# when anything failed.  The cluster is always stopped, Ctrl-C included,
# unless --keep asks to leave it running for a look after a normal exit.
set -euo pipefail

# shellcheck source=tools/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DBCORE_ROOT"

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit "${1:-0}"
}

with_deps=1
for arg in "$@"; do
    case "$arg" in
        --no-deps) with_deps=0 ;;
        --keep) DBCORE_KEEP_CLUSTER=1 ;;
        -h|--help) usage 0 ;;
        *) echo "unknown option: $arg" >&2; usage 2 >&2 ;;
    esac
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/dbcore-testlogs.XXXXXX")"
# shellcheck disable=SC2317  # called from the exit trap
_remove_work() { rm -rf "${WORK:?}"; }
DBCORE_EXIT_HOOKS+=(_remove_work)
cluster_trap

PG_CONFIG="$(dbcore_pg_config)"
export PG_CONFIG
PSQL="$(pg_bin psql)"

# ---------------------------------------------------------------------------
# Book-keeping: one row per stage.
# ---------------------------------------------------------------------------
S_NAME=() S_RESULT=() S_PASS=() S_FAIL=()
record() {   # record NAME RESULT PASSED FAILED
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

# pg_prove (TAP::Harness) summary -> "passed failed" or "".  Tests that were
# planned but never ran (the file died half-way) count as failed.
parse_pg_prove() {
    awk '
        /^Files=[0-9]+, Tests=[0-9]+/ { split($2, a, "="); sub(/,$/, "", a[2]); ran = a[2]; seen = 1 }
        /\(Wstat: [0-9]+.* Tests: [0-9]+ Failed: [0-9]+\)/ {
            match($0, /Failed: [0-9]+/); failed_run += substr($0, RSTART + 8, RLENGTH - 8) }
        /Failed [0-9]+\/[0-9]+ subtests/ {
            match($0, /Failed [0-9]+\//); failed_all += substr($0, RSTART + 7, RLENGTH - 8) }
        /^Result: FAIL/ { fail = 1 }
        END {
            if (!seen) exit
            p = ran - failed_run; if (p < 0) p = 0
            f = failed_all > failed_run ? failed_all : failed_run
            # A failing file without failed assertions (bad exit status, no
            # plan) still counts as one failure.
            if (fail && f == 0) f = 1
            print p + 0, f + 0
        }' "$1"
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
    counts="$(parse_pg_prove "$log")"
    [[ -n "$counts" ]] || counts="0 1"
    read -r p f <<<"$counts"
    if [[ $rc -ne 0 && $f -eq 0 ]]; then f=1; fi
    "$PSQL" -X -q -d postgres -c 'DROP DATABASE IF EXISTS dbcore_tap' || true
    if [[ $f -gt 0 ]]; then record pgtap FAILED "$p" "$f"; else record pgtap ok "$p" 0; fi
}

stage_upgrade() {
    local log="$WORK/upgrade.log" rc=0 line p f
    banner upgrade
    if [[ ! -f test/upgrade/run.sh ]]; then
        record upgrade skipped - -
        return 0
    fi
    run_logged "$log" bash test/upgrade/run.sh || rc=$?
    line="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)"
    if [[ -n "$line" ]]; then
        read -r p _ f _ <<<"${line//,/}"
    else
        p=0 f=1
    fi
    if [[ $rc -ne 0 && $f -eq 0 ]]; then f=1; fi
    if [[ $f -gt 0 ]]; then record upgrade FAILED "$p" "$f"; else record upgrade ok "$p" 0; fi
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
    local i
    total_p=0 total_f=0
    banner summary
    printf '%-12s %-8s %7s %7s\n' stage result passed failed
    for i in "${!S_NAME[@]}"; do
        printf '%-12s %-8s %7s %7s\n' "${S_NAME[$i]}" "${S_RESULT[$i]}" "${S_PASS[$i]}" "${S_FAIL[$i]}"
        [[ "${S_PASS[$i]}" == - ]] || total_p=$((total_p + S_PASS[i]))
        [[ "${S_FAIL[$i]}" == - ]] || total_f=$((total_f + S_FAIL[i]))
    done
}

# If the script dies early (cluster won't start, Ctrl-C ...) still end with
# the summary, counting the abort as one failure.
summary_done=0
# shellcheck disable=SC2317  # called from the exit trap
_summary_on_abort() {
    [[ $summary_done -eq 0 ]] || return 0
    S_NAME+=(aborted) S_RESULT+=(FAILED) S_PASS+=(0) S_FAIL+=(1)
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

if [[ $ready -eq 1 ]]; then
    banner build
    if (dbcore_build_install); then
        record build ok - -
    else
        record build FAILED 0 1
        ready=0
    fi
fi

if [[ $ready -eq 1 ]]; then
    banner cluster
    # cluster_start exports into this shell, so it can't run in a subshell;
    # its failures exit the script, so check what it needs first.
    cluster_start test
fi

if [[ $ready -eq 1 ]]; then
    stage_make_check regress REGRESS ISOLATION regression.diffs
    stage_make_check isolation ISOLATION REGRESS output_iso/regression.diffs
    stage_pgtap
    stage_upgrade
    stage_shell
fi

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
