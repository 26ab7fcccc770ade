#!/usr/bin/env bash
# test.sh: once
# test/shell/meta.sh: the release metadata agree with dbcore.control.
#
# dbcore.control's default_version (what `make version` prints) is the one
# source of the version.  This test fails when any other file that states it
# has drifted:
#   META.json           valid JSON, PGXN meta-spec 1.0.0 fields; "version"
#                       and provides.dbcore.version are the control version as
#                       SemVer (PGXN requires SemVer: '0.3' -> "0.3.0");
#                       provides.dbcore.file is the base install script
#   sql/                one install script (the base) and upgrade scripts that
#                       chain from it to the control version
#   README.md, doc/*.md, SECURITY.md, dbcore-migrate --version
#                       every version they call current is the control one
#   debian/changelog    the newest entry's version is the control version
#   debian/control      the binary package names are postgresql-NN-dbcore
#                       for the versions in debian/pgversions
#   CHANGELOG.md        has a "## [<version>]" heading
# A control version that CHANGELOG.md has no heading for, while it has an
# "## Unreleased" section, is in development (the next version's upgrade
# script is being written): the chain of scripts must reach it, and the
# release metadata (META.json, debian/changelog, the version the docs call
# current) still state the newest released version until the release.
# Then it proves the checks can fail: on scratch copies where the control
# version was bumped (as for a release) or META.json was edited, the checker
# must report the drift.
#
# Needs no database: runs in about a second.  Prints ok/not ok lines and a
# final figure; exits non-zero on any failure.  Removes its temp dir always.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/dbcore-meta.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

PG_CONFIG="${PG_CONFIG:-}"
if [[ -z "$PG_CONFIG" ]]; then
    if [[ -x /usr/lib/postgresql/15/bin/pg_config ]]; then
        PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
    else
        PG_CONFIG=pg_config
    fi
fi

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "not ok - $*"; }

# control_version DIR: dbcore.control's default_version, through the Makefile.
control_version() {
    make -s --no-print-directory -C "$1" version PG_CONFIG="$PG_CONFIG"
}

