#!/usr/bin/env bash
# Shell test: crash safety.  A backend killed with pg_terminate_backend(), a
# backend killed with SIGKILL (the postmaster then kills every backend and
# recovers), and the server stopped with `pg_ctl stop -m immediate`, each in
# the middle of:
#   mig   a transactional migration: dbcore.apply_migration() whose up script
#         created a table and sits in pg_sleep() (the migration lock held);
#   cic   a non-transactional migration run by `dbcore-migrate up`: a
#         "-- migrate:no-transaction" file with CREATE INDEX CONCURRENTLY,
#         caught while it waits for an open writer on the table;
#   bulk  an UPDATE of every row of a 100,000-row table under the updated_at
#         trigger, caught half-way (waiting on a row locked by another session
#         in the middle of the table);
#   scope a scoped write: a transaction of the application role that called
#         dbcore.set_client() and is inserting 20,000 rows, caught half-way
#         (waiting on a conflicting uncommitted row of the same client).
# Every wait is observed in pg_stat_activity / pg_locks, never slept for.
# After recovery it checks: the killed work left nothing behind (no ledger
# row, log row or table of a transactional migration; no row of the update or
# of the scoped write), a crashed non-transactional migration is in_progress
# and `dbcore-migrate up` says to repair it, `repair` then `up` succeed; the
# rows that were committed are intact and each belongs to its client; no
# advisory lock, no lock of a dead process, no prepared transaction; a new
# apply_migration() does not wait; the next `dbcore-migrate up` succeeds; and
# the server log shows exactly the crashes and recoveries caused.
#
# Its own cluster, with fsync, full_page_writes and synchronous_commit on:
# the OS never crashes here, so fsync = off would do for immediate shutdowns
# and SIGKILL, but synchronous_commit = off would not (a commit acknowledged
# before the crash may be lost from the WAL buffers), and the test asserts
# that committed work survives.  Budget: 10-15 s on an idle 2-core machine,
# 25-50 s on a busy one; every wait has a time limit (30 s), and no new
# scenario starts after 300 s.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
unset DBCORE_CLUSTER_NAME DBCORE_CLUSTER_BASE DBCORE_CLUSTER_DATA DBCORE_CLUSTER_LOG \
      PGHOST PGPORT PGDATABASE PGAPPNAME DATABASE_URL
# shellcheck source=tools/lib.sh
source "$ROOT/tools/lib.sh"

started=$SECONDS
TIME_LIMIT=300
WORK="$(mktemp -d "${TMPDIR:-/tmp}/dbcore-crash-work.XXXXXX")"
BG_PIDS=()
finished=0

# shellcheck disable=SC2317  # called from the exit trap
_crash_cleanup() {
    local p
    [[ $finished -eq 1 ]] || echo "not ok - crash_safety.sh stopped before the end (see above)"
    for p in "${BG_PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${BG_PIDS[@]}"; do
        wait "$p" 2>/dev/null
    done
    rm -rf "${WORK:?}"
}
DBCORE_EXIT_HOOKS+=(_crash_cleanup)
cluster_trap

# The tool: the one built in this tree, else the installed one.
if [[ -z "${MIGRATE:-}" ]]; then
    if [[ -x "$ROOT/src/bin/dbcore-migrate/dbcore-migrate" ]]; then
        MIGRATE="$ROOT/src/bin/dbcore-migrate/dbcore-migrate"
    else
        MIGRATE="$(pg_bindir)/dbcore-migrate"
    fi
fi
[[ -x "$MIGRATE" ]] || { echo "not ok - dbcore-migrate not found (make)"; exit 1; }

DBCORE_CLUSTER_CONF="
fsync = on
full_page_writes = on
synchronous_commit = on
autovacuum = off
restart_after_crash = on
"
cluster_start crash >/dev/null
BINDIR="$(pg_bindir)"
PSQL="$BINDIR/psql"
DB=crashdb
export PGDATABASE=$DB

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

checks_passed=0 checks_failed=0
pass() { checks_passed=$((checks_passed + 1)); echo "ok - $*"; }
fail() { checks_failed=$((checks_failed + 1)); echo "not ok - $*"; }

q() {   # q SQL [USER]: one value, errors to stderr, non-zero exit on error
    "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$DB" ${2:+-U "$2"} -c "$1"
}

# qs USER: run the SQL script on stdin as USER, print the non-empty lines
# (a void function such as set_client() prints an empty one).
qs() {
    "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -U "$1" | grep -v '^$'
}

