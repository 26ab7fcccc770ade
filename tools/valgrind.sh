#!/usr/bin/env bash
# tools/valgrind.sh: run dbcore's regression tests with the server under
# valgrind memcheck; fail on any memory error in dbcore's code.
#
#   bash tools/valgrind.sh [--no-build] [--no-isolation] [--tests "T1 T2 ..."]
#                          [--preload] [--track-origins] [--show-other]
#                          [--keep-logs DIR]
#   bash tools/valgrind.sh --scan DIR     judge the vg.*.log files in DIR only
#
# What it does:
#   1. builds and installs dbcore (unless --no-build);
#   2. starts a throwaway cluster (tools/lib.sh) and restarts it with
#      `pg_ctl -p WRAPPER`, a small script that execs the real postgres under
#        valgrind --tool=memcheck --trace-children=yes --leak-check=no
#                 --read-var-info=no --num-callers=30 --fullpath-after=
#                 --suppressions=tools/valgrind.supp --gen-suppressions=all
#                 --error-markers=... --log-file=<cluster>/vg/vg.%p.log
#      so the postmaster and every process it forks (backends, parallel
#      workers, auxiliary processes) run under memcheck, one log per process;
#   3. runs the regression tests the way `make installcheck` does (pg_regress,
#      then pg_isolation_regress for the isolation specs) against it, with the
#      output in a temporary directory rather than in the source tree;
#   4. stops the server (so every process writes its summary) and scans the
#      logs.  An error whose stack has a frame in dbcore's code (a source file
#      of the installed dbcore.so, from its debug info, or "in .../dbcore.so")
#      is printed in full and fails the run; any other error is PostgreSQL's
#      own noise and only counted.  A failing regression test, a crashed
#      server process, or a run that traced nothing also fail the run.
#   The last line is the figure:
#      valgrind: N processes traced, 0 errors in dbcore, N other errors ...
#
# Options:
#   --no-build       test the dbcore that is installed (tools/test.sh built it)
#   --no-isolation   skip the isolation specs
#   --tests LIST     regression tests to run (default: the Makefile's REGRESS)
#   --preload        shared_preload_libraries = 'dbcore', as the production
#                    checklist recommends: _PG_init and the GUC hooks then run
#                    in the postmaster and every process inherits them.  The
#                    expected outputs assume no preloading (tenant_tokens
#                    checks what tenant_audit says without it), so test
#                    differences are shown but do not fail this mode; memory
#                    errors in dbcore still do
#   --track-origins  valgrind --track-origins=yes (slower; says where an
#                    uninitialised value came from)
#   --show-other     also print the other (core) errors, with the suppression
#                    valgrind proposes for each: for maintaining valgrind.supp
#   --keep-logs DIR  copy the valgrind logs, the server log and the test
#                    output to DIR
#   DBCORE_CLUSTER_CONF (environment): more postgresql.conf lines, after the
#                    settings below
#
# Limits of what memcheck sees here.  Debian's PostgreSQL is built without
# USE_VALGRIND, so its memory contexts do not tell valgrind about palloc'd
# chunks: memcheck only sees the malloc'd blocks that contexts carve chunks
# from.  A use after pfree(), or an overrun of a palloc'd chunk into the
# next chunk of the same block, is invisible; so is reading a recycled chunk
# (it holds the old, "defined" bytes).  What it does catch: uninitialised
# values in fresh blocks used in conditions or passed to system calls,
# accesses outside any malloc'd block (overruns past a block's end, wild
# pointers, freed blocks: a context reset or delete frees its blocks), bad
# frees, overlapping memcpy.  A PostgreSQL built with USE_VALGRIND (or
# dbcore built with AddressSanitizer) would see more.
#
# Why not --error-exitcode: a backend that exits with a code other than 0 or
# 1 makes the postmaster treat it as crashed and restart every backend, and a
# non-zero exit of an auxiliary process at shutdown is a crash too; one core
# false positive would then break the rest of the run.  The logs are the
# verdict instead.
#
# Settings: shared_buffers = 16MB and max_connections = 20 (smaller shared
# memory; measured, it makes no difference to the run time: 15-17 s for two
# tests with 16MB or 128MB, since untouched memory costs memcheck nothing),
# autovacuum = off (fewer processes, no unrelated work), jit = off (JIT code
# under valgrind is slow and noisy).  Parallel workers stay enabled: the
# tenant tests check that workers restore the scope, which is dbcore code.
# What costs is backend start-up (~1 s each under memcheck) and the tests.
#
# Run time, idle 2-core machine: 107 s for the whole suite (seven regression
# tests 72 s, tenant_scoping alone 32 s; four isolation specs 30 s), plus the
# build; 140-230 s while other test runs share the machine.
set -euo pipefail