# check_tree DIR VERSION: one "ok - ..." / "not ok - ..." line per check on
# the tree in DIR; exit status 1 if any check failed.
check_tree() {
    python3 - "$1" "$2" <<'PY'
import json, os, re, sys

root, version = sys.argv[1], sys.argv[2]
bad = 0

def check(cond, what, detail=""):
    global bad
    if cond:
        print("ok - " + what)
    else:
        bad += 1
        print("not ok - " + what + (": " + detail if detail else ""))

def read(rel):
    with open(os.path.join(root, rel), encoding="utf-8") as f:
        return f.read()

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$")

def semver_of(v):
    """The PGXN (SemVer) spelling of an extension version: 0.3 -> 0.3.0."""
    parts = v.split(".")
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return v + ".0"
    return v

check(re.fullmatch(r"[0-9]+(\.[0-9]+)+", version) is not None,
      "dbcore.control's default_version '%s' is a dotted number" % version)

# ---- CHANGELOG.md: released, or in development under "## Unreleased"
try:
    changelog = read("CHANGELOG.md")
except OSError as e:
    changelog = ""
    check(False, "CHANGELOG.md is readable", str(e))
heads = re.findall(r"^## \[([^\]]+)\]", changelog, re.M)
in_development = version not in heads and re.search(r"^## Unreleased", changelog, re.M) is not None and heads
check(version in heads or in_development,
      "CHANGELOG.md has a [%s] entry, or an Unreleased section for it" % version,
      "headings: %s" % ", ".join(heads))
# What the release metadata state: this version, or the newest release while
# this one is in development.
released = heads[0] if in_development else version
if in_development:
    print("# %s is in development (CHANGELOG.md: Unreleased): release metadata state %s" % (version, released))
want = semver_of(released)

# ---- the SQL scripts: one base install script and a chain of upgrade
# scripts from it to the control version (CREATE EXTENSION follows it)
scripts = sorted(os.listdir(os.path.join(root, "sql")))
installs = [f for f in scripts if re.fullmatch(r"dbcore--[0-9.]+\.sql", f)]
upgrades = dict(re.fullmatch(r"dbcore--([0-9.]+)--([0-9.]+)\.sql", f).groups()
                for f in scripts if re.fullmatch(r"dbcore--[0-9.]+--[0-9.]+\.sql", f))
check(len(installs) == 1, "exactly one install script in sql/ (the base; later versions are upgrades)",
      "found %s" % ", ".join(installs))
base_script = "sql/" + installs[0] if installs else None
v = installs[0][len("dbcore--"):-len(".sql")] if installs else None
seen = set()
while v is not None and v != version and v not in seen:
    seen.add(v)
    v = upgrades.get(v)
check(v == version, "the upgrade scripts lead from the base script to %s" % version,
      "the chain stops at %s" % v)

# ---- version numbers stated in the docs and the program
def stated(rel, pattern):
    try:
        return re.findall(pattern, read(rel))
    except OSError:
        return []

claims = []
for rel in ["README.md"] + ["doc/" + f for f in sorted(os.listdir(os.path.join(root, "doc")))
                            if f.endswith(".md")] if os.path.isdir(os.path.join(root, "doc")) else ["README.md"]:
    for found in stated(rel, r"(?:reference for|describes|maintainers of|putting|current version is) dbcore ([0-9]+\.[0-9]+)"):
        claims.append((rel, found))
    for found in stated(rel, r"The current version is ([0-9]+\.[0-9]+)"):
        claims.append((rel, found))
for found in stated("SECURITY.md", r"^\| ([0-9]+\.[0-9]+) \(newest\)"):
    claims.append(("SECURITY.md", found))
check(claims, "the README and docs state the current version somewhere")
wrong = ["%s says %s" % c for c in claims if c[1] != released]
check(not wrong, "every version the README, doc/*.md and SECURITY.md call current is %s" % released,
      "; ".join(wrong))
prog = os.path.join(root, "src/bin/dbcore-migrate/dbcore-migrate")
if os.path.exists(prog):
    import subprocess
    out = subprocess.run([prog, "--version"], capture_output=True, text=True).stdout.strip()
    check(out == "dbcore-migrate " + version, "dbcore-migrate --version prints %s" % version, "got %r" % out)

# ---- doc/architecture.md maps every C file of the library
if os.path.isdir(os.path.join(root, "src")):
    try:
        arch = read("doc/architecture.md")
        unmapped = [f for f in sorted(os.listdir(os.path.join(root, "src")))
                    if f.endswith(".c") and ("`%s`" % f) not in arch]
        check(not unmapped, "doc/architecture.md maps every src/*.c file", "missing " + ", ".join(unmapped))
    except OSError as e:
        check(False, "doc/architecture.md is readable", str(e))

# ---- META.json
try:
    meta = json.loads(read("META.json"))
    check(isinstance(meta, dict), "META.json is a JSON object")
except (OSError, ValueError) as e:
    meta = None
    check(False, "META.json is valid JSON", str(e))

if isinstance(meta, dict):
    missing = [k for k in ("name", "version", "abstract", "maintainer", "license",
                           "provides", "meta-spec") if k not in meta]
    check(not missing, "META.json has every required meta-spec field", "missing " + ", ".join(missing))
    spec = meta.get("meta-spec") or {}
    check(spec.get("version") == "1.0.0", "META.json declares meta-spec 1.0.0",
          "got %r" % spec.get("version"))
    check(meta.get("name") == "dbcore", "META.json name is dbcore", "got %r" % meta.get("name"))
    check(meta.get("version") == want,
          "META.json version is %s (dbcore.control's %s)" % (want, released),
          "got %r" % meta.get("version"))
    check(isinstance(meta.get("version"), str) and SEMVER.match(meta["version"]) is not None,
          "META.json version is SemVer", "got %r" % meta.get("version"))
    ext = (meta.get("provides") or {}).get("dbcore") or {}
    check(ext.get("version") == want,
          "META.json provides.dbcore.version is %s" % want, "got %r" % ext.get("version"))
    check(ext.get("file") == base_script, "META.json provides.dbcore.file is the base install script %s" % base_script,
          "got %r" % ext.get("file"))
    doc = ext.get("docfile")
    check(doc is None or os.path.isfile(os.path.join(root, doc)),
          "META.json provides.dbcore.docfile exists", "no file %r" % doc)
    check(meta.get("license") == "postgresql", "META.json license is postgresql",
          "got %r" % meta.get("license"))
    check(meta.get("release_status", "stable") in ("stable", "testing", "unstable"),
          "META.json release_status is stable, testing or unstable",
          "got %r" % meta.get("release_status"))
    pg = ((meta.get("prereqs") or {}).get("runtime") or {}).get("requires", {}).get("PostgreSQL")
    check(isinstance(pg, str) and re.fullmatch(r"(>=\s*)?15\.0\.0", pg) is not None,
          "META.json requires PostgreSQL 15.0.0 at runtime", "got %r" % pg)
    tags = meta.get("tags", [])
    check(all(isinstance(t, str) and 2 <= len(t) <= 255 and not re.search(r"[/\\\x00-\x1f]", t)
              for t in tags), "META.json tags are valid PGXN tags")
    for d in (meta.get("no_index") or {}).get("directory", []):
        check(os.path.isdir(os.path.join(root, d)), "META.json no_index directory %s exists" % d)

# ---- debian/changelog: "dbcore (VERSION) distribution; urgency=..."
try:
    first = read("debian/changelog").splitlines()[0]
    m = re.match(r"^dbcore \(([^)]+)\) ", first)
    check(m is not None and m.group(1) == released,
          "debian/changelog's newest entry is version %s" % released,
          "first line is %r" % first)
except (OSError, IndexError) as e:
    check(False, "debian/changelog is readable", str(e))

# ---- debian/control: the binary packages are the ones debian/pgversions asks for
try:
    pkgs = re.findall(r"^Package: (\S+)$", read("debian/control"), re.M)
    majors = [l.strip() for l in read("debian/pgversions").splitlines()
              if l.strip() and not l.strip().startswith("#")]
    wpkgs = ["postgresql-%s-dbcore" % v for v in majors if re.fullmatch(r"[0-9]+", v)]
    check(wpkgs and pkgs == wpkgs,
          "debian/control builds %s" % ", ".join(wpkgs or ["?"]),
          "has %s (run pg_buildext updatecontrol)" % ", ".join(pkgs))
except OSError as e:
    check(False, "debian/control and debian/pgversions are readable", str(e))

sys.exit(1 if bad else 0)
PY
}