eq() {  # eq DESC SQL EXPECTED [USER]
    local got
    got="$(q "$2" "${4:-}" 2>&1)" || true
    if [[ "$got" == "$3" ]]; then pass "$1"; else fail "$1: got '$got', wanted '$3'"; fi
}

# blocked_by DESC PID APPNAME: PID waits for the session APPNAME.
blocked_by() {
    eq "$1" "SELECT EXISTS (SELECT FROM pg_stat_activity a WHERE a.application_name = '$3'
               AND a.pid = ANY (pg_blocking_pids($2)))" t
}

# amcheck: every B-tree index of TABLE is sound and has every heap row.
check_indexes() {   # check_indexes TAG TABLE
    local got
    got="$(q "SELECT count(*) FROM pg_index i, LATERAL bt_index_check(i.indexrelid, true) c
                WHERE i.indrelid = '$2'::regclass AND i.indisvalid" 2>&1)" || true
    local want
    want="$(q "SELECT count(*) FROM pg_index WHERE indrelid = '$2'::regclass AND indisvalid")"
    if [[ "$got" == "$want" && "$want" -gt 0 ]]; then pass "$1: amcheck finds the $want index(es) of $2 sound and complete"
    else fail "$1: amcheck on $2: '$got' of $want"; fi
}

over_time() { [[ $((SECONDS - started)) -ge $TIME_LIMIT ]]; }

# wait_true DESC SQL: poll until SQL returns t (at most 30 s).
wait_true() {
    local deadline=$((SECONDS + 30)) got
    while :; do
        got="$(q "$2" 2>/dev/null)" || got=''
        [[ "$got" == t ]] && return 0
        if [[ $SECONDS -ge $deadline ]]; then
            echo "# timed out waiting for: $1" >&2
            return 1
        fi
        sleep 0.05
    done
}

# The server accepts queries (after a crash restart or a start).
wait_ready() {
    local deadline=$((SECONDS + 60))
    until q "SELECT 1" >/dev/null 2>&1; do
        [[ $SECONDS -lt $deadline ]] || { echo "# server did not come back" >&2; return 1; }
        sleep 0.1
    done
}

log_count() { grep -c -- "$1" "$DBCORE_CLUSTER_LOG" 2>/dev/null || true; }

# bg NAME CMD...: run CMD in the background, output in $WORK/NAME.out; the
# pid of the background job is in BG_LAST.
bg() {
    local name="$1"; shift
    "$@" >"$WORK/$name.out" 2>&1 </dev/null &
    BG_LAST=$!
    BG_PIDS+=("$BG_LAST")
}

# reap PID: wait for a background job; its exit status in REAPED.
reap() {
    local p keep=()
    REAPED=0
    wait "$1" 2>/dev/null || REAPED=$?
    for p in "${BG_PIDS[@]}"; do
        [[ "$p" == "$1" ]] || keep+=("$p")
    done
    BG_PIDS=(${keep[@]+"${keep[@]}"})
}

# psql for background sessions, named so pg_stat_activity can find them.
session() {   # session APPNAME USER SQL
    PGAPPNAME="$1" "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -U "$2" -c "$3"
}

backend_of() {   # backend_of APPNAME: the pid of that session's backend
    q "SELECT pid FROM pg_stat_activity WHERE application_name = '$1' ORDER BY backend_start DESC LIMIT 1"
}

recoveries_expected=0 sigkills_expected=0

# kill_backend METHOD PID: kill the backend (or the server) and wait until
# the server answers again.
kill_backend() {
    local method="$1" pid="$2" before
    case "$method" in
        terminate)
            [[ "$(q "SELECT pg_terminate_backend($pid)")" == t ]] || return 1
            wait_true "backend $pid gone" "SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $pid)"
            ;;
        sigkill)
            before="$(log_count 'all server processes terminated; reinitializing')"
            kill -KILL "$pid"
            sigkills_expected=$((sigkills_expected + 1))
            recoveries_expected=$((recoveries_expected + 1))
            # The postmaster has noticed and restarted the backends (else a
            # connection could slip in before it reacts).
            local deadline=$((SECONDS + 60))
            until [[ "$(log_count 'all server processes terminated; reinitializing')" -gt "$before" ]]; do
                [[ $SECONDS -lt $deadline ]] || { echo "# the postmaster did not reinitialize" >&2; return 1; }
                sleep 0.05
            done
            wait_ready
            ;;
        immediate)
            _dbcore_as_pg "$BINDIR/pg_ctl" -D "$DBCORE_CLUSTER_DATA" -m immediate -w -t 60 stop >/dev/null
            recoveries_expected=$((recoveries_expected + 1))
            _dbcore_as_pg "$BINDIR/pg_ctl" -D "$DBCORE_CLUSTER_DATA" -l "$DBCORE_CLUSTER_LOG" -w -t 60 start >/dev/null
            wait_ready
            ;;
    esac
}

