#!/usr/bin/env bash
# test/upgrade/run.sh: the upgrade test.
#
# Installs the newest dbcore (dbcore.control's default_version) in a fresh
# database and describes it with describe.sql; then, for every released
# version in CHANGELOG.md ("## [X.Y] - date" headings) other than the newest,
# installs that version in its own database next to some user data, runs
# ALTER EXTENSION dbcore UPDATE, and checks that
#   - the extension is now at the newest version,
#   - describe.sql prints exactly what it prints for the fresh install,
#   - the user data is intact and its updated_at trigger still works.
# With no older release it still checks that the newest version installs, that
# describe.sql shows its objects, and that ALTER EXTENSION UPDATE is a no-op.
#
# Connects with PGHOST/PGPORT/PGUSER from the environment (tools/test.sh sets
# them to its throwaway cluster); refuses to run when neither PGHOST nor
# PGPORT is set, so that it never lands on a system cluster by accident.
# Prints one line per check and, last, "N passed, N failed".
# Descriptions are kept in test/upgrade/output/ for a look afterwards.
# Functions are mostly called through check(), which shellcheck can't follow.
# shellcheck disable=SC2317
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tools/lib.sh
source "$HERE/../../tools/lib.sh"
ROOT="$DBCORE_ROOT"

EXT=dbcore
CONTROL="$ROOT/$EXT.control"
CHANGELOG="$ROOT/CHANGELOG.md"
DESCRIBE="$HERE/describe.sql"
OUT="$HERE/output"

if [[ -z "${PGHOST:-}" && -z "${PGPORT:-}" ]]; then
    die "set PGHOST/PGPORT to a scratch cluster (or run bash tools/test.sh)"
fi
PSQL="$(pg_bin psql)"
# No NOTICEs ("extension ... is already installed") in the output.
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"

passed=0 failed=0
pass() { passed=$((passed + 1)); printf '%s ok%s   %s\n' "$_DBCORE_G" "$_DBCORE_0" "$*"; }
fail() { failed=$((failed + 1)); printf '%sFAIL%s  %s\n' "$_DBCORE_R" "$_DBCORE_0" "$*"; }
# check DESCRIPTION COMMAND...: pass if COMMAND succeeds.
check() {
    local what="$1"; shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

# q DB SQL: run SQL in DB, print the unaligned, tuples-only result.
q() {
    "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"
}
# eq DB SQL EXPECTED: true when SQL's result is EXPECTED; says what it got.
eq() {
    local got
    got="$(q "$1" "$2" 2>&1)" || { printf '      error: %s\n' "$got"; return 1; }
    [[ "$got" == "$3" ]] && return 0
    printf '      expected: %s\n      got:      %s\n' "$3" "$got"
    return 1
}

DBS=()
create_db() {
    q postgres "DROP DATABASE IF EXISTS \"$1\"" && q postgres "CREATE DATABASE \"$1\"" && DBS+=("$1")
}
# install_ext DB [VERSION]: a new database DB with the extension in it.
install_ext() {
    local sql="CREATE EXTENSION $EXT"
    [[ -z "${2:-}" ]] || sql+=" VERSION '$2'"
    create_db "$1" && q "$1" "$sql"
}
drop_dbs() {
    local db
    for db in "${DBS[@]}"; do
        q postgres "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 || true
    done
}
trap drop_dbs EXIT

# describe DB FILE: describe.sql's output for DB into FILE.
describe() {
    "$PSQL" -X -q -v ON_ERROR_STOP=1 -v ext="$EXT" -v schema="$EXT" -d "$1" -f "$DESCRIBE" >"$2" 2>"$2.err" ||
        { sed 's/^/      /' "$2.err"; return 1; }
    rm -f "$2.err"
}

# ---------------------------------------------------------------------------
# User data that uses the extension, made before an upgrade, checked after.
# ---------------------------------------------------------------------------

make_user_data() {
    local db="$1" attach
    q "$db" "CREATE TABLE public.upgrade_notes (
                 id         int PRIMARY KEY,
                 body       text NOT NULL,
                 created_at timestamptz NOT NULL DEFAULT now(),
                 updated_at timestamptz NOT NULL DEFAULT now())" || return 1
    # attach_updated_at() is in every release so far; fall back to a plain
    # CREATE TRIGGER should an old version ever lack it.
    attach="$(q "$db" "SELECT count(*) FROM pg_catalog.pg_proc
                        WHERE proname = 'attach_updated_at'
                          AND pronamespace = '$EXT'::regnamespace")" || return 1
    if [[ "$attach" != 0 ]]; then
        q "$db" "SELECT $EXT.attach_updated_at('public.upgrade_notes')" >/dev/null || return 1
    else
        q "$db" "CREATE TRIGGER dbcore_updated_at BEFORE UPDATE ON public.upgrade_notes
                 FOR EACH ROW EXECUTE FUNCTION $EXT.updated_at()" || return 1
    fi
    q "$db" "INSERT INTO public.upgrade_notes VALUES
                 (1, 'one',   '2000-01-01 00:00+00', '2000-01-01 00:00+00'),
                 (2, 'two',   '2000-01-01 00:00+00', '2000-01-01 00:00+00'),
                 (3, 'three', '2000-01-01 00:00+00', '2000-01-01 00:00+00')"
}