# shellcheck source=tools/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DBCORE_ROOT"

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit "${1:-0}"
}

build=1 isolation=1 tests='' preload=0 track_origins=0 show_other=0 keep_logs='' scan_dir=''
while [[ $# -gt 0 ]]; do
    case "$1" in
        --no-build) build=0 ;;
        --no-isolation) isolation=0 ;;
        --tests) [[ $# -ge 2 ]] || usage 2 >&2; tests="$2"; shift ;;
        --tests=*) tests="${1#--tests=}" ;;
        --preload) preload=1 ;;
        --track-origins) track_origins=1 ;;
        --show-other) show_other=1 ;;
        --keep-logs) [[ $# -ge 2 ]] || usage 2 >&2; keep_logs="$2"; shift ;;
        --keep-logs=*) keep_logs="${1#--keep-logs=}" ;;
        --scan) [[ $# -ge 2 ]] || usage 2 >&2; scan_dir="$2"; shift ;;
        -h|--help) usage 0 ;;
        *) echo "unknown option: $1" >&2; usage 2 >&2 ;;
    esac
    shift
done

PG_CONFIG="$(dbcore_pg_config)"
export PG_CONFIG
SO="$("$PG_CONFIG" --pkglibdir)/dbcore.so"

# ---------------------------------------------------------------------------
# Which stack frames are dbcore's
# ---------------------------------------------------------------------------