# Checks every scenario ends with.
check_no_stale_state() {
    local tag="$1" t0 t1 got
    eq "$tag: no advisory lock left" "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'" 0
    eq "$tag: no lock of a process that is gone" \
        "SELECT count(*) FROM pg_locks l WHERE l.pid IS NOT NULL AND NOT EXISTS (SELECT FROM pg_stat_activity a WHERE a.pid = l.pid)" 0
    eq "$tag: no prepared transaction" "SELECT count(*) FROM pg_prepared_xacts" 0
    # A new migration takes the lock at once (and is rolled back).
    t0=$(date +%s%N)
    got="$("$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$DB" 2>&1 <<'SQL'
BEGIN;
SET LOCAL lock_timeout = '2s';
SELECT dbcore.apply_migration('999999', 'probe', 'CREATE TABLE crash_probe (id int)');
ROLLBACK;
SQL
)" || true
    t1=$(date +%s%N)
    if [[ "$got" == t && $(( (t1 - t0) / 1000000 )) -lt 2000 ]]; then
        pass "$tag: a new apply_migration does not wait ($(( (t1 - t0) / 1000000 )) ms)"
    else
        fail "$tag: a new apply_migration: got '$got' after $(( (t1 - t0) / 1000000 )) ms"
    fi
    eq "$tag: the probe left nothing" \
        "SELECT (SELECT count(*) FROM dbcore.migrations WHERE version = '999999') + (to_regclass('crash_probe') IS NOT NULL)::int" 0
}

# The next `dbcore-migrate up` applies a new file and everything matches.
check_next_up() {
    local tag="$1" v="$2" rc=0
    printf 'CREATE TABLE crash_after_%s (id int);\n-- migrate:down\nDROP TABLE crash_after_%s;\n' "$v" "$v" \
        >"$WORK/migrations/${v}_after_${tag//[^a-z0-9]/_}.sql"
    "$MIGRATE" --dir "$WORK/migrations" --wait=5 up >"$WORK/up.out" 2>&1 || rc=$?
    if [[ $rc -eq 0 ]]; then
        pass "$tag: the next dbcore-migrate up succeeds"
    else
        fail "$tag: the next dbcore-migrate up exited $rc"
        sed 's/^/#   /' "$WORK/up.out"
    fi
    eq "$tag: the new migration is applied" \
        "SELECT state || ',' || (to_regclass('crash_after_$v') IS NOT NULL) FROM dbcore.migrations WHERE version = '$v'" "applied,true"
    rc=0
    "$MIGRATE" --dir "$WORK/migrations" verify >"$WORK/verify.out" 2>&1 || rc=$?
    if [[ $rc -eq 0 ]]; then
        pass "$tag: dbcore-migrate verify finds files and ledger in agreement"
    else
        fail "$tag: dbcore-migrate verify exited $rc"
        sed 's/^/#   /' "$WORK/verify.out"
    fi
}

# ---------------------------------------------------------------------------
# The database
# ---------------------------------------------------------------------------

mkdir "$WORK/migrations"
"$PSQL" -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $DB" >/dev/null
"$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION dbcore;
CREATE EXTENSION amcheck;
CREATE ROLE crash_app LOGIN;
GRANT USAGE ON SCHEMA dbcore TO crash_app;

-- bulk: every row has v = generation and one shared updated_at.
CREATE TABLE bulk (id int PRIMARY KEY, v int NOT NULL,
                   updated_at timestamptz NOT NULL);
INSERT INTO bulk SELECT g, 0, '2000-01-01 00:00:00+00' FROM generate_series(1, 100000) g;
SELECT dbcore.attach_updated_at('bulk');

-- big: the table of the CREATE INDEX CONCURRENTLY migrations.
CREATE TABLE big (id int PRIMARY KEY, x int NOT NULL);
INSERT INTO big SELECT g, g % 1000 FROM generate_series(1, 100000) g;

