#!/usr/bin/env bash
# Shell test: tenant scoping behind pgbouncer in transaction pooling mode.
#
# Starts pgbouncer (Debian package; as the postgres OS user when run as root)
# with its own ini in a temporary directory, in front of the test cluster:
# pool_mode = transaction, default_pool_size = 4, server_lifetime = 2 s (so
# that server connections are also replaced during the run and fresh backends,
# with the dbcore library not yet loaded, meet hostile first statements).
# Then 40 pgbench clients (-j 2, 15 s) run a mix of scripts through it:
#   scoped       BEGIN; set_client(random tenant); INSERT a row (client_id
#                left to the row guard); UPDATE a random row; read the
#                tenant's newest 100 rows and check each one; END
#   session_set  a plain SET dbcore.client_id in autocommit, then an unscoped
#                probe; set_config(..., false) inside a transaction (valid
#                there), then an unscoped probe after its COMMIT
#   never        an unscoped probe, no scope ever set
# while raw psql clients, through pgbouncer, run `SET dbcore.client_id` and
# then `SELECT ... FROM items` as two transactions, which must fail with
# 42501.  The probes (plpgsql, as the application role) try an unscoped read
# and an unscoped write (both must fail with 42501 "no client scope is set")
# and check that no scope setting is left over.  Every finding is recorded in
# an audit table through a SECURITY DEFINER function owned by a BYPASSRLS
# role; a leak is any row of another tenant read or written, any scope
# other than the one the transaction set, any unscoped read or write that
# succeeds, any scope value left over from an earlier transaction.
# At the end: no leak, no unexpected error, every row's client is the one
# that wrote it, every tenant sees exactly its own rows, and pgbench
# aborted no client.  Prints
#   pgbouncer: N transactions, C clients over P server connections, 0 leaks
# (N: transactions pgbouncer counted; P: server connections pgbouncer opened).
# Connects with PGHOST/PGPORT/PGUSER (a superuser) from the environment, as
# tools/test.sh sets them.  Budget: ~45 s (pgbench runs 15 s).
set -euo pipefail

: "${PGHOST:?PGHOST must point at a test cluster (run through tools/test.sh)}"
: "${PGPORT:?PGPORT must point at a test cluster (run through tools/test.sh)}"
export PGUSER="${PGUSER:-postgres}"
unset PGDATABASE PGOPTIONS

BINDIR=/usr/lib/postgresql/15/bin
if [[ -n "${PG_CONFIG:-}" ]]; then BINDIR="$("$PG_CONFIG" --bindir)"; fi
PSQL="$BINDIR/psql" PGBENCH="$BINDIR/pgbench"
# shellcheck source=test/shell/lib/pgbouncer.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/pgbouncer.sh"
for p in "$PSQL" "$PGBENCH"; do
    [[ -x "$p" ]] || { echo "not ok - $p not found (install postgresql-15)"; exit 1; }
done
[[ -x "$PGBOUNCER" ]] || { echo "not ok - $PGBOUNCER not found (install the pgbouncer package; tools/lib.sh does)"; exit 1; }

CLIENTS=40 THREADS=2 DURATION=15 POOL=4 TENANTS=8 PROBES_PARALLEL=2
SUFFIX="$$"
DB="dbcore_pgb_$SUFFIX"
DB_PIN="dbcore_pgb_pin_$SUFFIX"    # the same database through a pool of one server connection
APP="dbcore_pgb_app_$SUFFIX"       # the application role: owns the table, no BYPASSRLS
AUDIT="dbcore_pgb_audit_$SUFFIX"   # owns the audit table and its writer function
START=$SECONDS

# As root, pgbouncer runs as the postgres OS user, which must reach the dir.
WORK="$(mktemp -d /tmp/dbcore-pgbouncer.XXXXXX)"
bouncer_workdir "$WORK"

passed=0 failed=0
indent() { sed 's/^/#   /'; }
pass() { passed=$((passed + 1)); echo "ok $((passed + failed)) - $*"; }
fail() { failed=$((failed + 1)); echo "not ok $((passed + failed)) - $*"; }

