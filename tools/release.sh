#!/usr/bin/env bash
# tools/release.sh: release helper.  dbcore.control's default_version (what
# `make version` prints) is the version; everything else follows it.
#
#   bash tools/release.sh check           the version is stated consistently:
#                                         META.json, debian/changelog,
#                                         debian/control, CHANGELOG.md and the
#                                         install script (test/shell/meta.sh)
#   bash tools/release.sh sync            after bumping dbcore.control: set
#                                         META.json's versions and install
#                                         script, add a debian/changelog entry
#                                         (CHANGELOG.md stays yours to write)
#   bash tools/release.sh dist [OUTDIR]   check, then PGXN source archives of
#                                         the committed HEAD: dbcore-X.Y.Z.zip
#                                         and dbcore-X.Y.Z.tar.gz in OUTDIR
#                                         (default: the repository's parent)
#
# PGXN wants SemVer, so the archives and META.json carry X.Y.0 for control
# version X.Y; the extension version itself stays X.Y.  A release, in order:
# bump dbcore.control, write sql/dbcore--OLD--NEW.sql, add the CHANGELOG.md
# entry, `tools/release.sh sync`, run the tests, commit, tag,
# `tools/release.sh dist`, `dpkg-buildpackage -us -uc`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

die() { echo "release.sh: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit "${1:-0}"; }

PG_CONFIG="${PG_CONFIG:-}"
if [[ -z "$PG_CONFIG" ]]; then
    if [[ -x /usr/lib/postgresql/15/bin/pg_config ]]; then
        PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
    else
        PG_CONFIG=pg_config
    fi
fi

version() { make -s --no-print-directory -C "$ROOT" version PG_CONFIG="$PG_CONFIG"; }
# X.Y -> X.Y.0 (PGXN's SemVer); anything else unchanged.
semver() { if [[ "$1" =~ ^[0-9]+\.[0-9]+$ ]]; then echo "$1.0"; else echo "$1"; fi; }

cmd_check() {
    bash "$ROOT/test/shell/meta.sh"
}

cmd_sync() {
    local v s
    v="$(version)"
    [[ -n "$v" ]] || die "make version printed nothing"
    s="$(semver "$v")"
    python3 - "$ROOT/META.json" "$v" "$s" <<'PY'
import json, sys
path, v, s = sys.argv[1:]
with open(path, encoding="utf-8") as f:
    meta = json.load(f)
meta["version"] = s
ext = meta.setdefault("provides", {}).setdefault("dbcore", {})
ext["version"] = s
import glob, os
base = [f for f in glob.glob("sql/dbcore--*.sql") if os.path.basename(f).count("--") == 1]
ext["file"] = base[0] if len(base) == 1 else "sql/dbcore--0.1.sql"
with open(path, "w", encoding="utf-8") as f:
    json.dump(meta, f, indent=3, ensure_ascii=False)
    f.write("\n")
PY
    echo "META.json: version $s, provides.dbcore $s (base install script plus upgrade scripts)"
    ls sql/dbcore--*--"$v".sql >/dev/null 2>&1 || echo "warning: no upgrade script sql/dbcore--*--$v.sql yet" >&2

    local top trailer tmp
    top="$(sed -n '1s/^dbcore (\([^)]*\)).*/\1/p' debian/changelog)"
    if [[ "$top" == "$v" ]]; then
        echo "debian/changelog: already at $v"
    else
        # The newest entry's maintainer signs the new one.
        trailer="$(sed -n '0,/^ -- /s/^ -- \(.*>\)  .*/\1/p' debian/changelog)"
        [[ -n "$trailer" ]] || die "debian/changelog: no maintainer line in the newest entry"
        tmp="$(mktemp debian/changelog.XXXXXX)"
        {
            printf 'dbcore (%s) unstable; urgency=medium\n\n' "$v"
            printf '  * Release %s (see CHANGELOG.md).\n\n' "$v"
            printf ' -- %s  %s\n\n' "$trailer" "$(LC_ALL=C date -R)"
            cat debian/changelog
        } >"$tmp"
        mv "$tmp" debian/changelog
        chmod 644 debian/changelog
        echo "debian/changelog: added entry $v (was $top)"
    fi
    grep -q "^## \[$v\]" CHANGELOG.md || echo "warning: CHANGELOG.md has no '## [$v]' entry yet" >&2
    cmd_check
}

cmd_dist() {
    local out="${1:-$(dirname "$ROOT")}" v s name
    if ! command -v git >/dev/null 2>&1 || ! git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
        die "dist needs a git checkout (it archives the committed HEAD)"
    fi
    cmd_check >/dev/null || { cmd_check || true; die "fix the version drift above first"; }
    # git archive takes HEAD: refuse when the working tree differs from it,
    # so that the archive is what was tested.
    git -C "$ROOT" update-index -q --refresh
    if ! git -C "$ROOT" diff --quiet HEAD --; then
        git -C "$ROOT" status --short --untracked-files=no >&2
        die "uncommitted changes to tracked files (above): commit them first"
    fi
    local untracked
    untracked="$(git -C "$ROOT" ls-files -o --exclude-standard | wc -l)"
    [[ "$untracked" -eq 0 ]] || echo "warning: $untracked untracked files are not in the archive" >&2
    git -C "$ROOT" cat-file -e HEAD:META.json 2>/dev/null ||
        die "META.json is not committed: PGXN reads it from the archive"
    v="$(version)"
    s="$(semver "$v")"
    name="dbcore-$s"
    mkdir -p "$out"
    out="$(cd "$out" && pwd)"
    git -C "$ROOT" archive --format=zip --prefix="$name/" -o "$out/$name.zip" HEAD
    git -C "$ROOT" archive --format=tar.gz --prefix="$name/" -o "$out/$name.tar.gz" HEAD
    # The archive's own META.json must carry the version (it's what PGXN reads).
    python3 - "$out/$name.zip" "$name" "$s" <<'PY'
import json, sys, zipfile
path, name, s = sys.argv[1:]
with zipfile.ZipFile(path) as z:
    try:
        meta = json.loads(z.read(name + "/META.json"))
    except KeyError:
        sys.exit("%s: no %s/META.json" % (path, name))
    if meta.get("version") != s:
        sys.exit("%s: META.json says %r, wanted %r" % (path, meta.get("version"), s))
    print("%s: %d files, META.json version %s" % (path, len(z.namelist()), s))
PY
    echo "$out/$name.tar.gz"
}

case "${1:-}" in
    check) cmd_check ;;
    sync) cmd_sync ;;
    dist) shift; cmd_dist "$@" ;;
    -h|--help|help) usage 0 ;;
    *) usage 2 >&2 ;;
esac