# ---- the real tree
version="$(control_version "$root")" || { fail "make version failed"; version=''; }
if [[ -n "$version" ]]; then
    pass "make version prints dbcore.control's default_version: $version"
    if python3 -m json.tool "$root/META.json" >/dev/null 2>"$tmp/json.err"; then
        pass "python3 -m json.tool accepts META.json"
    else
        fail "python3 -m json.tool rejects META.json: $(head -n 1 "$tmp/json.err")"
    fi
    rc=0
    check_tree "$root" "$version" >"$tmp/real.out" || rc=$?
    cat "$tmp/real.out"
    passed=$((passed + $(grep -c '^ok - ' "$tmp/real.out" || true)))
    failed=$((failed + $(grep -c '^not ok - ' "$tmp/real.out" || true)))
    if [[ $rc -ne 0 ]] && ! grep -q '^not ok - ' "$tmp/real.out"; then
        fail "the checker itself failed (exit $rc)"
    fi
fi

# ---- the checker catches drift
# A scratch copy of just the files the checks read.
scratch() {
    local dir="$tmp/$1"
    mkdir -p "$dir/debian"
    cp "$root/Makefile" "$root/dbcore.control" "$root/META.json" "$root/CHANGELOG.md" "$root/README.md" "$root/SECURITY.md" "$dir/"
    cp -r "$root/doc" "$dir/doc"
    cp "$root/debian/changelog" "$root/debian/control" "$root/debian/pgversions" "$dir/debian/"
    cp -r "$root/sql" "$dir/sql"
    local d
    for d in bench debian test; do mkdir -p "$dir/$d"; done
    printf '%s\n' "$dir"
}