-- orders: tenant-scoped, owned by the application role.
CREATE TABLE orders (client_id bigint NOT NULL, id bigint NOT NULL, item text NOT NULL,
                     PRIMARY KEY (client_id, id));
ALTER TABLE orders OWNER TO crash_app;
GRANT SELECT ON bulk, big TO crash_app;
VACUUM ANALYZE bulk, big;
SQL
q "SELECT dbcore.enable_tenant_scoping('orders')" crash_app >/dev/null
for c in 1 2 3; do
    session seed crash_app "BEGIN; SELECT dbcore.set_client($c::bigint);
        INSERT INTO orders (id, item) SELECT g, 'c$c' FROM generate_series(1, 1000) g; COMMIT;" >/dev/null
done
# The ledger starts with one migration applied through the tool.
printf 'CREATE TABLE crash_base (id int);\n-- migrate:down\nDROP TABLE crash_base;\n' \
    >"$WORK/migrations/0001_base.sql"
"$MIGRATE" --dir "$WORK/migrations" -q up
echo "ok - setup: database with the updated_at trigger, a scoped table and a ledger"

bulk_gen=0       # every row of bulk has v = bulk_gen
orders_next=100000   # ids of new committed order rows
ver=10           # migration versions, increasing

# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------

# mig METHOD: kill apply_migration while its up script sleeps.
scenario_mig() {
    local method="$1" tag="mig/$1" v pid
    ver=$((ver + 10)); v=$(printf '%04d' "$ver")
    bg target session crash_target postgres \
        "SELECT dbcore.apply_migration('$v', 'slow', 'CREATE TABLE crash_mig_$v (id int); SELECT pg_sleep(120);')"
    local job=$BG_LAST
    wait_true "apply_migration $v sleeping" \
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'crash_target' AND wait_event = 'PgSleep')" ||
        { fail "$tag: the migration never reached its sleep"; return; }
    pid="$(backend_of crash_target)"
    eq "$tag: before the kill the migration holds the advisory lock" \
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = $pid AND granted" 1
    kill_backend "$method" "$pid" || { fail "$tag: the kill or the recovery failed"; return; }
    reap "$job"
    if [[ "$REAPED" -ne 0 ]]; then pass "$tag: the migration's client saw the failure (exit $REAPED)"
    else fail "$tag: apply_migration completed: the kill came too late"; fi
    eq "$tag: no ledger row for the killed migration" \
        "SELECT count(*) FROM dbcore.migrations WHERE version = '$v'" 0
    eq "$tag: no history row for it" "SELECT count(*) FROM dbcore.migration_log WHERE version = '$v'" 0
    eq "$tag: its table is not there" "SELECT to_regclass('crash_mig_$v') IS NULL" t
    check_no_stale_state "$tag"
    # The same version as a file: up applies it normally now.
    printf 'CREATE TABLE crash_mig_%s (id int);\n-- migrate:down\nDROP TABLE crash_mig_%s;\n' "$v" "$v" \
        >"$WORK/migrations/${v}_slow.sql"
    check_next_up "$tag" "$(printf '%04d' $((ver + 1)))"
    eq "$tag: the killed version, run again by up, is applied with its table" \
        "SELECT state || ',' || (to_regclass('crash_mig_$v') IS NOT NULL) FROM dbcore.migrations WHERE version = '$v'" "applied,true"
}

