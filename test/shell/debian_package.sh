#!/usr/bin/env bash
# test.sh: servers 15
# test/shell/debian_package.sh: the Debian package builds, holds what it must,
# installs, and dbcore's suites pass against the INSTALLED package.
#
#  1. copies the working tree (tracked and untracked files, not ignored ones:
#     no .git, no build products; uncommitted work included) to a temp dir
#  2. dpkg-buildpackage -us -uc -tc there (source and binary package); the
#     tree must come out byte for byte as it went in
#  3. checks the .deb: name, version (dbcore.control's, via `make version`),
#     dependencies, and its files: dbcore.so, dbcore.control, every
#     sql/dbcore--*.sql install/upgrade script and nothing else in
#     extension/, dbcore-migrate; the source tarball has no build products
#  4. dpkg -i (as root, else through sudo; fails if neither can)
#  5. in its own throwaway cluster, from the unbuilt copy: `make installcheck`
#     (pg_regress and pg_isolation_regress only: installcheck has no build
#     prerequisite under PGXS, and the test checks that nothing was built),
#     the upgrade test (every installed upgrade script), and the
#     dbcore-migrate shell test with the package's dbcore-migrate; the
#     installed files must still be the package's afterwards (dpkg --verify)
#  6. dpkg -r: the files are gone; then the source install (`make install`
#     of the repository, staged beforehand into a scratch DESTDIR) is put
#     back so later tests still find dbcore.  On any failure the exit trap
#     runs dpkg -r and make install.
#
# The install replaces, for about ten seconds, the files `make install` put
# in the PostgreSQL directories (same paths: the package's build of the same
# source).  Between dpkg -r and the restore no dbcore is installed: the
# restore is a rename of files copied beside their targets beforehand, so
# the gap is milliseconds, but a backend of another test starting just then
# would fail to load dbcore.  Concurrent runs of this test are serialised
# with a lock file.  Budget: 3 minutes; it takes 10-40 s on this 2-core machine
# (build 5-20 s, suites ~6 s).  Bounded by timeouts on the build (600 s), the
# lock wait (300 s) and each suite (600/300/300 s).
# "[[ cond ]] && pass ... || fail ...": pass always returns 0.
# shellcheck disable=SC2015
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# Our own cluster: the runner's settings must not leak in.
unset DBCORE_CLUSTER_NAME DBCORE_CLUSTER_BASE DBCORE_CLUSTER_DATA DBCORE_CLUSTER_LOG \
      PGHOST PGPORT PGDATABASE
# shellcheck source=tools/lib.sh
source "$root/tools/lib.sh"

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "not ok - $*"; }
# fatal MSG [LOG]: a failure the rest can't run after; shows LOG's tail.
fatal() {
    fail "$1"
    if [[ -n "${2:-}" && -s "$2" ]]; then
        echo "# ---- last lines of $2"
        tail -n 40 "$2" | sed 's/^/#   /'
    fi
    echo "debian_package: $passed checks passed, $failed failed (stopped early)"
    exit 1
}

START=$SECONDS
PG_CONFIG="$(dbcore_pg_config)"
export PG_CONFIG
PKGLIBDIR="$("$PG_CONFIG" --pkglibdir)"
SHAREDIR="$("$PG_CONFIG" --sharedir)"
BINDIR="$("$PG_CONFIG" --bindir)"
PGMAJOR="$("$PG_CONFIG" --version | sed -n 's/^PostgreSQL \([0-9][0-9]*\).*/\1/p')"
PKG="postgresql-$PGMAJOR-dbcore"
ARCH="$(dpkg --print-architecture)"

# ---- prerequisites
for p in dpkg-buildpackage dh pg_buildext flock; do
    command -v "$p" >/dev/null 2>&1 || fatal "$p not found (packages dpkg-dev, debhelper, postgresql-server-dev-all, util-linux)"