# expect_drift NAME GREP-PATTERN: the checker must fail on scratch copy NAME,
# with a "not ok" line matching the pattern.
expect_drift() {
    local dir="$tmp/$1" what="$2" v out rc=0
    v="$(control_version "$dir")"
    out="$(check_tree "$dir" "$v")" || rc=$?
    if [[ $rc -ne 0 ]] && grep -q "^not ok - .*$what" <<<"$out"; then
        pass "drift caught: $1 (not ok - ...$what)"
    else
        fail "drift not caught: $1, no not-ok line with '$what' (exit $rc)"
        printf '%s\n' "$out" | sed 's/^/#   /'
    fi
}

if [[ -n "$version" ]]; then
    # A release bumps dbcore.control (and adds its scripts) but forgets META.json
    # and debian/changelog.
    d="$(scratch bumped)"
    sed -i "s/^default_version *=.*/default_version = '98.7'/" "$d/dbcore.control"
    : >"$d/sql/dbcore--$version--98.7.sql"
    printf '## [98.7] - 2099-01-01\n' >>"$d/CHANGELOG.md"
    expect_drift bumped "META.json version is 98.7.0"
    expect_drift bumped "debian/changelog's newest entry is version 98.7"
    expect_drift bumped "every version the README, doc/\*.md and SECURITY.md call current is 98.7"

    # A release that forgets its upgrade script.
    d="$(scratch no_upgrade)"
    sed -i "s/^default_version *=.*/default_version = '98.7'/" "$d/dbcore.control"
    printf '## [98.7] - 2099-01-01\n' >>"$d/CHANGELOG.md"
    expect_drift no_upgrade "the upgrade scripts lead from the base script to 98.7"

    # A version in development (Unreleased) whose upgrade script is missing.
    d="$(scratch dev_no_upgrade)"
    sed -i "s/^default_version *=.*/default_version = '98.7'/" "$d/dbcore.control"
    expect_drift dev_no_upgrade "the upgrade scripts lead from the base script to 98.7"

    # A version neither released nor under an Unreleased section.
    d="$(scratch no_entry)"
    sed -i "s/^default_version *=.*/default_version = '98.7'/" "$d/dbcore.control"
    : >"$d/sql/dbcore--$version--98.7.sql"
    sed -i 's/^## Unreleased/## Not yet/' "$d/CHANGELOG.md"
    expect_drift no_entry "CHANGELOG.md has a \[98.7\] entry, or an Unreleased section"

    # A generated full install script committed beside the base.
    d="$(scratch generated)"
    : >"$d/sql/dbcore--$version.sql"
    expect_drift generated "exactly one install script in sql/"

    # META.json edited by hand to a version the control file doesn't have.
    d="$(scratch meta_edited)"
    python3 - "$d/META.json" <<'PY'
import json, sys
p = sys.argv[1]
m = json.load(open(p))
m["provides"]["dbcore"]["version"] = "9.9.9"
json.dump(m, open(p, "w"), indent=3)
PY
    expect_drift meta_edited "provides.dbcore.version"

    # Not JSON at all (a trailing comma).
    d="$(scratch broken_json)"
    sed -i '0,/"name": "dbcore",/s//"name": "dbcore",,/' "$d/META.json"
    expect_drift broken_json "META.json is valid JSON"
fi

echo "meta: $passed checks passed, $failed failed (version ${version:-?})"
[[ $failed -eq 0 ]]