check_user_data() {
    local db="$1" label="$2"
    check "$label: user rows intact" \
        eq "$db" "SELECT string_agg(id || '=' || body, ',' ORDER BY id) FROM public.upgrade_notes" \
        "1=one,2=two,3=three"
    check "$label: updated_at trigger still attached" \
        eq "$db" "SELECT count(*) FROM pg_catalog.pg_trigger
                   WHERE tgrelid = 'public.upgrade_notes'::regclass AND NOT tgisinternal
                     AND tgfoid = '$EXT.updated_at()'::regprocedure" 1
    check "$label: UPDATE moves updated_at, keeps created_at" \
        eq "$db" "UPDATE public.upgrade_notes SET body = 'two, edited' WHERE id = 2
                  RETURNING updated_at > '2000-01-01 00:00+00' AND created_at = '2000-01-01 00:00+00'" t
    check "$label: rows not updated keep their updated_at" \
        eq "$db" "SELECT bool_and(updated_at = '2000-01-01 00:00+00') FROM public.upgrade_notes WHERE id <> 2" t
}

# Tenant-scoped user data (versions that have enable_tenant_scoping): a
# plain and a partitioned table with rows of two clients, read and written
# after the update by an ordinary role (SET LOCAL needs no privilege on
# dbcore's schema; the schema's ACL is part of what is compared).
CLIENT_A=aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa
CLIENT_B=bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb
APP_ROLE=dbcore_upgrade_app
has_tenant_scoping() {
    [[ "$(q "$1" "SELECT count(*) FROM pg_catalog.pg_proc
                   WHERE proname = 'enable_tenant_scoping'
                     AND pronamespace = '$EXT'::regnamespace")" != 0 ]]
}
make_tenant_data() {
    local db="$1"
    q "$db" "DO \$\$ BEGIN
                 IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$APP_ROLE') THEN
                     CREATE ROLE $APP_ROLE NOLOGIN;
                 END IF;
             END \$\$" &&
    q "$db" "CREATE TABLE public.upgrade_orders (id int PRIMARY KEY, client_id uuid NOT NULL, item text NOT NULL)" &&
    q "$db" "CREATE TABLE public.upgrade_events (id int, client_id uuid NOT NULL, at date NOT NULL)
                 PARTITION BY RANGE (at)" &&
    q "$db" "CREATE TABLE public.upgrade_events_2025 PARTITION OF public.upgrade_events
                 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')" &&
    q "$db" "CREATE TABLE public.upgrade_events_2026 PARTITION OF public.upgrade_events
                 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')" &&
    q "$db" "SELECT $EXT.enable_tenant_scoping('public.upgrade_orders'),
                    $EXT.enable_tenant_scoping('public.upgrade_events')" >/dev/null &&
    q "$db" "GRANT SELECT, INSERT, UPDATE ON public.upgrade_orders, public.upgrade_events,
                 public.upgrade_events_2025, public.upgrade_events_2026 TO $APP_ROLE" &&
    q "$db" "INSERT INTO public.upgrade_orders VALUES (1, '$CLIENT_A', 'a1'), (2, '$CLIENT_B', 'b1'), (3, '$CLIENT_A', 'a2')" &&
    q "$db" "INSERT INTO public.upgrade_events VALUES (1, '$CLIENT_A', '2025-05-01'), (2, '$CLIENT_B', '2026-05-01')"
}
# as_app DB SQL: SQL in one transaction as the app role in client A's scope.
as_app() {
    q "$1" "BEGIN; SET LOCAL ROLE $APP_ROLE; SET LOCAL $EXT.client_id = '$CLIENT_A'; $2; COMMIT"
}
check_tenant_data() {
    local db="$1" label="$2"
    check "$label: scoped rows intact" \
        eq "$db" "SELECT string_agg(id || ':' || client_id || ':' || item, ',' ORDER BY id) FROM public.upgrade_orders" \
        "1:$CLIENT_A:a1,2:$CLIENT_B:b1,3:$CLIENT_A:a2"
    check "$label: tenant_scoping_problems() finds nothing" \
        eq "$db" "SELECT count(*) FROM $EXT.tenant_scoping_problems()" 0
    # The policies of tables scoped before the update are the ones a table
    # scoped now gets.
    q "$db" "CREATE TABLE public.upgrade_new (id int, client_id uuid NOT NULL)" &&
        q "$db" "SELECT $EXT.enable_tenant_scoping('public.upgrade_new')" >/dev/null
    check "$label: scoped tables' policies are those of a table scoped after the update" \
        eq "$db" "SELECT count(DISTINCT (p.polname, p.polpermissive, p.polcmd, p.polroles,
                                         pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)))
                         || '/' || count(*)
                    FROM pg_policy p
                   WHERE p.polrelid IN ('public.upgrade_orders'::regclass, 'public.upgrade_events'::regclass,
                                        'public.upgrade_events_2025'::regclass, 'public.upgrade_events_2026'::regclass,
                                        'public.upgrade_new'::regclass)" "2/10"
    check "$label: client A sees its own rows only" \
        eq "$db" "BEGIN; SET LOCAL ROLE $APP_ROLE; SET LOCAL $EXT.client_id = '$CLIENT_A';
                  SELECT (SELECT string_agg(id::text, ',' ORDER BY id) FROM public.upgrade_orders) || '|' ||
                         (SELECT string_agg(id::text, ',' ORDER BY id) FROM public.upgrade_events) || '|' ||
                         (SELECT count(*) FROM public.upgrade_events_2026); COMMIT" "1,3|1|0"
    if as_app "$db" "INSERT INTO public.upgrade_orders VALUES (9, '$CLIENT_B', 'planted')" >/dev/null 2>&1; then
        fail "$label: INSERT of client B's row as client A is refused"
    else
        pass "$label: INSERT of client B's row as client A is refused"
    fi
    check "$label: client A's new row is stamped with its client" \
        eq "$db" "BEGIN; SET LOCAL ROLE $APP_ROLE; SET LOCAL $EXT.client_id = '$CLIENT_A';
                  INSERT INTO public.upgrade_orders (id, item) VALUES (4, 'a3') RETURNING client_id; COMMIT" "$CLIENT_A"
}