# cic METHOD: kill `dbcore-migrate up` while CREATE INDEX CONCURRENTLY waits.
scenario_cic() {
    local method="$1" tag="cic/$1" v pid rc blocker
    ver=$((ver + 10)); v=$(printf '%04d' "$ver")
    printf -- '-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY big_x_%s ON big (x);\n-- migrate:down\nDROP INDEX big_x_%s;\n' \
        "$v" "$v" >"$WORK/migrations/${v}_index.sql"
    # An open writer on big: CREATE INDEX CONCURRENTLY waits for it.
    bg blocker session crash_blocker postgres \
        "BEGIN; UPDATE big SET x = x WHERE id = 1; SELECT pg_sleep(120); COMMIT;"
    blocker=$BG_LAST
    wait_true "the blocker holds its row" \
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'crash_blocker' AND wait_event = 'PgSleep')" ||
        { fail "$tag: the blocker did not start"; return; }
    bg target env PGAPPNAME=crash_target "$MIGRATE" --dir "$WORK/migrations" up
    local job=$BG_LAST
    wait_true "CREATE INDEX CONCURRENTLY waiting" \
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'crash_target' AND query LIKE '%CREATE INDEX CONCURRENTLY big_x_$v %' AND wait_event_type = 'Lock')" ||
        { fail "$tag: CREATE INDEX CONCURRENTLY never started waiting"; cat "$WORK/target.out"; return; }
    pid="$(backend_of crash_target)"
    blocked_by "$tag: CREATE INDEX CONCURRENTLY waits for the open writer" "$pid" crash_blocker
    eq "$tag: before the kill the ledger shows it in progress" \
        "SELECT state FROM dbcore.migrations WHERE version = '$v'" in_progress
    kill_backend "$method" "$pid" || { fail "$tag: the kill or the recovery failed"; return; }
    reap "$job"
    if [[ "$REAPED" -ne 0 ]]; then pass "$tag: dbcore-migrate up failed (exit $REAPED)"
    else fail "$tag: dbcore-migrate up succeeded: the kill came too late"; fi
    if [[ "$method" == terminate ]]; then
        q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'crash_blocker'" >/dev/null
    fi
    reap "$blocker"
    eq "$tag: after the crash the ledger still shows it in progress" \
        "SELECT state FROM dbcore.migrations WHERE version = '$v'" in_progress
    eq "$tag: the half-built index is there and invalid" \
        "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('big_x_$v')" f
    eq "$tag: dbcore.health() warns about it" \
        "SELECT dbcore.health()->>'status' || ',' || (dbcore.health()->'migrations'->'in_progress'->0->>'version')" "warning,$v"
    # The session that began it is gone: up does not wait for it (not even
    # with a long --wait), says so and says to repair.
    rc=0 t0=$SECONDS
    "$MIGRATE" --dir "$WORK/migrations" --wait=120 up >"$WORK/up.out" 2>&1 || rc=$?
    if [[ $rc -eq 1 ]] && grep -q "migration $v \".*\" was interrupted" "$WORK/up.out" &&
       grep -q "has ended: the migration was interrupted" "$WORK/up.out" &&
       grep -q "repair_migration('$v')" "$WORK/up.out"; then
        pass "$tag: dbcore-migrate up refuses, says the migration was interrupted and to check the schema and repair $v"
    else
        fail "$tag: dbcore-migrate up: exit $rc, wanted 1 with an interrupted-migration detail and a repair hint"
        sed 's/^/#   /' "$WORK/up.out"
    fi
    if ((SECONDS - t0 < 30)); then
        pass "$tag: dbcore-migrate up --wait=120 did not wait for the ended session ($((SECONDS - t0)) s)"
    else
        fail "$tag: dbcore-migrate up waited $((SECONDS - t0)) s for a session that has ended"
    fi
    eq "$tag: the refused up changed nothing" \
        "SELECT string_agg(event, ',' ORDER BY id) FROM dbcore.migration_log WHERE version = '$v'" begun
    # What the hint says: drop the invalid index, repair, run up again.
    q "DROP INDEX big_x_$v" >/dev/null
    rc=0
    "$MIGRATE" --dir "$WORK/migrations" repair "$v" >"$WORK/repair.out" 2>&1 || rc=$?
    if [[ $rc -eq 0 ]]; then pass "$tag: dbcore-migrate repair $v"
    else fail "$tag: dbcore-migrate repair exited $rc"; sed 's/^/#   /' "$WORK/repair.out"; fi
    check_no_stale_state "$tag"
    check_next_up "$tag" "$(printf '%04d' $((ver + 1)))"
    eq "$tag: the index migration ran again, begun, repaired, begun, finished" \
        "SELECT string_agg(event, ',' ORDER BY id) FROM dbcore.migration_log WHERE version = '$v'" \
        "begun,repaired,begun,finished"
    check_indexes "$tag" big
    eq "$tag: and its index is valid" \
        "SELECT m.state || ',' || i.indisvalid FROM dbcore.migrations m, pg_index i WHERE m.version = '$v' AND i.indexrelid = to_regclass('big_x_$v')" \
        "applied,true"
}