done
if [[ $EUID -eq 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    fatal "installing a .deb needs root or password-less sudo: run as root, or configure sudo"
fi
root_do() { "${SUDO[@]}" "$@"; }

VERSION="$(make -s --no-print-directory -C "$root" version PG_CONFIG="$PG_CONFIG")"
[[ -n "$VERSION" ]] || fatal "make version printed nothing"
DEB_NAME="${PKG}_${VERSION}_${ARCH}.deb"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/dbcore-debbuild.XXXXXX")"
SRC="$WORK/dbcore-$VERSION"
installed_by_us=0 restored=0 staged=()
RESTORE_SUFFIX=.dbcore-restore

# On every exit: if the package is still installed by us, remove it and put
# the source install back; then remove the temp dir.  (cluster_trap stops
# the cluster after the hooks.)
# shellcheck disable=SC2317  # called from the exit trap
_debpkg_cleanup() {
    local t
    for t in "${staged[@]}"; do
        if [[ -e "$t$RESTORE_SUFFIX" ]]; then root_do rm -f "$t$RESTORE_SUFFIX"; fi
    done
    if [[ $installed_by_us -eq 1 && $restored -eq 0 ]]; then
        echo "# cleanup: removing $PKG and reinstalling dbcore from $root"
        root_do dpkg -r "$PKG" >/dev/null 2>&1 || echo "# cleanup: dpkg -r $PKG failed: remove it by hand" >&2
        root_do make -s -C "$root" install PG_CONFIG="$PG_CONFIG" >/dev/null 2>&1 ||
            echo "# cleanup: make install in $root failed: run it by hand" >&2
        root_do dpkg --triggers-only --pending >/dev/null 2>&1 || true
    fi
    rm -rf "${WORK:?}"
}
DBCORE_EXIT_HOOKS+=(_debpkg_cleanup)
cluster_trap

# ---- 1. copy the working tree
mkdir -p "$SRC"
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
    # Tracked files (minus any deleted in the working tree) and untracked
    # files that .gitignore doesn't exclude.
    (cd "$root" && git ls-files -z -co --exclude-standard |
        while IFS= read -r -d '' f; do if [[ -e "$f" || -L "$f" ]]; then printf '%s\0' "$f"; fi; done |
        tar --null -T - -cf -) | tar -x -C "$SRC"
else
    (cd "$root" && tar --exclude-vcs -cf - .) | tar -x -C "$SRC"
    make -s -C "$SRC" clean PG_CONFIG="$PG_CONFIG" >/dev/null 2>&1 || true
fi
manifest() { (cd "$SRC" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum); }
manifest >"$WORK/before.sha256"
nfiles=$(wc -l <"$WORK/before.sha256")
[[ -f "$SRC/debian/rules" ]] || fatal "no debian/rules in the copied tree"
pass "copied the working tree ($nfiles files, version $VERSION) to $SRC"

# ---- 2. build
t0=$SECONDS
if ! (cd "$SRC" && timeout 600 dpkg-buildpackage -us -uc -tc) >"$WORK/build.log" 2>&1 </dev/null; then
    fatal "dpkg-buildpackage -us -uc failed" "$WORK/build.log"
fi
build_secs=$((SECONDS - t0))
DEB="$WORK/$DEB_NAME"
[[ -f "$DEB" ]] || fatal "dpkg-buildpackage did not make ../$DEB_NAME (made: $(find "$WORK" -maxdepth 1 -name '*.deb' -printf '%f ')"
pass "dpkg-buildpackage -us -uc built $DEB_NAME in ${build_secs}s"
if grep -E '^(dpkg-[a-z]+|dh_[a-z_]+|pg_buildext): (warning|error)' "$WORK/build.log" >"$WORK/warnings"; then
    fail "the build printed warnings: $(head -n 3 "$WORK/warnings" | tr '\n' ' ')"
else
    pass "the build printed no dpkg/debhelper warnings"
fi

manifest >"$WORK/after.sha256"
if diff -u "$WORK/before.sha256" "$WORK/after.sha256" >"$WORK/tree.diff"; then
    pass "after the build (and debian/rules clean) the tree is byte for byte what was copied"
else
    fail "the build changed or left files in the tree:"
    grep -E '^[-+][0-9a-f]' "$WORK/tree.diff" | head -n 20 | sed 's/^/#   /'
fi

# ---- 3. the package
field() { dpkg-deb -f "$DEB" "$1"; }
[[ "$(field Package)" == "$PKG" ]] && pass "package name $PKG" || fail "package name is '$(field Package)', wanted $PKG"
[[ "$(field Version)" == "$VERSION" ]] && pass "package version $VERSION (dbcore.control's)" ||
    fail "package version is '$(field Version)', wanted $VERSION"
deps="$(field Depends)"
if grep -qE "(^|, )postgresql-$PGMAJOR( |,|$)" <<<"$deps" && grep -qE '(^|, )libpq5( |,|$)' <<<"$deps"; then
    pass "depends on postgresql-$PGMAJOR and libpq5 ($deps)"
else
    fail "Depends lacks postgresql-$PGMAJOR or libpq5: $deps"
fi

dpkg-deb -c "$DEB" | awk '{ print $6 }' | sed 's|^\./|/|' >"$WORK/contents"
want=("$PKGLIBDIR/dbcore.so" "$SHAREDIR/extension/dbcore.control" "$BINDIR/dbcore-migrate")
shopt -s nullglob
scripts=("$SRC"/sql/dbcore--*.sql)
shopt -u nullglob
[[ ${#scripts[@]} -gt 0 ]] || fail "no sql/dbcore--*.sql in the tree"
for f in "${scripts[@]}"; do
    want+=("$SHAREDIR/extension/$(basename "$f")")
done
nmissing=0
for f in "${want[@]}"; do
    grep -qxF -- "$f" "$WORK/contents" || { fail "the package lacks $f"; nmissing=$((nmissing + 1)); }
done
[[ $nmissing -gt 0 ]] || pass "the package has dbcore.so, dbcore.control, dbcore-migrate and all ${#scripts[@]} sql/dbcore--*.sql scripts"
extra="$(grep -E "^$SHAREDIR/extension/." "$WORK/contents" | grep -vxF -f <(printf '%s\n' "${want[@]}") || true)"
if [[ -z "$extra" ]]; then
    pass "nothing else in $SHAREDIR/extension (no regression inputs)"
else
    fail "unexpected files in $SHAREDIR/extension: $(tr '\n' ' ' <<<"$extra")"
fi
ctl_version="$(dpkg-deb --fsys-tarfile "$DEB" | tar -xOf - ".$SHAREDIR/extension/dbcore.control" |
    sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p")"
[[ "$ctl_version" == "$VERSION" ]] && pass "the packaged dbcore.control has default_version '$VERSION'" ||
    fail "the packaged dbcore.control has default_version '$ctl_version', wanted '$VERSION'"

srcpkg="$WORK/dbcore_$VERSION.tar.xz"
if [[ -f "$srcpkg" && -f "$WORK/dbcore_$VERSION.dsc" ]]; then
    junk="$(tar -tJf "$srcpkg" | grep -E '(^|/)\.git/|\.(o|so|bc)$|/results/|/regression\.(diffs|out)$|/src/bin/dbcore-migrate/dbcore-migrate$|/debian/(files|\.debhelper/|[^/]*\.substvars$|postgresql-[0-9]+-dbcore/)' || true)"
    if [[ -z "$junk" ]]; then
        pass "source package dbcore_$VERSION.dsc/.tar.xz, without build products or .git"
    else
        fail "the source tarball holds build products: $(head -n 5 <<<"$junk" | tr '\n' ' ')"
    fi
else
    fail "no source package dbcore_$VERSION.dsc and .tar.xz"
fi

# ---- 4. install
# One run at a time installs and removes the package.
exec 9>/tmp/dbcore-debian-package.lock
flock -w 300 9 || fatal "another debian_package.sh held the lock for 300 s"
# The source install to restore afterwards, staged now: `make install` of
# the repository into a scratch DESTDIR.
make -s -C "$root" install DESTDIR="$WORK/stage" PG_CONFIG="$PG_CONFIG" >"$WORK/stage.log" 2>&1 ||
    fatal "make install DESTDIR=... in $root failed (needed to restore the source install)" "$WORK/stage.log"
# Its files, dbcore.so first (the one a new backend needs first).
mapfile -t staged < <(cd "$WORK/stage" && find . -type f -printf '/%P\n' | LC_ALL=C sort |
                      awk '/\/dbcore\.so$/ { print; next } { rest[++n] = $0 } END { for (i = 1; i <= n; i++) print rest[i] }')
[[ ${#staged[@]} -gt 0 ]] || fatal "make install DESTDIR=$WORK/stage installed nothing"
if [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$PKG" 2>/dev/null || true)" == ii* ]]; then
    echo "# note: $PKG $(dpkg-query -W -f='${Version}' "$PKG") was already installed; it will be replaced and removed"
fi
installed_by_us=1
if ! root_do dpkg -i "$DEB" >"$WORK/install.log" 2>&1 </dev/null; then
    fatal "dpkg -i $DEB_NAME failed" "$WORK/install.log"
fi
[[ "$(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' "$PKG")" == "ii  $VERSION" ]] &&
    pass "dpkg -i installed $PKG $VERSION" ||
    fail "after dpkg -i: $(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' "$PKG")"
# Each file the suites use comes from the package (a file the package lacks
# would still be there from `make install`, and the suites would pass on it).
notours=()
for f in "${want[@]}"; do
    owner="$(dpkg-query -S "$f" 2>/dev/null | cut -d: -f1 || true)"
    [[ "$owner" == "$PKG" ]] || notours+=("$f (${owner:-no package})")
done
[[ ${#notours[@]} -eq 0 ]] && pass "all ${#want[@]} checked files now belong to $PKG" ||
    fail "files not from $PKG: ${notours[*]}"
if root_do dpkg --verify "$PKG" >"$WORK/verify.out" 2>&1 && [[ ! -s "$WORK/verify.out" ]]; then
    pass "dpkg --verify: the installed files are the package's"
else
    fail "dpkg --verify $PKG: $(head -n 3 "$WORK/verify.out" | tr '\n' ' ')"
fi

# ---- 5. the suites against the installed package
# (cluster_start exits with its own message if the cluster won't start.)
# 9>&-: the postmaster must not inherit (and hold) the lock.
cluster_start debpkg >"$WORK/cluster.log" 9>&-
PSQL="$BINDIR/psql"
q() { "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "${2:-postgres}" -c "$1"; }

got="$(q "CREATE DATABASE dbcore_debpkg" 2>&1 && q "CREATE EXTENSION dbcore" dbcore_debpkg 2>&1 &&
       q "SELECT extversion FROM pg_extension WHERE extname = 'dbcore'" dbcore_debpkg 2>&1 || true)"
[[ "$got" == "$VERSION" ]] && pass "CREATE EXTENSION dbcore from the package gives version $VERSION" ||
    fail "CREATE EXTENSION dbcore gave version '$got', wanted $VERSION"
# Every older version the package ships has an update path to the newest.
older="$(q "SELECT string_agg(version, ' ' ORDER BY version) FROM pg_available_extension_versions
            WHERE name = 'dbcore' AND version <> '$VERSION'")"
nopath="$(q "SELECT string_agg(source, ' ') FROM pg_extension_update_paths('dbcore')
             WHERE target = '$VERSION' AND source <> '$VERSION' AND path IS NULL")"
if [[ -z "$nopath" ]]; then
    pass "every packaged older version (${older:-none}) updates to $VERSION"
else
    fail "no update path to $VERSION from: $nopath"
fi
q "DROP DATABASE IF EXISTS dbcore_debpkg" >/dev/null || true

# pg_regress summary lines -> "passed failed".
regress_counts() {
    awk '/All [0-9]+ tests passed/ { for (i = 1; i <= NF; i++) if ($i == "All") p += $(i + 1) }
         /[0-9]+ of [0-9]+ tests failed/ { for (i = 1; i <= NF; i++) if ($i == "of") { f += $(i - 1); p += $(i + 1) - $(i - 1) } }
         END { print p + 0, f + 0 }' "$1"
}
# The regression and the isolation suite each in its own make run (blanking
# the other's list, as tools/test.sh does), so that a failure in one does not
# hide the other.
reg_p=0 reg_f=0
run_installcheck() {   # run_installcheck NAME BLANKED-VAR DIFFS
    local rc=0 p f log="$WORK/installcheck-$1.log"
    (cd "$SRC" && timeout 600 make --no-print-directory installcheck PG_CONFIG="$PG_CONFIG" "$2=") \
        >"$log" 2>&1 </dev/null || rc=$?
    read -r p f <<<"$(regress_counts "$log")"
    reg_p=$((reg_p + p)) reg_f=$((reg_f + f))
    if [[ $rc -eq 0 && $f -eq 0 && $p -gt 0 ]]; then
        pass "make installcheck ($1) against the installed package: $p tests passed"
    else
        fail "make installcheck ($1) against the installed package: exit $rc, $p passed, $f failed"
        if [[ -s "$3" ]]; then head -n 60 "$3" | sed 's/^/#   /'; fi
        grep -vE '^(ok|test|     ) ' "$log" | tail -n 20 | sed 's/^/#   /'
    fi
}
run_installcheck regress ISOLATION "$SRC/regression.diffs"
run_installcheck isolation REGRESS "$SRC/output_iso/regression.diffs"
built="$(cd "$SRC" && find . \( -name '*.o' -o -name '*.so' -o -name '*.bc' -o -path ./src/bin/dbcore-migrate/dbcore-migrate \) -print)"
[[ -z "$built" ]] && pass "installcheck built nothing (the suites used the installed files)" ||
    fail "installcheck built files in the tree: $(tr '\n' ' ' <<<"$built")"

upg_p=0
if [[ -f "$SRC/test/upgrade/run.sh" ]]; then
    rc=0
    (cd "$SRC" && timeout 300 bash test/upgrade/run.sh) >"$WORK/upgrade.log" 2>&1 </dev/null || rc=$?
    line="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$WORK/upgrade.log" | tail -n 1 || true)"
    read -r upg_p _ upg_f _ <<<"${line//,/}"
    if [[ $rc -eq 0 && -n "$line" && "${upg_f:-1}" -eq 0 ]]; then
        pass "upgrade test against the installed scripts: ${upg_p} checks passed"
    else
        upg_p=${upg_p:-0}
        fail "upgrade test against the installed scripts: exit $rc, '${line:-no summary}'"
        grep -E 'FAIL|error' "$WORK/upgrade.log" | head -n 20 | sed 's/^/#   /'
    fi
fi

mig_p=0
if [[ -f "$SRC/test/shell/migrate_basic.sh" ]]; then
    rc=0
    (cd "$SRC" && MIGRATE="$BINDIR/dbcore-migrate" timeout 300 bash test/shell/migrate_basic.sh) \
        >"$WORK/migrate.log" 2>&1 </dev/null || rc=$?
    line="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$WORK/migrate.log" | tail -n 1 || true)"
    read -r mig_p _ mig_f _ <<<"${line//,/}"
    if [[ $rc -eq 0 && -n "$line" && "${mig_f:-1}" -eq 0 ]]; then
        pass "dbcore-migrate test with the packaged $BINDIR/dbcore-migrate: ${mig_p} checks passed"
    else
        mig_p=${mig_p:-0}
        fail "dbcore-migrate test with the packaged tool: exit $rc, '${line:-no summary}'"
        grep -E '^not ok' "$WORK/migrate.log" | head -n 20 | sed 's/^/#   /'
    fi
fi

if root_do dpkg --verify "$PKG" >"$WORK/verify.out" 2>&1 && [[ ! -s "$WORK/verify.out" ]]; then
    pass "dpkg --verify after the suites: they ran on the package's files (no make install meanwhile)"
else
    fail "installed files changed while the suites ran (another make install?): $(head -n 3 "$WORK/verify.out" | tr '\n' ' ')"
fi
cluster_stop >/dev/null 2>&1

# ---- 6. remove, and put the source install back
# Other engineers' tests may be running against this machine's PostgreSQL:
# between dpkg -r and the restore, a new backend can't load dbcore.  To keep
# that gap to milliseconds, each staged file is first copied next to its
# target as NAME.dbcore-restore; after `dpkg -r --no-triggers` (postgresql-
# common's trigger on /usr/share/postgresql runs afterwards) one process
# renames them all into place.  The checks on what dpkg -r left run after.
stage_rc=0
for t in "${staged[@]}"; do
    root_do mkdir -p "$(dirname "$t")" && root_do cp -p "$WORK/stage$t" "$t$RESTORE_SUFFIX" || stage_rc=$?
done
rm_rc=0 reinstall_rc=0
root_do dpkg --no-triggers -r "$PKG" >"$WORK/remove.log" 2>&1 </dev/null || rm_rc=$?
left=()
for f in "${want[@]}"; do
    if [[ -e "$f" ]]; then left+=("$f"); fi
done
root_do python3 -c 'import os, sys
for p in sys.argv[2:]:
    os.replace(p + sys.argv[1], p)' "$RESTORE_SUFFIX" "${staged[@]}" >"$WORK/reinstall.log" 2>&1 || reinstall_rc=$?
restored=1
root_do dpkg --triggers-only --pending >>"$WORK/remove.log" 2>&1 </dev/null || rm_rc=$?
if [[ $rm_rc -eq 0 ]]; then
    status="$(dpkg-query -W -f='${db:Status-Abbrev}' "$PKG" 2>/dev/null || true)"
    [[ "$status" != ii* ]] && pass "dpkg -r removed $PKG (status '${status:-gone}')" ||
        fail "$PKG still installed after dpkg -r"
    [[ ${#left[@]} -eq 0 ]] && pass "dpkg -r removed all ${#want[@]} checked files" ||
        fail "files left after dpkg -r: ${left[*]}"
else
    fail "dpkg -r $PKG or its deferred triggers failed (exit $rm_rc): $(tail -n 3 "$WORK/remove.log" | tr '\n' ' ')"
fi
# The source install is back when every staged file is in place, identical,
# and no package owns dbcore.so.
differ=()
for t in "${staged[@]}"; do
    cmp -s "$WORK/stage$t" "$t" || differ+=("$t")
done
if [[ $stage_rc -eq 0 && $reinstall_rc -eq 0 && ${#differ[@]} -eq 0 ]] &&
   ! dpkg-query -S "$PKGLIBDIR/dbcore.so" >/dev/null 2>&1; then
    pass "the source install (make install of $root, ${#staged[@]} files) is back in place"
else
    fail "restoring the source install failed (${differ[*]:-copy/rename failed}): run make install in $root"
    tail -n 10 "$WORK/reinstall.log" | sed 's/^/#   /'
    root_do make -s -C "$root" install PG_CONFIG="$PG_CONFIG" >/dev/null 2>&1 || true
fi

echo "debian_package: $PKG $VERSION built in ${build_secs}s; against the installed package" \
     "$reg_p regression/isolation tests, ${upg_p:-0} upgrade checks, ${mig_p:-0} dbcore-migrate checks;" \
     "$passed checks passed, $failed failed in $((SECONDS - START))s"
[[ $failed -eq 0 ]]