# ---------------------------------------------------------------------------
# Versions
# ---------------------------------------------------------------------------

newest="$(sed -n "s/^[[:space:]]*default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" "$CONTROL" | head -n 1)"
released=()
if [[ -f "$CHANGELOG" ]]; then
    mapfile -t released < <(sed -n 's/^##[[:space:]]*\[\([^]]*\)\].*/\1/p' "$CHANGELOG" |
                            grep -viE '^unreleased$' | awk '!seen[$0]++')
else
    warn "no CHANGELOG.md: no released versions to upgrade from"
fi

say "newest version (dbcore.control): ${newest:-?}; released (CHANGELOG.md): ${released[*]:-none}"
check "dbcore.control has a default_version" test -n "$newest"
[[ -n "$newest" ]] || { echo "$passed passed, $failed failed"; exit 1; }

bad_version=0
for v in "$newest" "${released[@]}"; do
    if ! [[ "$v" =~ ^[A-Za-z0-9._-]+$ ]]; then
        fail "version '$v' has characters this test doesn't handle"
        bad_version=1
    fi
done
[[ $bad_version -eq 0 ]] || { echo "$passed passed, $failed failed"; exit 1; }

available="$(q postgres "SELECT string_agg(version, ' ' ORDER BY version)
                          FROM pg_catalog.pg_available_extension_versions WHERE name = '$EXT'" || true)"
for v in $(printf '%s\n' "$newest" "${released[@]}" | awk '!seen[$0]++'); do
    check "version $v is installed (has an install script or path)" \
        grep -qw -- "$v" <<<" $available "
