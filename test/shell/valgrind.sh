#!/usr/bin/env bash
# Shell test: memory safety.  Runs tools/valgrind.sh (the regression tests and
# the isolation specs with the server under valgrind memcheck, its own
# cluster) against the installed dbcore, and first checks that its log
# scanner can fail: on synthetic logs, an error with a frame in dbcore.so must
# fail the scan and be printed, a PostgreSQL-only error must only be counted,
# and a dbcore frame in the "alloc'd at" stack of a core error must not be
# blamed on dbcore.
#
# Budget: about 110 s on an idle 2-core machine (seven regression tests 72 s,
# four isolation specs 30 s, all under valgrind), up to 4 minutes when other
# test runs share the machine; hard limit 900 s (a run that shared 2 cores with
# other test runs took over 420 s).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/dbcore-valgrind-test.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
started=$SECONDS
failed=0 passed=0
pass() { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "not ok - $*"; }

so="$("${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}" --pkglibdir)/dbcore.so"

# ---- the scanner, on synthetic logs
frames_core='==101==    at 0x4C2F: memcpy (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==101==    by 0x40AB: heap_form_tuple (in /usr/lib/postgresql/15/bin/postgres)
==101==    by 0x40CD: PostgresMain (in /usr/lib/postgresql/15/bin/postgres)'
mkdir "$tmp/dbcore" "$tmp/core"
cat >"$tmp/dbcore/vg.101.log" <<EOF
==101== Memcheck, a memory error detector
==101== VGERROR-BEGIN
==101== Invalid read of size 8
$frames_core
==101==    by 0xA113: dbcore_fake_function (in $so)
==101==    by 0x40EF: main (in /usr/lib/postgresql/15/bin/postgres)
==101==  Address 0x5 is not stack'd, malloc'd or (recently) free'd
==101== 
==101== VGERROR-END
{
   <insert_a_suppression_name_here>
   Memcheck:Addr8
   fun:memcpy
}
==101== ERROR SUMMARY: 1 errors from 1 contexts (suppressed: 0 from 0)
EOF
sed "s/==101==/==102==/; /dbcore_fake_function/d" "$tmp/dbcore/vg.101.log" >"$tmp/core/vg.102.log"
# A core error whose block was malloc'd under a dbcore frame: not dbcore's.
cat >"$tmp/core/vg.103.log" <<EOF
==103== VGERROR-BEGIN
==103== Conditional jump or move depends on uninitialised value(s)
==103==    at 0x40AB: heap_fill_tuple (in /usr/lib/postgresql/15/bin/postgres)
==103==    by 0x40CD: PostgresMain (in /usr/lib/postgresql/15/bin/postgres)
==103==  Uninitialised value was created by a heap allocation
==103==    at 0x4841: malloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==103==    by 0x5000: AllocSetAlloc (in /usr/lib/postgresql/15/bin/postgres)
==103==    by 0xA113: dbcore_fake_function (in $so)
==103== 
==103== VGERROR-END
==103== ERROR SUMMARY: 1 errors from 1 contexts (suppressed: 0 from 0)
EOF

rc=0
bash "$root/tools/valgrind.sh" --scan "$tmp/dbcore" >"$tmp/scan1.out" 2>&1 || rc=$?
if [[ $rc -eq 1 ]] && grep -q '^valgrind: 1 processes traced, 1 errors in dbcore, 0 other errors' "$tmp/scan1.out" &&
   grep -q 'dbcore_fake_function' "$tmp/scan1.out"; then
    pass "scanner: an error with a dbcore.so frame fails the run and is printed"
else
    fail "scanner: dbcore error not caught (exit $rc)"; sed 's/^/#   /' "$tmp/scan1.out"
fi
rc=0
bash "$root/tools/valgrind.sh" --scan "$tmp/core" >"$tmp/scan2.out" 2>&1 || rc=$?
if [[ $rc -eq 0 ]] && grep -q '^valgrind: 2 processes traced, 0 errors in dbcore, 2 other errors' "$tmp/scan2.out"; then
    pass "scanner: PostgreSQL-only errors are counted, not failed (alloc stacks are not blamed)"
else
    fail "scanner: core errors misjudged (exit $rc)"; sed 's/^/#   /' "$tmp/scan2.out"
fi
mkdir "$tmp/empty"
rc=0
bash "$root/tools/valgrind.sh" --scan "$tmp/empty" >"$tmp/scan3.out" 2>&1 || rc=$?
if [[ $rc -ne 0 ]]; then pass "scanner: no valgrind log at all fails"
else fail "scanner: an empty log directory passed"; fi

# ---- the real run
unset DBCORE_CLUSTER_NAME DBCORE_CLUSTER_BASE DBCORE_CLUSTER_DATA DBCORE_CLUSTER_LOG \
      PGHOST PGPORT PGDATABASE
rc=0
NO_COLOR=1 timeout -k 30 900 bash "$root/tools/valgrind.sh" --no-build >"$tmp/run.out" 2>&1 || rc=$?
figure="$(grep -E '^(FAILED: )?valgrind: [0-9]+ processes traced' "$tmp/run.out" | tail -n 1 || true)"
if [[ $rc -eq 0 ]]; then
    pass "tools/valgrind.sh passed"
else
    fail "tools/valgrind.sh exited $rc"
    sed 's/^/#   /' "$tmp/run.out" | tail -n 150
fi
if grep -q 'regress: All [0-9]* tests passed' "$tmp/run.out" &&
   grep -q 'isolation: All [0-9]* tests passed' "$tmp/run.out"; then
    pass "the regression tests and isolation specs pass under valgrind"
else
    fail "regression tests under valgrind"
fi
procs="$(sed -n 's/.*valgrind: \([0-9]*\) processes traced.*/\1/p' <<<"$figure")"
if [[ "${procs:-0}" -ge 10 ]]; then
    pass "valgrind traced $procs server processes (postmaster, auxiliaries, backends, workers)"
else
    fail "valgrind traced ${procs:-no} processes: the server did not run under valgrind"
fi
if [[ "$figure" == *" 0 errors in dbcore,"* ]]; then
    pass "no memory error in dbcore"
else
    fail "memory errors in dbcore (reports above)"
fi

echo "${figure:-valgrind: no figure}"
echo "memory safety: $passed passed, $failed failed; $((SECONDS - started)) s"
[[ $failed -eq 0 ]]