# The directories of dbcore's source files, from the debug info of the
# installed dbcore.so (compilation directory + file name of each unit): with
# --fullpath-after= valgrind prints a frame of dbcore as
# "fn (/work/main/src/tenant.c:123)", and the header src/dbcore.h lives
# there too.  Without debug info valgrind prints "(in .../dbcore.so)".
dbcore_src_dirs() {
    [[ -f "$SO" ]] || return 0
    command -v readelf >/dev/null 2>&1 || { warn "readelf not found: only frames \"in dbcore.so\" are recognised"; return 0; }
    readelf --debug-dump=info "$SO" 2>/dev/null | awk '
        /DW_TAG_compile_unit/ { cu = 1; name = ""; dir = ""; next }
        /DW_TAG_/             { if (cu && name != "") emit(); cu = 0; next }
        cu && /DW_AT_name/     { name = $NF }
        cu && /DW_AT_comp_dir/ { dir = $NF }
        function emit(   p) {
            p = (name ~ /^\//) ? name : dir "/" name
            sub(/\/[^\/]*$/, "/", p)
            if (!(p in seen)) { seen[p] = 1; print p }
            name = ""
        }
        END { if (cu && name != "") emit() }'
}

# scan_logs DIR: print dbcore's errors (and, with --show-other, the others)
# and a figure line; return 1 when dbcore has errors or nothing was traced.
scan_logs() {
    local dir="$1" dirs
    shopt -s nullglob
    local logs=("$dir"/vg.*.log)
    shopt -u nullglob
    # The source directories now, when the server started (another `make
    # install` may have replaced dbcore.so since), and this tree's.
    dirs="$(dbcore_src_dirs | tr '\n' ' ') ${srcdirs:-} $DBCORE_ROOT/src/"
    awk -v srcdirs="$dirs" -v show_other="$show_other" -v nlogs="${#logs[@]}" '
        function is_dbcore_frame(line,   i) {
            if (line ~ /\(in [^)]*\/dbcore\.so\)/) return 1
            for (i = 1; i <= nd; i++)
                if (index(line, "(" d[i]) > 0) return 1
            return 0
        }
        # One report: the lines between the markers (prefix removed), then
        # the suppression valgrind proposes.  The verdict uses the primary
        # stack only (the frames right after the message): the "alloc'\''d at"
        # or "created by" stacks below it name whoever made a memory
        # context block, which says nothing about who misused the chunk.
        function flush_report() {
            if (nlines == 0) return
            if (dbcore) {
                ndb++
                printf "---- error in dbcore #%d (process %s, %s) ----\n", ndb, pid, file
                for (i = 1; i <= nlines; i++) print lines[i]
                print "----"
            } else {
                nother++
                kinds[kind]++
                if (show_other) {
                    printf "---- other error #%d (process %s, %s) ----\n", nother, pid, file
                    for (i = 1; i <= nlines; i++) print lines[i]
                    print supp
                    print "----"
                }
            }
            nlines = 0; supp = ""; pending = 0; insupp = 0
        }
        BEGIN { nd = split(srcdirs, d, " ") }
        FNR == 1 { flush_report(); file = FILENAME; sub(/.*\//, "", file) }
        {
            line = $0
            if (match(line, /^==[0-9]+== ?/)) {
                pfx = substr(line, 1, RLENGTH); body = substr(line, RLENGTH + 1)
                gsub(/[^0-9]/, "", pfx)
            } else { pfx = ""; body = line }
        }
        body == "VGERROR-BEGIN" { flush_report(); inerr = 1; nlines = 0; dbcore = 0; stack = 0; kind = ""; pid = pfx; next }
        body == "VGERROR-END"   { inerr = 0; pending = 1; next }
        inerr {
            nlines++; lines[nlines] = body
            if (kind == "") { kind = body; sub(/\(0x[0-9a-f]+, 0x[0-9a-f]+, [0-9]+\)/, "", kind); stack = 1; next }
            if (stack && body ~ /^   (at|by) 0x/) { if (is_dbcore_frame(body)) dbcore = 1; next }
            stack = 0
            next
        }
        # The suggested suppression follows the end marker, unprefixed.
        pending && pfx == "" && /^\{/ { insupp = 1; supp = $0; next }
        insupp { supp = supp "\n" $0; if (/^\}/) { insupp = 0; pending = 0; flush_report() } next }
        pending && pfx != "" { pending = 0; flush_report() }
        # A process killed by a signal it did not handle (valgrind says so
        # outside the error markers): a crash, counted as dbcore'\''s when its
        # stack has a frame in dbcore.
        body ~ /^Process terminating with default action of signal/ {
            crashes++; crash_pid = pfx; incrash = 1; crash_db = 0; crash_txt = body; next
        }
        incrash && body ~ /^   (at|by) 0x/ { crash_txt = crash_txt "\n" body; if (is_dbcore_frame(body)) crash_db = 1; next }
        incrash {
            incrash = 0
            if (crash_db) { ndb++; printf "---- crash in dbcore (process %s, %s) ----\n%s\n----\n", crash_pid, file, crash_txt }
            else printf "---- crash (process %s, %s) ----\n%s\n----\n", crash_pid, file, crash_txt
        }
        body ~ /^ERROR SUMMARY: [0-9]+ errors/ {
            split(body, w, /[ :()]+/)
            occurrences += w[3]; suppressed += w[9]
        }
        END {
            flush_report()
            if (nother > 0) {
                print "other errors by kind (PostgreSQL core, not failing the run):"
                for (k in kinds) printf "  %4d  %s\n", kinds[k], k
            }
            printf "valgrind: %d processes traced, %d errors in dbcore, %d other errors (%d occurrences in all; %d suppressed as known core noise; %d crashes)\n",
                nlogs, ndb, nother, occurrences, suppressed, crashes
            exit (ndb > 0 || nlogs == 0) ? 1 : 0
        }' ${logs[@]+"${logs[@]}"} /dev/null
}

if [[ -n "$scan_dir" ]]; then
    [[ -d "$scan_dir" ]] || die "--scan: $scan_dir is not a directory"
    scan_logs "$scan_dir"
    exit $?
fi

# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------

command -v valgrind >/dev/null 2>&1 || die "valgrind not found (apt-get install valgrind, or bash tools/test.sh installs it)"
[[ -f "$DBCORE_ROOT/tools/valgrind.supp" ]] || die "tools/valgrind.supp not found"

# Our own cluster, whatever the environment says (tools/test.sh exports its).
unset DBCORE_CLUSTER_NAME DBCORE_CLUSTER_BASE DBCORE_CLUSTER_DATA DBCORE_CLUSTER_LOG \
      PGHOST PGPORT PGDATABASE

started=$SECONDS
WORK="$(mktemp -d "${TMPDIR:-/tmp}/dbcore-valgrind-out.XXXXXX")"
# shellcheck disable=SC2317  # called from the exit trap
_vg_cleanup() {
    if [[ -n "$keep_logs" ]]; then
        mkdir -p "$keep_logs"
        if [[ -n "${DBCORE_CLUSTER_BASE:-}" && -d "$DBCORE_CLUSTER_BASE/vg" ]]; then
            cp -r "$DBCORE_CLUSTER_BASE/vg" "$keep_logs/" 2>/dev/null
            cp "$DBCORE_CLUSTER_LOG" "$keep_logs/" 2>/dev/null
        fi
        cp -r "$WORK"/. "$keep_logs/" 2>/dev/null
        say "logs kept in $keep_logs"
    fi
    rm -rf "${WORK:?}"
}
DBCORE_EXIT_HOOKS+=(_vg_cleanup)
cluster_trap

if [[ $build -eq 1 ]]; then
    dbcore_build_install
fi
[[ -f "$SO" ]] || die "$SO not found (make install, or drop --no-build)"

# The Makefile's test lists, as PGXS sees them.
make_var() {
    make -s --no-print-directory -f Makefile -f - PG_CONFIG="$PG_CONFIG" "print-$1" 2>/dev/null <<'EOF'
print-%:
	@echo '$($*)'
EOF
}
[[ -n "$tests" ]] || tests="$(make_var REGRESS)"
iso_tests=''
[[ $isolation -eq 0 ]] || iso_tests="$(make_var ISOLATION)"
[[ -n "$tests" || -n "$iso_tests" ]] || die "no tests to run"

srcdirs="$(dbcore_src_dirs | tr '\n' ' ')"
say "dbcore.so: $SO (source: ${srcdirs:-no debug info})"

DBCORE_CLUSTER_CONF="
shared_buffers = 16MB
max_connections = 20
autovacuum = off
jit = off
huge_pages = off
${DBCORE_CLUSTER_CONF:-}"
if [[ $preload -eq 1 ]]; then
    DBCORE_CLUSTER_CONF+=$'\n'"shared_preload_libraries = 'dbcore'"
fi
cluster_start valgrind

BINDIR="$(pg_bindir)"
VGDIR="$DBCORE_CLUSTER_BASE/vg"
WRAPPER="$DBCORE_CLUSTER_BASE/postgres-valgrind"
mkdir "$VGDIR"
cp "$DBCORE_ROOT/tools/valgrind.supp" "$DBCORE_CLUSTER_BASE/valgrind.supp"
extra=''
[[ $track_origins -eq 0 ]] || extra='--track-origins=yes'
cat >"$WRAPPER" <<EOF
#!/bin/sh
# Written by tools/valgrind.sh: pg_ctl -p runs this instead of postgres.
exec valgrind --tool=memcheck --trace-children=yes --leak-check=no \\
    --read-var-info=no --num-callers=30 --fullpath-after= $extra \\
    --suppressions='$DBCORE_CLUSTER_BASE/valgrind.supp' --gen-suppressions=all \\
    --error-markers=VGERROR-BEGIN,VGERROR-END \\
    --log-file='$VGDIR/vg.%p.log' \\
    '$BINDIR/postgres' "\$@"
EOF
chmod 755 "$WRAPPER"
[[ $EUID -ne 0 ]] || chown -R postgres: "$VGDIR" "$WRAPPER" "$DBCORE_CLUSTER_BASE/valgrind.supp"

say "restarting the server under valgrind"
_dbcore_as_pg "$BINDIR/pg_ctl" -D "$DBCORE_CLUSTER_DATA" -m fast -w -t 60 stop >/dev/null
if ! _dbcore_as_pg "$BINDIR/pg_ctl" -D "$DBCORE_CLUSTER_DATA" -l "$DBCORE_CLUSTER_LOG" \
        -p "$WRAPPER" -w -t 300 start >/dev/null; then
    tail -n 30 "$DBCORE_CLUSTER_LOG" >&2 || true
    die "the server did not start under valgrind"
fi
ok "server up under valgrind (PGHOST=$PGHOST PGPORT=$PGPORT), logs in $VGDIR"

# ---------------------------------------------------------------------------
# The tests, as `make installcheck` runs them (pgxs.mk), output kept out of
# the source tree: other runs of tools/test.sh may be using results/.
# ---------------------------------------------------------------------------

PGXSDIR="$(cd "$(dirname "$("$PG_CONFIG" --pgxs)")/../.." && pwd)"   # .../lib/pgxs
failed_suites=()
summary=()

run_suite() {   # run_suite NAME PROGRAM OUTDIR DB INPUTDIR TESTS...
    local name="$1" prog="$2" out="$3" db="$4" indir="$5" rc=0 line
    shift 5
    say "$name: $*"
    mkdir -p "$out"
    "$prog" --inputdir="$indir" --outputdir="$out" --bindir="$BINDIR" --dbname="$db" "$@" \
        >"$out/run.log" 2>&1 </dev/null || rc=$?
    grep -E '^(test |ok |not ok )' "$out/run.log" || true
    line="$(grep -E 'tests (passed|failed)' "$out/run.log" | tr -s ' ' | sed 's/^ //; s/^# //; s/ $//' | tail -n 1)"
    summary+=("$name: ${line:-no result}")
    if [[ $rc -ne 0 ]]; then
        if [[ $preload -eq 1 ]]; then
            echo "$name: differences under --preload (expected, not failing):"
        else
            failed_suites+=("$name")
            echo "$name failed (exit $rc):"
        fi
        grep -iE 'tests (passed|failed)|error|could not|fatal|terminat' "$out/run.log" | tail -n 15 || true
        if [[ -s "$out/regression.diffs" ]]; then
            head -n 200 "$out/regression.diffs"
        fi
    fi
}

# shellcheck disable=SC2086  # the test lists are words
if [[ -n "$tests" ]]; then
    run_suite regress "$PGXSDIR/src/test/regress/pg_regress" "$WORK/regress" \
        contrib_regression "$DBCORE_ROOT" $tests
fi
# shellcheck disable=SC2086
if [[ -n "$iso_tests" ]]; then
    run_suite isolation "$PGXSDIR/src/test/isolation/pg_isolation_regress" "$WORK/isolation" \
        isolation_regression "$DBCORE_ROOT/test/isolation" $iso_tests
fi

say "stopping the server (every process writes its valgrind summary)"
if ! _dbcore_as_pg "$BINDIR/pg_ctl" -D "$DBCORE_CLUSTER_DATA" -m fast -w -t 300 stop >/dev/null; then
    warn "fast shutdown failed; stopping immediately"
    _dbcore_as_pg "$BINDIR/pg_ctl" -D "$DBCORE_CLUSTER_DATA" -m immediate -w -t 60 stop >/dev/null || true
    failed_suites+=(shutdown)
fi

# A server process that crashed (the postmaster logs it even when valgrind
# does not see a signal, e.g. an abort() in PostgreSQL's own checks).
if grep -E 'terminated by (signal|exception)|exited with exit code ([2-9]|[1-9][0-9]+)' \
        "$DBCORE_CLUSTER_LOG" >"$WORK/crashes.txt" 2>/dev/null; then
    echo "server processes crashed:"
    cat "$WORK/crashes.txt"
    failed_suites+=(crash)
fi

# ---------------------------------------------------------------------------
# Verdict
# ---------------------------------------------------------------------------

scan_rc=0
scan_logs "$VGDIR" >"$WORK/scan.txt" || scan_rc=$?
sed '$d' "$WORK/scan.txt"
for line in "${summary[@]}"; do
    echo "  $line"
done
figure="$(tail -n 1 "$WORK/scan.txt")"
elapsed=$((SECONDS - started))

if [[ $scan_rc -ne 0 || ${#failed_suites[@]} -gt 0 ]]; then
    [[ ${#failed_suites[@]} -eq 0 ]] || echo "failed: ${failed_suites[*]}"
    echo "FAILED: $figure; ${elapsed}s"
    exit 1
fi
echo "$figure; ${elapsed}s"