done
if [[ ${#released[@]} -gt 0 ]] && ! printf '%s\n' "${released[@]}" | grep -qxF -- "$newest"; then
    say "note: $newest is not in CHANGELOG.md yet (unreleased)"
fi

mkdir -p "$OUT"
rm -f "$OUT"/*.txt "$OUT"/*.err "$OUT"/*.diff

# ---------------------------------------------------------------------------
# Fresh install of the newest version
# ---------------------------------------------------------------------------

db=upgrade_fresh
fresh="$OUT/fresh-$newest.txt"
fresh_ok=0
say "fresh install of $newest in database $db"
if check "fresh: CREATE EXTENSION $EXT" \
        install_ext "$db"; then
    check "fresh: extversion is $newest" \
        eq "$db" "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = '$EXT'" "$newest"
    if check "fresh: describe.sql runs" describe "$db" "$fresh"; then
        members="$(grep -c '^member ' "$fresh" || true)"
        check "fresh: describe.sql lists the extension's objects ($members members, $(wc -l <"$fresh") lines)" \
            test "$members" -gt 0
        [[ "$members" -gt 0 ]] && fresh_ok=1
    fi

    # ALTER EXTENSION UPDATE on the newest version changes nothing.
    check "fresh: user data with an updated_at trigger" make_user_data "$db"
    check "fresh: tenant-scoped user data" make_tenant_data "$db"
    check "fresh: ALTER EXTENSION $EXT UPDATE" q "$db" "ALTER EXTENSION $EXT UPDATE"
    check "fresh: extversion still $newest" \
        eq "$db" "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = '$EXT'" "$newest"
    if [[ $fresh_ok -eq 1 ]] && describe "$db" "$OUT/fresh-$newest-updated.txt"; then
        if diff -u "$fresh" "$OUT/fresh-$newest-updated.txt" >"$OUT/noop.diff"; then
            pass "fresh: ALTER EXTENSION UPDATE is a no-op (same description)"
            rm -f "$OUT/noop.diff"
        else
            fail "fresh: ALTER EXTENSION UPDATE changed the description:"
            cat "$OUT/noop.diff"
        fi
    else
        fail "fresh: could not compare descriptions around ALTER EXTENSION UPDATE"
    fi
    check_user_data "$db" fresh
    check_tenant_data "$db" fresh
fi

# ---------------------------------------------------------------------------
# Upgrades from every older release
# ---------------------------------------------------------------------------

upgrades=0
for v in "${released[@]}"; do
    [[ "$v" != "$newest" ]] || continue
    upgrades=$((upgrades + 1))
    db="upgrade_from_$v"
    label="$v -> $newest"
    say "upgrade $label in database $db"
    if ! check "$label: CREATE EXTENSION $EXT VERSION '$v'" \
            install_ext "$db" "$v"; then
        continue
    fi
    check "$label: extversion is $v before the update" \
        eq "$db" "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = '$EXT'" "$v"
    check "$label: user data with an updated_at trigger" make_user_data "$db"
    tenant_data=0
    if has_tenant_scoping "$db"; then
        check "$label: tenant-scoped user data" make_tenant_data "$db" && tenant_data=1
    fi
    if ! check "$label: ALTER EXTENSION $EXT UPDATE" q "$db" "ALTER EXTENSION $EXT UPDATE"; then
        continue
    fi
    check "$label: extversion is $newest after the update" \
        eq "$db" "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = '$EXT'" "$newest"
    got="$OUT/from-$v.txt"
    if [[ $fresh_ok -eq 1 ]] && describe "$db" "$got"; then
        if diff -u --label "fresh install of $newest" --label "upgraded from $v" \
                "$fresh" "$got" >"$OUT/from-$v.diff"; then
            pass "$label: upgraded extension is identical to a fresh install"
            rm -f "$OUT/from-$v.diff"
        else
            fail "$label: upgraded extension differs from a fresh install:"
            cat "$OUT/from-$v.diff"
        fi
    else
        fail "$label: could not compare with a fresh install"
    fi
    check_user_data "$db" "$label"
    [[ $tenant_data -eq 0 ]] || check_tenant_data "$db" "$label"
done
[[ $upgrades -gt 0 ]] || say "no older release to upgrade from: checked the fresh install only"

echo
echo "$passed passed, $failed failed"
exit $((failed > 0 ? 1 : 0))