# bulk METHOD: kill an UPDATE of every row half-way.
scenario_bulk() {
    local method="$1" tag="bulk/$1" mid pid blocker before_ts
    before_ts="$(q "SELECT min(updated_at) FROM bulk")"
    # The row in the middle of the heap, locked by another session: the
    # update stops there with half the table done.
    mid="$(q "SELECT id FROM bulk ORDER BY ctid OFFSET 50000 LIMIT 1")"
    bg blocker session crash_blocker postgres \
        "BEGIN; SELECT 1 FROM bulk WHERE id = $mid FOR UPDATE; SELECT pg_sleep(120); COMMIT;"
    blocker=$BG_LAST
    wait_true "the blocker holds row $mid" \
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'crash_blocker' AND wait_event = 'PgSleep')" ||
        { fail "$tag: the blocker did not start"; return; }
    bg target session crash_target postgres "UPDATE bulk SET v = v + 1"
    local job=$BG_LAST
    wait_true "the update waiting on row $mid" \
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'crash_target' AND wait_event_type = 'Lock')" ||
        { fail "$tag: the update never reached the locked row"; return; }
    pid="$(backend_of crash_target)"
    blocked_by "$tag: the update waits for the session holding row $mid" "$pid" crash_blocker
    kill_backend "$method" "$pid" || { fail "$tag: the kill or the recovery failed"; return; }
    reap "$job"
    if [[ "$REAPED" -ne 0 ]]; then pass "$tag: the update's client saw the failure (exit $REAPED)"
    else fail "$tag: the update completed: the kill came too late"; fi
    if [[ "$method" == terminate ]]; then
        q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'crash_blocker'" >/dev/null
    fi
    reap "$blocker"
    eq "$tag: nothing of the killed update remains (v and updated_at as before, all 100000 rows)" \
        "SELECT count(*) || ',' || count(*) FILTER (WHERE v = $bulk_gen AND updated_at = '$before_ts') FROM bulk" \
        "100000,100000"
    check_indexes "$tag" bulk
    # The same update, not killed: all rows, one new updated_at.
    if q "UPDATE bulk SET v = v + 1" >/dev/null; then
        bulk_gen=$((bulk_gen + 1))
        eq "$tag: the update run again changes every row and the trigger stamps them all" \
            "SELECT count(*) FILTER (WHERE v = $bulk_gen) || ',' || count(DISTINCT updated_at) || ',' || (min(updated_at) > '$before_ts') FROM bulk" \
            "100000,1,true"
    else
        fail "$tag: the update run again failed"
    fi
    check_no_stale_state "$tag"
    ver=$((ver + 10))
    check_next_up "$tag" "$(printf '%04d' "$ver")"
}

# scope METHOD: kill a scoped insert of 20,000 rows half-way.
scenario_scope() {
    local method="$1" tag="scope/$1" pid blocker k counts got
    counts="$(q "SELECT string_agg(client_id || ':' || n, ' ' ORDER BY client_id) FROM (SELECT client_id, count(*) n FROM orders GROUP BY 1) s")"
    k=$((orders_next + 10000))
    # Another transaction of client 1 has inserted id k, uncommitted: the
    # scoped insert waits there, with 10,000 rows inserted.
    bg blocker session crash_blocker crash_app \
        "BEGIN; SELECT dbcore.set_client(1::bigint); INSERT INTO orders (id, item) VALUES ($k, 'c1-blocker'); SELECT pg_sleep(120); COMMIT;"
    blocker=$BG_LAST
    wait_true "the blocker inserted its row" \
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'crash_blocker' AND wait_event = 'PgSleep')" ||
        { fail "$tag: the blocker did not start"; cat "$WORK/blocker.out"; return; }
    bg target session crash_target crash_app \
        "BEGIN; SELECT dbcore.set_client(1::bigint);
         UPDATE orders SET item = 'c1-killed' WHERE id <= 500;
         INSERT INTO orders (id, item) SELECT g, 'c1-killed' FROM generate_series($orders_next, $((orders_next + 19999))) g;
         COMMIT;"
    local job=$BG_LAST
    wait_true "the scoped insert waiting at id $k" \
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'crash_target' AND wait_event_type = 'Lock')" ||
        { fail "$tag: the scoped insert never reached the conflicting row"; cat "$WORK/target.out"; return; }
    pid="$(backend_of crash_target)"
    blocked_by "$tag: the scoped insert waits for the other writer of client 1" "$pid" crash_blocker
    kill_backend "$method" "$pid" || { fail "$tag: the kill or the recovery failed"; return; }
    reap "$job"
    if [[ "$REAPED" -ne 0 ]]; then pass "$tag: the scoped writer's client saw the failure (exit $REAPED)"
    else fail "$tag: the scoped write completed: the kill came too late"; fi
    if [[ "$method" == terminate ]]; then
        q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'crash_blocker'" >/dev/null
    fi
    reap "$blocker"
    eq "$tag: no row of the killed write or of the blocker remains" \
        "SELECT count(*) FROM orders WHERE item LIKE '%killed' OR item LIKE '%blocker'" 0
    eq "$tag: every client still has exactly its committed rows" \
        "SELECT string_agg(client_id || ':' || n, ' ' ORDER BY client_id) FROM (SELECT client_id, count(*) n FROM orders GROUP BY 1) s" \
        "$counts"
    eq "$tag: every row belongs to the client that wrote it" \
        "SELECT count(*) FROM orders WHERE item NOT LIKE 'c' || client_id || '%'" 0
    check_indexes "$tag" orders
    # The application role: no scope survives, a new scoped write works and
    # sees only its client.
    local err
    err="$(q "SELECT count(*) FROM orders" crash_app 2>&1)" || true
    if [[ "$err" == *"no client scope is set"* ]]; then
        pass "$tag: a new session of the application role has no client scope"
    else
        fail "$tag: unscoped query of the application role: '$err'"
    fi
    got="$(qs crash_app 2>&1 <<SQL