MONITOR_PID="" PROBE_PIDS=()
cleanup() {
    local rc=$? pid
    set +e
    for pid in "$MONITOR_PID" "${PROBE_PIDS[@]}"; do
        [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    bouncer_stop
    "$PSQL" -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1
    "$PSQL" -X -q -d postgres -c "DROP ROLE IF EXISTS \"$APP\"" -c "DROP ROLE IF EXISTS \"$AUDIT\"" >/dev/null 2>&1
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# sql [psql args]: the test database, directly (not through pgbouncer), as the superuser.
sql() {
    PGOPTIONS="-c client_min_messages=warning" "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$DB" "$@"
}

# ---------------------------------------------------------------------------
# The database: a scoped table, the audit table, the probes
# ---------------------------------------------------------------------------

"$PSQL" -X -q -v ON_ERROR_STOP=1 -d postgres \
    -c "CREATE ROLE \"$APP\" LOGIN NOBYPASSRLS" \
    -c "CREATE ROLE \"$AUDIT\" NOLOGIN BYPASSRLS" \
    -c "CREATE DATABASE \"$DB\""

sql -v app="$APP" -v audit="$AUDIT" -v tenants="$TENANTS" >/dev/null <<'EOF'
CREATE EXTENSION dbcore;
GRANT USAGE ON SCHEMA dbcore TO :"app";
CREATE SCHEMA pgb AUTHORIZATION :"app";
GRANT USAGE ON SCHEMA pgb TO :"audit";

-- Tenant number -> client id (the same function in every script).
CREATE FUNCTION pgb.tenant(n int) RETURNS uuid LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT ('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid $$;

-- Findings, written only through pgb.record() (no privilege for the app).
CREATE TABLE pgb.findings (kind text NOT NULL, context text, seen text, n bigint,
                           backend int NOT NULL DEFAULT pg_backend_pid(),
                           at timestamptz NOT NULL DEFAULT clock_timestamp());
ALTER TABLE pgb.findings OWNER TO :"audit";
CREATE FUNCTION pgb.record(kind text, context text, seen text, n bigint) RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$ INSERT INTO pgb.findings (kind, context, seen, n) VALUES (kind, context, seen, n) $$;
ALTER FUNCTION pgb.record(text, text, text, bigint) OWNER TO :"audit";
REVOKE ALL ON FUNCTION pgb.record(text, text, text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgb.record(text, text, text, bigint) TO :"app";

SET ROLE :"app";
CREATE TABLE pgb.items (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    client_id   uuid NOT NULL,
    writer      uuid NOT NULL,        -- the tenant the writing transaction set
    last_writer uuid,                 -- the tenant of the last UPDATE
    n           int NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, id));
CREATE INDEX items_id ON pgb.items (id);
SELECT dbcore.enable_tenant_scoping('pgb.items');
SELECT dbcore.attach_updated_at('pgb.items');

-- In a scoped transaction: the scope is the expected tenant, and the
-- tenant's newest rows are all its own (and there is at least one).
CREATE FUNCTION pgb.check_scope(expected uuid) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cur     uuid;
    n_foreign bigint;
    total   bigint;
    seen    text;
BEGIN
    cur := dbcore.current_client_id();
    IF cur IS DISTINCT FROM expected THEN
        PERFORM pgb.record('leak: scope is another client', expected::text, cur::text, 0);
    END IF;
    SELECT count(*) FILTER (WHERE r.client_id <> expected), count(*),
           min(r.client_id::text) FILTER (WHERE r.client_id <> expected)
      INTO n_foreign, total, seen
      FROM (SELECT i.client_id FROM pgb.items i ORDER BY i.id DESC LIMIT 100) r;
    IF n_foreign > 0 THEN
        PERFORM pgb.record('leak: read rows of another client', expected::text, seen, n_foreign);
    END IF;
    IF total = 0 THEN
        PERFORM pgb.record('error: own rows not visible', expected::text, NULL, 0);
    END IF;
    RETURN total;
END $$;

-- Outside any scope: reads and writes must fail with 42501 "no client
-- scope is set", and no scope value may be left over.
CREATE FUNCTION pgb.probe_unscoped(context text) RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n    bigint;
    seen text;
    v    text;
BEGIN
    BEGIN
        SELECT count(*), min(i.client_id::text) INTO n, seen FROM pgb.items i;
        PERFORM pgb.record('leak: unscoped read succeeded', context, seen, n);
    EXCEPTION WHEN insufficient_privilege THEN
        IF SQLERRM <> 'no client scope is set' THEN
            PERFORM pgb.record('error: unexpected 42501 on read', context, SQLERRM, 0);
        END IF;
    END;
    BEGIN
        INSERT INTO pgb.items (writer) VALUES ('00000000-0000-0000-0000-000000000000') RETURNING client_id::text INTO seen;
        PERFORM pgb.record('leak: unscoped insert succeeded', context, seen, 1);
    EXCEPTION WHEN insufficient_privilege THEN
        IF SQLERRM <> 'no client scope is set' THEN
            PERFORM pgb.record('error: unexpected 42501 on insert', context, SQLERRM, 0);
        END IF;
    END;
    -- (the library is loaded by now: a value left over is a value dbcore kept)
    v := current_setting('dbcore.client_id', true);
    IF coalesce(v, '') <> '' THEN
        PERFORM pgb.record('leak: scope value left over', context, v, 0);
    END IF;
    RETURN 0;
END $$;
RESET ROLE;

-- Some rows for every tenant, so that an unscoped read has rows to show.
INSERT INTO pgb.items (client_id, writer)
SELECT pgb.tenant(t), pgb.tenant(t) FROM generate_series(1, :tenants) t, generate_series(1, 20);
ANALYZE pgb.items;
EOF

# ---------------------------------------------------------------------------
# pgbouncer
# ---------------------------------------------------------------------------

bouncer_start_any "$APP $PGUSER" \
    "$DB = host=$PGHOST port=$PGPORT dbname=$DB
$DB_PIN = host=$PGHOST port=$PGPORT dbname=$DB pool_size=1" \
    "default_pool_size = $POOL
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 200
max_db_connections = $((POOL + 1))
server_lifetime = 2
server_idle_timeout = 30
server_reset_query =
log_connections = 1
log_disconnections = 0" || true
if [[ -z "$BPORT" ]]; then
    fail "start pgbouncer"
    tail -n 20 "$WORK/pgbouncer.log" 2>/dev/null | sed 's/^/#   /'
    exit 1
fi
pass "pgbouncer $(bouncer_version) listening on 127.0.0.1:$BPORT and $WORK/sock (pool_mode transaction, pool size $POOL)"

admin() { "$PSQL" -X -q -At -F '|' -h "$WORK/sock" -p "$BPORT" -U "$PGUSER" -d pgbouncer -c "$1"; }
# bq SQL...: the test database through pgbouncer, as the application role
# (each -c is a transaction of its own).
bq() {
    local args=() s
    for s in "$@"; do args+=(-c "$s"); done
    PGOPTIONS="" "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose \
        -h "$WORK/sock" -p "$BPORT" -U "$APP" -d "$DB" "${args[@]}"
}

if bq "SELECT pgb.probe_unscoped('smoke')" >/dev/null 2>&1; then
    pass "a client reaches the database through pgbouncer"
else
    fail "a client reaches the database through pgbouncer"; bq "SELECT 1" 2>&1 | sed 's/^/#   /'; exit 1
fi

# bq_script: a psql script from stdin, the same way.
bq_script() {
    PGOPTIONS="" "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose \
        -h "$WORK/sock" -p "$BPORT" -U "$APP" -d "$DB" -f -
}

# ---------------------------------------------------------------------------
# The workload
# ---------------------------------------------------------------------------

cat >"$WORK/scoped.sql" <<EOF
\\set t random(1, $TENANTS)
\\set rid random(1, 30000)
BEGIN;
SELECT dbcore.set_client(pgb.tenant(:t));
INSERT INTO pgb.items (writer, n) VALUES (pgb.tenant(:t), :t);
UPDATE pgb.items SET n = n + 1, last_writer = pgb.tenant(:t) WHERE id = :rid;
SELECT pgb.check_scope(pgb.tenant(:t));
END;
EOF
cat >"$WORK/session_set.sql" <<EOF
\\set t random(1, $TENANTS)
SET dbcore.client_id = '00000000-0000-4000-8000-000000000001';
SELECT pgb.probe_unscoped('after a plain SET in autocommit');
BEGIN;
SELECT set_config('dbcore.client_id', pgb.tenant(:t)::text, false);
SELECT pgb.check_scope(pgb.tenant(:t));
COMMIT;
SELECT pgb.probe_unscoped('after set_config(..., false) and COMMIT');
EOF
cat >"$WORK/never.sql" <<'EOF'
SELECT pgb.probe_unscoped('never scoped');
EOF

# Watch the pools while the load runs (largest counts seen), by column name.
monitor() {
    while :; do
        "$PSQL" -X -q -A -F '|' -h "$WORK/sock" -p "$BPORT" -U "$PGUSER" -d pgbouncer -c "SHOW POOLS" 2>/dev/null |
            awk -F'|' -v db="$DB" -v out="$WORK/monitor.out" '
                NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
                $col["database"] == db {
                    sv = $col["sv_active"] + $col["sv_idle"] + $col["sv_used"] + $col["sv_tested"] + $col["sv_login"]
                    cl = $col["cl_active"] + $col["cl_waiting"]
                    if ((getline prev < out) > 0) { split(prev, p, " "); close(out) } else { p[1] = 0; p[2] = 0 }
                    if (sv < p[1]) sv = p[1]
                    if (cl < p[2]) cl = p[2]
                    print sv, cl > out; close(out)
                }' || true
        sleep 0.25
    done
}
monitor &
MONITOR_PID=$!

# Raw SQL clients: a plain SET, then a query in the next transaction, each
# through a new pgbouncer client connection; the query must fail with 42501.
raw_probes() {
    local i=0 out
    : >"$WORK/raw.$1.bad"
    while [[ ! -e "$WORK/stop" ]]; do
        i=$((i + 1))
        out="$(bq "SET dbcore.client_id = '$(printf '00000000-0000-4000-8000-%012d' $((i % TENANTS + 1)))'" \
                  "SELECT count(*) FROM pgb.items" 2>&1 || true)"
        if ! grep -q "ERROR:  42501: no client scope is set" <<<"$out"; then
            printf 'probe %s: %s\n' "$i" "$out" >>"$WORK/raw.$1.bad"
        fi
        echo "$i" >"$WORK/raw.$1.count"
    done
}
for i in $(seq 1 "$PROBES_PARALLEL"); do
    raw_probes "$i" &
    PROBE_PIDS+=($!)
done

rc=0
"$PGBENCH" -n -h "$WORK/sock" -p "$BPORT" -U "$APP" -c "$CLIENTS" -j "$THREADS" -T "$DURATION" \
    -f "$WORK/scoped.sql@6" -f "$WORK/session_set.sql@2" -f "$WORK/never.sql@1" \
    "$DB" >"$WORK/pgbench.out" 2>"$WORK/pgbench.err" || rc=$?
touch "$WORK/stop"
for pid in "${PROBE_PIDS[@]}"; do wait "$pid" || true; done
PROBE_PIDS=()
kill "$MONITOR_PID" 2>/dev/null || true
wait "$MONITOR_PID" 2>/dev/null || true
MONITOR_PID=""

aborted="$(grep -c 'aborted' "$WORK/pgbench.err" || true)"
if [[ $rc -eq 0 && "$aborted" -eq 0 ]]; then
    pass "pgbench: $CLIENTS clients ran $DURATION s, no client aborted, no error"
else
    fail "pgbench exited $rc, $aborted clients aborted"
    grep -v '^pgbench: warning' "$WORK/pgbench.err" | head -n 20 | sed 's/^/#   /'
fi
scripts="$(sed -n 's/^SQL script \([0-9]\): .*/\1/p' "$WORK/pgbench.out" | wc -l)"
runs=()
while read -r n; do runs+=("$n"); done < <(sed -n 's/^ - \([0-9]*\) transactions (.*/\1/p' "$WORK/pgbench.out")
if [[ $scripts -eq 3 && ${#runs[@]} -eq 3 && ${runs[0]} -gt 0 && ${runs[1]} -gt 0 && ${runs[2]} -gt 0 ]]; then
    pass "every script ran: scoped ${runs[0]}, session_set ${runs[1]}, never ${runs[2]} times"
else
    fail "every script ran"; sed 's/^/#   /' "$WORK/pgbench.out"
fi

probes=0 bad=0
for i in $(seq 1 "$PROBES_PARALLEL"); do
    probes=$((probes + $(cat "$WORK/raw.$i.count" 2>/dev/null || echo 0)))
    bad=$((bad + $(grep -c '^probe' "$WORK/raw.$i.bad" || true)))
done
if [[ $probes -gt 0 && $bad -eq 0 ]]; then
    pass "raw clients: $probes times a plain SET then a query in the next transaction, each failed with 42501"
else
    fail "raw clients: $bad of $probes probes did not fail with 42501"
    cat "$WORK"/raw.*.bad | head -n 20 | sed 's/^/#   /'
fi

# ---------------------------------------------------------------------------
# Pinned: several clients, one after the other, on one server connection
# ---------------------------------------------------------------------------

# pin_client: one pgbouncer client of the one-connection pool, as the
# application role, running the psql script on stdin (statement by
# statement, going on after errors).  Each script prints the server pid
# first, inside the transaction that matters: a committed transaction in
# between would end a leftover scope and hide what is being tested.
pin_client() {
    PGOPTIONS="" "$PSQL" -X -q -At -v VERBOSITY=terse \
        -h "$WORK/sock" -p "$BPORT" -U "$APP" -d "$DB_PIN" -f - 2>&1 || true
}
# pinned NAME X Y Z: a fresh server connection (no dbcore loaded yet), then
# clients X, Y and Z (psql scripts) in turn.  Z sets no scope: every one of
# its queries must fail with 42501; anything else it prints is a leak.
pinned() {
    local name="$1" x y z pid rest
    admin "KILL $DB_PIN" >/dev/null && admin "RESUME $DB_PIN" >/dev/null
    x="$(pin_client <<<"$2")"
    y="$(pin_client <<<"$3")"
    z="$(pin_client <<<"$4")"
    pid="$(grep -m1 -E '^[0-9]+$' <<<"$x" || true)"
    rest="$(sed '1d' <<<"$z" | grep -v -e 'ERROR:  no client scope is set' -e 'ERROR:  current transaction is aborted' || true)"
    if [[ -z "$pid" || "$(head -n 1 <<<"$z")" != "$pid" || "$(grep -m1 -E '^[0-9]+$' <<<"$y" || true)" != "$pid" ]]; then
        fail "pinned $name: the three clients did not share one server connection"
    elif [[ -z "$rest" ]] && grep -q 'ERROR:  no client scope is set' <<<"$z"; then
        pass "pinned $name: the next client gets 42501 on the same server connection"
        return 0
    else
        pinned_leaks=$((pinned_leaks + 1))
        fail "pinned $name: LEAK: a client that set no scope got another tenant's scope"
    fi
    printf '#   X: %s\n#   Y: %s\n#   Z: %s\n' "${x//$'\n'/ | }" "${y//$'\n'/ | }" "${z//$'\n'/ | }"
}
pinned_leaks=0
T_A="$(printf '00000000-0000-4000-8000-%012d' 1)"
READ="SELECT count(*) || ' rows of ' || string_agg(DISTINCT client_id::text, ',') FROM pgb.items;"
WRITE="INSERT INTO pgb.items (writer) VALUES ('00000000-0000-0000-0000-000000000000') RETURNING 'wrote as ' || client_id;"
PID="SELECT pg_backend_pid();"
# X: tenant A's client leaves a session-level scope behind, on a backend
# that has not loaded dbcore yet.
X_SET="SET dbcore.client_id = '$T_A';
$PID"
X_SET_CONFIG="BEGIN;
$PID
SELECT set_config('dbcore.client_id', '$T_A', false) IS NOT NULL;
COMMIT;"
# Y: an unscoped query that fails (42501, as it must).
Y_FAIL="BEGIN;
$PID
$READ
ROLLBACK;"
pinned "plain SET; a failed unscoped query; an unscoped read" \
    "$X_SET" "$Y_FAIL" "BEGIN;
$PID
$READ
COMMIT;"
pinned "plain SET; a failed unscoped query; an unscoped write" \
    "$X_SET" "$Y_FAIL" "BEGIN;
$PID
$WRITE
COMMIT;"
pinned "set_config(..., false) in a transaction; a failed unscoped query; an unscoped read" \
    "$X_SET_CONFIG" "$Y_FAIL" "BEGIN;
$PID
$READ
COMMIT;"
pinned "plain SET; an unscoped read failing in a savepoint, then read again" \
    "$X_SET" "$PID" "BEGIN;
$PID
SAVEPOINT s;
$READ
ROLLBACK TO SAVEPOINT s;
$READ
COMMIT;"
pinned "set_client in a transaction; an unscoped read" \
    "BEGIN;
$PID
SELECT dbcore.set_client('$T_A'::uuid) IS NULL;
$READ
COMMIT;" "$PID" "BEGIN;
$PID
$READ
COMMIT;"

# ---------------------------------------------------------------------------
# What happened
# ---------------------------------------------------------------------------

stats="$(admin "SHOW STATS" | awk -F'|' -v db="$DB" '$1 == db { print $2 }')"
read -r max_sv max_cl <"$WORK/monitor.out" || { max_sv=0; max_cl=0; }

# Every tenant sees exactly its own rows, through pgbouncer.
tenant_bad=0
for t in $(seq 1 "$TENANTS"); do
    got="$(printf '%s\n' "BEGIN;" "SELECT dbcore.set_client(pgb.tenant($t)) \\g /dev/null" \
              "SELECT count(*) || ' ' || count(*) FILTER (WHERE client_id <> pgb.tenant($t)) FROM pgb.items;" "COMMIT;" |
           bq_script 2>&1 || true)"
    want="$(sql -c "SELECT count(*) || ' 0' FROM pgb.items WHERE client_id = pgb.tenant($t)")"
    if [[ "$got" != "$want" ]]; then
        tenant_bad=$((tenant_bad + 1))
        echo "#   tenant $t: got '$got', wanted '$want'"
    fi
done
if [[ $tenant_bad -eq 0 ]]; then
    pass "each of $TENANTS tenants sees exactly its own rows through pgbouncer"
else
    fail "$tenant_bad tenants saw a wrong set of rows"
fi

bouncer_stop
servers="$(grep -c "^.* S-0x[0-9a-f]*: $DB/.* new connection to server" "$WORK/pgbouncer.log" || true)"

# Rows with the all-zero writer were written by probes without a scope: each
# is also a finding (or a pinned leak) and is counted there.
ZERO=00000000-0000-0000-0000-000000000000
writes="$(sql -c "SELECT count(*) FILTER (WHERE client_id <> writer AND writer <> '$ZERO') || ' ' ||
                         count(*) FILTER (WHERE last_writer <> client_id) || ' ' ||
                         count(*) FILTER (WHERE writer = '$ZERO') || ' ' || count(*) FROM pgb.items")"
read -r wrong_writer wrong_updater unscoped_rows rows <<<"$writes"
if [[ "$wrong_writer" == 0 && "$wrong_updater" == 0 && "$unscoped_rows" == 0 ]]; then
    pass "all $rows rows belong to the tenant that inserted them, and updates touched only the updater's rows"
else
    fail "$wrong_writer rows were stamped with another tenant than their writer's, $wrong_updater rows were updated by another tenant, $unscoped_rows rows were written without a scope"
    sql -c "SELECT writer, client_id, count(*) FROM pgb.items WHERE client_id <> writer OR last_writer <> client_id GROUP BY 1, 2" | sed 's/^/#   /'
fi

findings="$(sql -c "SELECT kind || ' (' || count(*) || ', e.g. ' || min(coalesce(context, '') || ': ' || coalesce(seen, '')) || ')' FROM pgb.findings GROUP BY kind ORDER BY kind")"
leaks="$(sql -c "SELECT count(*) FROM pgb.findings WHERE kind LIKE 'leak:%'")"
leaks=$((leaks + wrong_writer + wrong_updater + bad + pinned_leaks))
errors="$(sql -c "SELECT count(*) FROM pgb.findings WHERE kind NOT LIKE 'leak:%'")"
if [[ -z "$findings" ]]; then
    pass "no leak and no unexpected result recorded by the probes"
else
    fail "the probes recorded findings"
    indent <<<"$findings"
fi

clients=$((CLIENTS + probes + TENANTS + 1 + 5 * 3))
if [[ -n "$stats" && "$stats" -gt 0 && $max_sv -le $POOL && $max_sv -gt 0 && $servers -gt 0 ]]; then
    pass "pooled: at most $max_sv server connections at a time for up to $max_cl clients at a time"
else
    fail "pooling figures: transactions '$stats', at most '$max_sv' server connections at a time (pool $POOL), $servers server sessions"
fi
if [[ $max_cl -le $POOL ]]; then
    fail "fewer clients than server connections at a time ($max_cl): the pool was not shared"
fi

echo "# pgbench: $(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/pgbench.out") script runs, $(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$WORK/pgbench.out" | head -n 1) per second; unexpected results: $errors; $((SECONDS - START)) s"
echo "pgbouncer: ${stats:-0} transactions, $clients clients over $servers server connections, $leaks leaks"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