BEGIN;
SELECT dbcore.set_client(2::bigint);
INSERT INTO orders (id, item) SELECT g, 'c2-after-$method' FROM generate_series($orders_next, $((orders_next + 9))) g;
SELECT count(*) FILTER (WHERE client_id <> 2) || ',' || count(*) FILTER (WHERE item = 'c2-after-$method') FROM orders;
COMMIT;
SQL
)" || true
    if [[ "$got" == "0,10" ]]; then pass "$tag: a new scoped write of client 2 works and sees only client 2's rows"
    else fail "$tag: a new scoped write of client 2: got '$got', wanted '0,10'"; fi
    orders_next=$((orders_next + 20000))
    eq "$tag: and as the superuser those rows carry client 2" \
        "SELECT string_agg(DISTINCT client_id::text, ',') FROM orders WHERE item = 'c2-after-$method'" 2
    check_no_stale_state "$tag"
    ver=$((ver + 10))
    check_next_up "$tag" "$(printf '%04d' "$ver")"
}

scenarios=0 scenarios_passed=0
run() {   # run KIND METHOD
    local before=$checks_failed
    if over_time; then
        fail "$1/$2: not run, the time limit of ${TIME_LIMIT}s is used up"
        scenarios=$((scenarios + 1))
        return
    fi
    echo "# scenario $1/$2"
    scenarios=$((scenarios + 1))
    "scenario_$1" "$2"
    if [[ $checks_failed -eq $before ]]; then
        scenarios_passed=$((scenarios_passed + 1))
    else
        # Whatever it left running: end it before the next scenario.
        q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name IN ('crash_target', 'crash_blocker')" >/dev/null 2>&1 || true
    fi
}

for method in terminate sigkill immediate; do
    for kind in mig cic bulk scope; do
        run "$kind" "$method"
    done
done

# ---------------------------------------------------------------------------
# The server log: exactly the crashes we caused, each recovered.
# ---------------------------------------------------------------------------

n="$(log_count 'was terminated by signal 9')"
if [[ "$n" -eq $sigkills_expected ]]; then pass "server log: $n backends killed by SIGKILL, as caused"
else fail "server log: $n backends killed by SIGKILL, $sigkills_expected caused"; fi
n="$(log_count 'automatic recovery in progress')"
if [[ "$n" -eq $recoveries_expected ]]; then pass "server log: $n crash recoveries, as caused"
else fail "server log: $n crash recoveries, $recoveries_expected caused"; fi
n="$(grep -cE 'PANIC|terminated by signal (6|11)|exited with exit code [2-9]' "$DBCORE_CLUSTER_LOG" || true)"
if [[ "$n" -eq 0 ]]; then pass "server log: no PANIC, no other crash"
else fail "server log: $n unexpected crash lines"; grep -E 'PANIC|terminated by signal (6|11)|exited with exit code [2-9]' "$DBCORE_CLUSTER_LOG" | head -n 10; fi

finished=1
echo "crash safety: $scenarios scenarios, $scenarios_passed passed; $checks_passed checks passed, $checks_failed failed; $((SECONDS - started)) s"
[[ $checks_failed -eq 0 && $scenarios_passed -eq $scenarios ]]
