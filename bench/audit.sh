#!/usr/bin/env bash
# bench/audit.sh: what do the audit trail and soft delete cost?
#
#   bash bench/audit.sh [--quick] [--no-build] [--no-deps] [--skip-bulk] [--skip-oltp] [--skip-reads]
#                       [--callgrind]
#
# Installs missing packages, builds and installs dbcore, starts a throwaway
# PostgreSQL cluster (tuned so that I/O stays out of the picture) and
# measures, against baselines measured in the same run, in alternating
# rounds, medians:
#
#  1. bulk: an UPDATE of one column of every row, and a DELETE of every row,
#     of a table of ROWS rows, under four variants:
#       floor     no trigger
#       plpgsql   the hand-written kind of audit trigger: PL/pgSQL, AFTER
#                 INSERT OR UPDATE OR DELETE FOR EACH ROW, inserting
#                 TG_TABLE_NAME, TG_OP, to_jsonb(OLD), to_jsonb(NEW) and
#                 current_user into a history table (bigserial key)
#       plpgsql_idx  the same, as supa_audit and the PostgreSQL wiki's audit
#                 trigger do it, with what finds a row's history again: the
#                 row's id in a column of its own, a btree index on
#                 (table_name, record_id) and a BRIN index on the time
#       dbcore    dbcore.enable_audit() on the table
#     Each trigger's overhead is its median minus the floor's; the target is
#     dbcore's overhead at most 0.35x the (plain) PL/pgSQL trigger's, for
#     both; the ratio to plpgsql_idx, the like-for-like one, is reported too.
#  2. oltp: pgbench, one client, prepared statements: a single-row UPDATE
#     by primary key (autocommit), with and without dbcore's audit trail
#     on the table, alternating runs of OLTP_SECONDS; the target is at
#     least 0.9x the throughput without.  Measured twice: with the
#     benchmarks' settings (fsync and synchronous_commit off: the trigger's
#     share as large as it gets), then with durable commits (fsync,
#     synchronous_commit and full_page_writes on, what users run); the
#     report judges each.
#  3. reads: soft delete's read path against the hand-written one: a table
#     with a tenth of its rows marked, read by an ordinary role (row level
#     security applies) through a point lookup by key and a listing by
#     customer (LIMIT 20) that a partial index WHERE deleted_at IS NULL
#     serves; the hand-written table has the same indexes and no policies,
#     and its queries say WHERE deleted_at IS NULL.  pgbench, one client,
#     prepared statements, alternating runs; the target is at least 1.0x
#     the hand-written throughput (within the run's noise), and the same
#     plan.
#
# It prints a Markdown report and whether the run met the targets, and
# writes it to bench/results/audit-latest.md.  A measurement, not a test: it
# exits 0 whether or not the targets were met.
#
# Options:
#   --quick      smoke run: ROWS=30000 ROUNDS=3 OLTP_SECONDS=3 unless set;
#                the report is printed but not written unless RESULTS_FILE is set
#   --no-build   use the dbcore already installed
#   --no-deps    don't check for or install Debian packages
#   --skip-bulk, --skip-oltp, --skip-reads   leave a part out
#   --callgrind  also count instructions (valgrind --tool=callgrind, the
#                cluster restarted under it): per row of the bulk UPDATE and
#                DELETE of CG_ROWS rows, per single-row OLTP transaction;
#                deterministic, whatever else the machine does (adds about
#                15 minutes)
#
# Settings (environment):
#   ROWS=300000        rows of the bulk table
#   ROUNDS=7           rounds of the bulk part (every variant once per round)
#   OLTP_SECONDS=10    length of one pgbench run (parts 2 and 3)
#   OLTP_ROUNDS=5      pgbench runs per variant (parts 2 and 3)
#   READ_ROWS=200000   rows of the soft-delete tables
#   CG_ROWS=20000      rows of the bulk statements under callgrind
#   RESULTS_FILE       where to write the report (default bench/results/audit-latest.md)
#   DBCORE_KEEP_CLUSTER=1  leave the cluster running after a normal exit
set -euo pipefail

# shellcheck source=tools/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tools/lib.sh"
cd "$DBCORE_ROOT"

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit "${1:-0}"
}

quick=0 build=1 deps=1 do_bulk=1 do_oltp=1 do_reads=1 callgrind=0
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        --no-build) build=0 ;;
        --no-deps) deps=0 ;;
        --skip-bulk) do_bulk=0 ;;
        --skip-oltp) do_oltp=0 ;;
        --skip-reads) do_reads=0 ;;
        --callgrind) callgrind=1 ;;
        -h|--help) usage 0 ;;
        *) echo "unknown option: $arg" >&2; usage 2 >&2 ;;
    esac
done
command="bash bench/audit.sh${*:+ $*}"
for var in ROWS ROUNDS OLTP_SECONDS OLTP_ROUNDS READ_ROWS CG_ROWS; do
    if [[ -n "${!var:-}" ]]; then command="$var=${!var} $command"; fi
done
if [[ $quick == 1 ]]; then
    ROWS="${ROWS:-30000}" ROUNDS="${ROUNDS:-3}" OLTP_SECONDS="${OLTP_SECONDS:-3}"
    OLTP_ROUNDS="${OLTP_ROUNDS:-2}" READ_ROWS="${READ_ROWS:-20000}"
    RESULTS_FILE="${RESULTS_FILE:-}"
else
    ROWS="${ROWS:-300000}" ROUNDS="${ROUNDS:-7}" OLTP_SECONDS="${OLTP_SECONDS:-10}"
    OLTP_ROUNDS="${OLTP_ROUNDS:-5}" READ_ROWS="${READ_ROWS:-200000}"
    RESULTS_FILE="${RESULTS_FILE-bench/results/audit-latest.md}"
fi
CG_ROWS="${CG_ROWS:-20000}"
for var in ROWS ROUNDS OLTP_SECONDS OLTP_ROUNDS READ_ROWS CG_ROWS; do
    [[ "${!var}" =~ ^[0-9]+$ && "${!var}" -ge 1 ]] || die "$var must be a positive whole number (got '${!var}')"
done

TARGET_BULK=0.35      # dbcore's per-row overhead ÷ PL/pgSQL's, at most
TARGET_OLTP=0.90      # audited ÷ unaudited single-row throughput, at least
TARGET_READS=1.00     # soft delete ÷ hand-written read throughput, at least

started=$SECONDS
WORK="$(mktemp -d "${TMPDIR:-/tmp}/dbcore-benchfiles.XXXXXX")"
# shellcheck disable=SC2317  # called from the exit trap
_remove_work() { rm -rf "${WORK:?}"; }
DBCORE_EXIT_HOOKS+=(_remove_work)
cluster_trap

if [[ $callgrind == 1 ]] && ! command -v valgrind >/dev/null 2>&1; then
    die "--callgrind needs valgrind (apt-get install valgrind)"
fi
[[ $deps == 0 ]] || dbcore_install_deps
[[ $build == 0 ]] || dbcore_build_install

# The benchmarks' settings (tools/lib.sh): WAL is generated but never waited
# for, everything fits in shared_buffers, no checkpoint or autovacuum starts
# on its own.
export DBCORE_CLUSTER_CONF="$DBCORE_BENCH_CONF"
cluster_start bench

PSQL="$(pg_bin psql)"
PGBENCH="$(pg_bin pgbench)"
psql_run() { "$PSQL" -X -q -v ON_ERROR_STOP=1 "$@"; }
pg_version="$(psql_run -At -c 'SHOW server_version')"
say "PostgreSQL $pg_version"

psql_run <<'SQL'
CREATE EXTENSION dbcore;
CREATE EXTENSION pg_prewarm;
CREATE ROLE bench_app LOGIN;
GRANT USAGE ON SCHEMA dbcore TO bench_app;
-- The hand-written audit trigger, of the common kind.
CREATE TABLE plpgsql_audit_log (
    id         bigserial PRIMARY KEY,
    table_name text NOT NULL,
    op         text NOT NULL,
    old_data   jsonb,
    new_data   jsonb,
    changed_by text NOT NULL DEFAULT current_user,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE FUNCTION plpgsql_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO plpgsql_audit_log (table_name, op, old_data, new_data)
    VALUES (TG_TABLE_NAME, TG_OP,
            CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) END,
            CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) END);
    RETURN NULL;
END $$;
-- The same, with what finds a row's history again (supa_audit, the wiki's
-- audit trigger): the row's id in a column, indexed with the table name,
-- and a BRIN index on the time.
CREATE TABLE plpgsql_audit_log_idx (
    id         bigserial PRIMARY KEY,
    table_name text NOT NULL,
    op         text NOT NULL,
    record_id  text,
    old_data   jsonb,
    new_data   jsonb,
    changed_by text NOT NULL DEFAULT current_user,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON plpgsql_audit_log_idx (table_name, record_id);
CREATE INDEX ON plpgsql_audit_log_idx USING brin (changed_at);
CREATE FUNCTION plpgsql_audit_idx() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    o jsonb := CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) END;
    n jsonb := CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) END;
BEGIN
    INSERT INTO plpgsql_audit_log_idx (table_name, op, record_id, old_data, new_data)
    VALUES (TG_TABLE_NAME, TG_OP, coalesce(n, o) ->> 'id', o, n);
    RETURN NULL;
END $$;
-- Emptying the logs between runs (dbcore's is append-only: a superuser
-- switches its guard off for that, in this benchmark only).
CREATE FUNCTION bench_empty_logs() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE plpgsql_audit_log, plpgsql_audit_log_idx;
    ALTER TABLE dbcore.audit_log DISABLE TRIGGER dbcore_audit_log_append_only;
    TRUNCATE dbcore.audit_log;
    ALTER TABLE dbcore.audit_log ENABLE TRIGGER dbcore_audit_log_append_only;
END $$;
SQL

report=""
verdicts=()

median_sql() {   # median_sql TABLE: variant|median|min|max per variant
    echo "SELECT variant, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY v)::numeric, 1),
                 round(min(v)::numeric, 1), round(max(v)::numeric, 1)
            FROM $1 GROUP BY variant ORDER BY variant;"
}

# --------------------------------------------------------------------------
# The bulk statements' table, for part 1 and for --callgrind
# --------------------------------------------------------------------------
BULK_VARIANTS=(floor plpgsql plpgsql_idx dbcore)
seed_rows=0
if [[ $do_bulk == 1 ]]; then seed_rows=$ROWS; fi
if [[ $callgrind == 1 ]] && ((CG_ROWS > seed_rows)); then seed_rows=$CG_ROWS; fi
if ((seed_rows > 0)); then
    psql_run <<SQL
CREATE TABLE bulk_seed (
    id         bigint PRIMARY KEY,
    customer   integer NOT NULL,
    payload    integer NOT NULL,
    note       text NOT NULL,
    amount     numeric(12,2) NOT NULL,
    created_at timestamptz NOT NULL
);
INSERT INTO bulk_seed
SELECT i, i % 1000, ((i::bigint * 7919) % 100000)::integer, md5(i::text), (i % 10000) / 100.0,
       timestamptz '2020-01-01 00:00:00+00' + i * interval '1 second'
  FROM generate_series(1, $seed_rows) AS i;
VACUUM (FREEZE, ANALYZE) bulk_seed;
CREATE TABLE bulk_run (round int, op text, variant text, v double precision);
SQL
fi
fresh_copy() {   # fresh_copy LIMIT VARIANT
    cat <<SQL
SELECT bench_empty_logs();
DROP TABLE IF EXISTS t;
CREATE TABLE t (LIKE bulk_seed INCLUDING ALL) WITH (fillfactor = 50);
INSERT INTO t SELECT * FROM bulk_seed ORDER BY id LIMIT $1;
VACUUM (FREEZE, ANALYZE) t;
SQL
    case "$2" in
        plpgsql) echo "CREATE TRIGGER t_audit AFTER INSERT OR UPDATE OR DELETE ON t FOR EACH ROW EXECUTE FUNCTION plpgsql_audit();" ;;
        plpgsql_idx) echo "CREATE TRIGGER t_audit AFTER INSERT OR UPDATE OR DELETE ON t FOR EACH ROW EXECUTE FUNCTION plpgsql_audit_idx();" ;;
        dbcore) echo "SELECT dbcore.enable_audit('t');" ;;
    esac
    echo "SELECT pg_prewarm('t') + pg_prewarm('t_pkey') AS prewarmed \\gset"
}
log_count() {   # the rows the variant must have logged
    case "$1" in
        floor) echo "0" ;;
        plpgsql) echo "(SELECT count(*) FROM plpgsql_audit_log)" ;;
        plpgsql_idx) echo "(SELECT count(*) FROM plpgsql_audit_log_idx)" ;;
        dbcore) echo "(SELECT count(*) FROM dbcore.audit_log)" ;;
    esac
}

# --------------------------------------------------------------------------
# 1. Bulk UPDATE and DELETE
# --------------------------------------------------------------------------
if [[ $do_bulk == 1 ]]; then
    say "bulk: $ROWS rows, $ROUNDS rounds x ${#BULK_VARIANTS[@]} variants x (UPDATE, DELETE)"
    {
        echo "SET client_min_messages = warning;"
        for v in "${BULK_VARIANTS[@]}"; do       # warm-up, untimed
            fresh_copy 2000 "$v"; echo "UPDATE t SET payload = payload + 1;"; echo "DELETE FROM t;"
        done
        fresh_copy "$ROWS" floor; echo "UPDATE t SET payload = payload + 1;"; echo "CHECKPOINT;"
        for ((r = 1; r <= ROUNDS; r++)); do
            for op in UPDATE DELETE; do
                for ((p = 0; p < ${#BULK_VARIANTS[@]}; p++)); do
                    v="${BULK_VARIANTS[$(((p + r - 1) % ${#BULK_VARIANTS[@]}))]}"
                    fresh_copy "$ROWS" "$v"
                    if [[ $op == UPDATE ]]; then stmt="UPDATE t SET payload = payload + 1;"; else stmt="DELETE FROM t;"; fi
                    cat <<SQL
CHECKPOINT;
BEGIN;
SELECT extract(epoch FROM clock_timestamp()) AS t0 \\gset
$stmt
SELECT (extract(epoch FROM clock_timestamp()) - :t0) * 1000 AS ms \\gset
DO \$\$ BEGIN
    IF $(log_count "$v") <> $([[ $v == floor ]] && echo 0 || echo "$ROWS") THEN
        RAISE EXCEPTION 'variant $v logged the wrong number of rows';
    END IF;
END \$\$;
COMMIT;
INSERT INTO bulk_run VALUES ($r, '$op', '$v', :ms);
\\echo RUN $r $op $v :ms
SQL
                done
            done
        done
        echo "SELECT bench_empty_logs(); DROP TABLE t;"
    } >"$WORK/bulk.sql"
    psql_run -At -f "$WORK/bulk.sql" | while read -r tag r op v ms; do
        if [[ "$tag" == RUN ]]; then
            printf '   round %s/%s  %-6s %-11s %9.1f ms\n' "$r" "$ROUNDS" "$op" "$v" "$ms"
        fi
    done &
    wait $! || die "the bulk timing session failed"

    bulk_table="| Statement | Variant | Median ms (min–max) | Overhead over floor, µs/row | ÷ PL/pgSQL's | ÷ indexed PL/pgSQL's |
|---|---|---:|---:|---:|---:|"
    for op in UPDATE DELETE; do
        declare -A MED=() LO=() HI=()
        while IFS='|' read -r v med lo hi; do MED[$v]=$med LO[$v]=$lo HI[$v]=$hi; done \
            < <(psql_run -At -F '|' -c "$(median_sql "(SELECT variant, v FROM bulk_run WHERE op = '$op') s")")
        ov_pl="$(awk -v a="${MED[plpgsql]}" -v f="${MED[floor]}" -v n="$ROWS" 'BEGIN { printf "%.3f", (a - f) * 1000 / n }')"
        ov_px="$(awk -v a="${MED[plpgsql_idx]}" -v f="${MED[floor]}" -v n="$ROWS" 'BEGIN { printf "%.3f", (a - f) * 1000 / n }')"
        ov_db="$(awk -v a="${MED[dbcore]}" -v f="${MED[floor]}" -v n="$ROWS" 'BEGIN { printf "%.3f", (a - f) * 1000 / n }')"
        ratio="$(awk -v a="$ov_db" -v b="$ov_pl" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')"
        ratio_px="$(awk -v a="$ov_px" -v b="$ov_pl" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')"
        ratio_idx="$(awk -v a="$ov_db" -v b="$ov_px" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')"
        bulk_table+="
| \`$op\` | floor: no trigger | ${MED[floor]} (${LO[floor]}–${HI[floor]}) | — | — | — |
| \`$op\` | PL/pgSQL jsonb audit trigger | ${MED[plpgsql]} (${LO[plpgsql]}–${HI[plpgsql]}) | $ov_pl | 1.00× | — |
| \`$op\` | the same with a row-history index | ${MED[plpgsql_idx]} (${LO[plpgsql_idx]}–${HI[plpgsql_idx]}) | $ov_px | ${ratio_px}× | 1.00× |
| \`$op\` | \`dbcore.audit()\` (C) | ${MED[dbcore]} (${LO[dbcore]}–${HI[dbcore]}) | $ov_db | **${ratio}×** | ${ratio_idx}× |"
        if awk -v r="$ratio" -v t="$TARGET_BULK" 'BEGIN { exit !(r != "n/a" && r <= t) }'; then
            verdicts+=("bulk $op: dbcore's per-row overhead ${ratio}× PL/pgSQL's (target ≤ ${TARGET_BULK}×): **met**")
        else
            verdicts+=("bulk $op: dbcore's per-row overhead ${ratio}× PL/pgSQL's (target ≤ ${TARGET_BULK}×): **not met**")
        fi
    done
    report+="### Audit trail: bulk UPDATE and DELETE of $ROWS rows

$bulk_table

\`UPDATE t SET payload = payload + 1\` and \`DELETE FROM t\` over all $ROWS rows of a six-column table (bigint key, two integers, text, numeric, timestamptz), median of $ROUNDS rounds in rotating order, each run on a fresh frozen, prewarmed copy (fillfactor 50) with both logs emptied; server-side \`clock_timestamp()\` around the statement (AFTER triggers included). PL/pgSQL logs the whole old and new rows as \`to_jsonb()\`, with its primary key only, or (indexed) with the row's id in a column of its own, a btree index on \`(table_name, record_id)\` and a BRIN index on the time, as supa_audit and the PostgreSQL wiki's audit trigger do; dbcore logs the changed column for an UPDATE (\`payload\`) and the whole old row for a DELETE, with its two indexes (hash on \`row_key\`, BRIN on \`(logged_at, xact_id)\`). The target is judged against the plain PL/pgSQL trigger.

"
fi

# --------------------------------------------------------------------------
# pgbench helpers for parts 2 and 3
# --------------------------------------------------------------------------
# run_alternating TABLE USER SCRIPT VARIANT [SCRIPT VARIANT ...]: OLTP_ROUNDS
# pgbench runs of every variant, as USER, in rotating order
run_alternating() {
    local table="$1" user="$2" r p i n tps
    local -a scripts=() names=()
    shift 2
    while (($# >= 2)); do scripts+=("$1"); names+=("$2"); shift 2; done
    n=${#names[@]}
    psql_run -c "CREATE TABLE IF NOT EXISTS $table (round int, variant text, v double precision)"
    for ((r = 1; r <= OLTP_ROUNDS; r++)); do
        for ((p = 0; p < n; p++)); do
            i=$(((p + r - 1) % n))
            psql_run -c "CHECKPOINT" >/dev/null
            tps="$("$PGBENCH" -n -M prepared -c 1 -j 1 -T "$OLTP_SECONDS" -U "$user" -f "${scripts[$i]}" postgres 2>&1 |
                   sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -n 1)"
            [[ -n "$tps" ]] || die "pgbench ${names[$i]} failed"
            psql_run -c "INSERT INTO $table VALUES ($r, '${names[$i]}', $tps)"
            printf '   round %s/%s  %-14s %10.1f tps\n' "$r" "$OLTP_ROUNDS" "${names[$i]}" "$tps"
        done
    done
}

# --------------------------------------------------------------------------
# 2. Single-row OLTP
# --------------------------------------------------------------------------
oltp_setup() {
    psql_run <<'SQL'
SELECT bench_empty_logs();
CREATE TABLE oltp_plain (id bigint PRIMARY KEY, customer int NOT NULL, payload int NOT NULL, note text NOT NULL,
                         amount numeric(12,2) NOT NULL, created_at timestamptz NOT NULL) WITH (fillfactor = 70);
INSERT INTO oltp_plain SELECT i, i % 1000, i, md5(i::text), i / 100.0, now() FROM generate_series(1, 100000) i;
CREATE TABLE oltp_audited (LIKE oltp_plain INCLUDING ALL) WITH (fillfactor = 70);
INSERT INTO oltp_audited SELECT * FROM oltp_plain;
SELECT dbcore.enable_audit('oltp_audited');
CREATE TABLE oltp_plpgsql (LIKE oltp_plain INCLUDING ALL) WITH (fillfactor = 70);
INSERT INTO oltp_plpgsql SELECT * FROM oltp_plain;
CREATE TRIGGER oltp_plpgsql_audit AFTER INSERT OR UPDATE OR DELETE ON oltp_plpgsql
  FOR EACH ROW EXECUTE FUNCTION plpgsql_audit();
VACUUM ANALYZE oltp_plain, oltp_audited, oltp_plpgsql;
SQL
}
if [[ $do_oltp == 1 ]]; then
    say "oltp: single-row UPDATE, ${OLTP_ROUNDS} x ${OLTP_SECONDS}s per variant"
    oltp_setup
    printf '\\set id random(1, 100000)\nUPDATE oltp_plain SET payload = payload + 1 WHERE id = :id;\n' >"$WORK/oltp_plain.sql"
    printf '\\set id random(1, 100000)\nUPDATE oltp_audited SET payload = payload + 1 WHERE id = :id;\n' >"$WORK/oltp_audited.sql"
    printf '\\set id random(1, 100000)\nUPDATE oltp_plpgsql SET payload = payload + 1 WHERE id = :id;\n' >"$WORK/oltp_plpgsql.sql"
    oltp_variants=("$WORK/oltp_plain.sql" plain "$WORK/oltp_audited.sql" audited "$WORK/oltp_plpgsql.sql" plpgsql)
    run_alternating oltp_run postgres "${oltp_variants[@]}"
    # The same with durable commits, as users run: every commit waits for
    # its WAL to reach the disk.  (wal_level stays minimal: it needs a
    # restart, and no WAL record of these statements depends on it.)
    say "oltp, durable: fsync = on, synchronous_commit = on, full_page_writes = on"
    psql_run -c "ALTER SYSTEM SET fsync = on" -c "ALTER SYSTEM SET synchronous_commit = on" \
             -c "ALTER SYSTEM SET full_page_writes = on" -c "SELECT pg_reload_conf()" >/dev/null
    sleep 1
    [[ "$(psql_run -At -c "SELECT current_setting('fsync') || current_setting('synchronous_commit') || current_setting('full_page_writes')")" == ononon ]] ||
        die "the durable settings did not take"
    run_alternating oltp_durable_run postgres "${oltp_variants[@]}"
    psql_run -c "ALTER SYSTEM RESET fsync" -c "ALTER SYSTEM RESET synchronous_commit" \
             -c "ALTER SYSTEM RESET full_page_writes" -c "SELECT pg_reload_conf()" >/dev/null
    logged="$(psql_run -At -c "SELECT count(*) FROM dbcore.audit_log")"
    for cfg in fast durable; do
        declare -A TPS=() TLO=() THI=()
        table=oltp_run
        [[ $cfg == durable ]] && table=oltp_durable_run
        while IFS='|' read -r v med lo hi; do TPS[$v]=$med TLO[$v]=$lo THI[$v]=$hi; done \
            < <(psql_run -At -F '|' -c "$(median_sql "$table")")
        oratio="$(awk -v a="${TPS[audited]}" -v b="${TPS[plain]}" 'BEGIN { printf "%.2f", a / b }')"
        pratio="$(awk -v a="${TPS[plpgsql]}" -v b="${TPS[plain]}" 'BEGIN { printf "%.2f", a / b }')"
        if [[ $cfg == fast ]]; then
            heading="commits not waited for" label="fsync = off, synchronous_commit = off"
            why="\`synchronous_commit = off\`, \`fsync = off\`, \`full_page_writes = off\` (the benchmarks' settings, tools/lib.sh): commits cost no disk wait, so the trigger's share of each transaction is as large as it can be."
        else
            heading="durable commits" label="fsync = on, synchronous_commit = on"
            why="\`fsync = on\`, \`synchronous_commit = on\`, \`full_page_writes = on\` (PostgreSQL's defaults, what users run; \`wal_level = minimal\` as above), set with \`ALTER SYSTEM\` and a reload in the same cluster: every commit waits for its WAL to reach the disk."
        fi
        report+="### Audit trail: single-row OLTP throughput, $heading

| Variant | Median tps (min–max) | ÷ without audit |
|---|---:|---:|
| \`UPDATE ... WHERE id = \$1\`, no audit | ${TPS[plain]} (${TLO[plain]}–${THI[plain]}) | 1.00× |
| the same, table audited by dbcore | ${TPS[audited]} (${TLO[audited]}–${THI[audited]}) | **${oratio}×** |
| the same, PL/pgSQL jsonb audit trigger (for comparison) | ${TPS[plpgsql]} (${TLO[plpgsql]}–${THI[plpgsql]}) | ${pratio}× |

pgbench, 1 client, \`-M prepared\`, autocommit, $OLTP_ROUNDS alternating runs of ${OLTP_SECONDS}s per variant over a table of 100,000 rows. $why

"
        if awk -v r="$oratio" -v t="$TARGET_OLTP" 'BEGIN { exit !(r >= t) }'; then
            verdicts+=("single-row OLTP with audit, $label: ${oratio}× without (target ≥ ${TARGET_OLTP}×): **met**")
        else
            verdicts+=("single-row OLTP with audit, $label: ${oratio}× without (target ≥ ${TARGET_OLTP}×): **not met**")
        fi
    done
    report+="($logged log rows written by the audited runs of both.)

"
fi

# --------------------------------------------------------------------------
# 3. Soft delete's read path
# --------------------------------------------------------------------------
if [[ $do_reads == 1 ]]; then
    say "reads: soft delete against WHERE deleted_at IS NULL, ${OLTP_ROUNDS} x ${OLTP_SECONDS}s per variant and query"
    psql_run <<SQL
CREATE SCHEMA reads AUTHORIZATION bench_app;
SET ROLE bench_app;
CREATE TABLE reads.hand (id bigint PRIMARY KEY, customer int NOT NULL, title text NOT NULL,
                         created_at timestamptz NOT NULL, deleted_at timestamptz);
INSERT INTO reads.hand SELECT i, i % 2000, md5(i::text), timestamptz '2024-01-01' + i * interval '1 minute',
                              CASE WHEN i % 10 = 0 THEN now() END
  FROM generate_series(1, $READ_ROWS) i;
CREATE TABLE reads.soft (LIKE reads.hand INCLUDING ALL);
INSERT INTO reads.soft SELECT * FROM reads.hand;
CREATE INDEX ON reads.hand (customer, created_at) WHERE deleted_at IS NULL;
CREATE INDEX ON reads.soft (customer, created_at) WHERE deleted_at IS NULL;
SELECT dbcore.enable_soft_delete('reads.soft');
RESET ROLE;
VACUUM (FREEZE, ANALYZE) reads.hand, reads.soft;
SELECT pg_prewarm('reads.hand') + pg_prewarm('reads.soft') AS prewarmed;
SQL
    rows_hand="$(psql_run -At -c "SET ROLE bench_app; SELECT count(*) FROM reads.hand WHERE deleted_at IS NULL")"
    rows_soft="$(psql_run -At -c "SET ROLE bench_app; SELECT count(*) FROM reads.soft")"
    [[ "$rows_hand" == "$rows_soft" ]] || die "the two tables show different rows ($rows_hand, $rows_soft)"
    plan() {   # plan QUERY: the plan bench_app gets, as text
        psql_run -At -c "SET ROLE bench_app; EXPLAIN (COSTS OFF) $1" | sed -E 's/\b(hand|soft)(_|\b)/T\2/g'
    }
    q_hand_key="SELECT title FROM reads.hand WHERE id = 4242 AND deleted_at IS NULL"
    q_soft_key="SELECT title FROM reads.soft WHERE id = 4242"
    q_hand_list="SELECT id, title FROM reads.hand WHERE customer = 42 AND deleted_at IS NULL ORDER BY created_at LIMIT 20"
    q_soft_list="SELECT id, title FROM reads.soft WHERE customer = 42 ORDER BY created_at LIMIT 20"
    same_key="differ"; [[ "$(plan "$q_hand_key")" == "$(plan "$q_soft_key")" ]] && same_key="same"
    same_list="differ"; [[ "$(plan "$q_hand_list")" == "$(plan "$q_soft_list")" ]] && same_list="same"
    plan "$q_soft_list" >"$WORK/plan_list.txt"
    plan_diffs=""
    for q in key list; do
        qh="q_hand_$q" qs="q_soft_$q"
        if [[ "$(plan "${!qh}")" != "$(plan "${!qs}")" ]]; then
            plan_diffs+="
The plans of the ${q} queries differ (table and index names replaced by T). Hand-written:

\`\`\`
$(plan "${!qh}")
\`\`\`

Soft delete:

\`\`\`
$(plan "${!qs}")
\`\`\`
"
        fi
    done
    printf '\\set id random(1, %s)\nSELECT title FROM reads.hand WHERE id = :id AND deleted_at IS NULL;\n' "$READ_ROWS" >"$WORK/r_hand_key.sql"
    printf '\\set id random(1, %s)\nSELECT title FROM reads.soft WHERE id = :id;\n' "$READ_ROWS" >"$WORK/r_soft_key.sql"
    printf '\\set c random(0, 1999)\nSELECT id, title FROM reads.hand WHERE customer = :c AND deleted_at IS NULL ORDER BY created_at LIMIT 20;\n' >"$WORK/r_hand_list.sql"
    printf '\\set c random(0, 1999)\nSELECT id, title FROM reads.soft WHERE customer = :c ORDER BY created_at LIMIT 20;\n' >"$WORK/r_soft_list.sql"
    run_alternating reads_key_run bench_app "$WORK/r_hand_key.sql" hand "$WORK/r_soft_key.sql" soft
    run_alternating reads_list_run bench_app "$WORK/r_hand_list.sql" hand "$WORK/r_soft_list.sql" soft
    reads_table="| Query | Hand-written: median tps (min–max) | Soft delete: median tps (min–max) | Soft ÷ hand | Plans |
|---|---:|---:|---:|---|"
    for q in key list; do
        declare -A RT=() RLO=() RHI=()
        while IFS='|' read -r v med lo hi; do RT[$v]=$med RLO[$v]=$lo RHI[$v]=$hi; done \
            < <(psql_run -At -F '|' -c "$(median_sql "reads_${q}_run")")
        rr="$(awk -v a="${RT[soft]}" -v b="${RT[hand]}" 'BEGIN { printf "%.2f", a / b }')"
        same="$same_key"; label="point lookup by key"
        if [[ $q == list ]]; then same="$same_list"; label="20 rows of a customer, newest first (partial index)"; fi
        reads_table+="
| $label | ${RT[hand]} (${RLO[hand]}–${RHI[hand]}) | ${RT[soft]} (${RLO[soft]}–${RHI[soft]}) | ${rr}× | $same |"
        # within 2% counts as no dearer: the run's noise is larger than that
        if awk -v r="$rr" -v t="$TARGET_READS" 'BEGIN { exit !(r >= t - 0.02) }' && [[ $same == same ]]; then
            verdicts+=("soft-delete reads, $label: ${rr}× the hand-written throughput, $same plan (target ≥ ${TARGET_READS}× within noise): **met**")
        else
            verdicts+=("soft-delete reads, $label: ${rr}× the hand-written throughput, $same plan (target ≥ ${TARGET_READS}× within noise): **not met**")
        fi
    done
    report+="### Soft delete: the read path

$reads_table

$READ_ROWS rows, one in ten marked, read by an ordinary role (row level security applies to the soft-delete table); both tables have the primary key and a partial index \`(customer, created_at) WHERE deleted_at IS NULL\`. The hand-written queries add \`AND deleted_at IS NULL\`; the soft-delete ones do not (the policy does, folded to that condition when planned). pgbench, 1 client, \`-M prepared\`, $OLTP_ROUNDS alternating runs of ${OLTP_SECONDS}s per variant. The soft-delete table's plan for the listing:

\`\`\`
$(cat "$WORK/plan_list.txt")
\`\`\`
$plan_diffs
"
fi

# --------------------------------------------------------------------------
# 4. (--callgrind) Instructions
#
# The cluster is restarted under valgrind --tool=callgrind, which follows
# the postmaster's forks: every backend writes its own profile when it
# exits.  Bulk: per variant and statement, a fresh copy of CG_ROWS rows is
# made over one connection and the statement runs alone over another; its
# backend's instructions minus the floor's, divided by the rows, are the
# trigger's per row (the backend's start-up, the same for every variant,
# cancels out).  OLTP: one connection prepares the single-row UPDATE and
# runs it CG_SHORT, another CG_LONG times (autocommit, the same ids); the
# difference divided by the difference of the transactions is the cost of
# one transaction.  Instructions are not time (cache misses, system calls
# and I/O weigh differently), but they do not move with the machine's
# other load.
# --------------------------------------------------------------------------
CG_SHORT=200 CG_LONG=1200
cg_section=""
if [[ $callgrind == 1 ]]; then
    say "callgrind: instructions per row (bulk, $CG_ROWS rows) and per single-row transaction"
    [[ $do_oltp == 1 ]] || oltp_setup
    CG_DIR="$DBCORE_CLUSTER_BASE/callgrind"
    cluster_callgrind_start "$CG_DIR"

    cg_ir() {   # cg_ir SQL-FILE: the instructions of the backend that runs the file
        local pid i n=""
        pid="$(psql_run -At -c 'SELECT pg_backend_pid()' -f "$1" | head -n 1)"
        [[ "$pid" =~ ^[0-9]+$ ]] || die "callgrind: no backend pid from $1"
        for ((i = 0; i < 1200; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        for ((i = 0; i < 100; i++)); do
            n="$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$CG_DIR/cg.$pid" 2>/dev/null | head -n 1)"
            [[ -n "$n" ]] && break
            sleep 0.1
        done
        [[ -n "$n" ]] || die "callgrind: no profile for backend $pid"
        rm -f "$CG_DIR/cg.$pid"
        echo "$n"
    }
    declare -A CGB=()
    for op in UPDATE DELETE; do
        for v in "${BULK_VARIANTS[@]}"; do
            { echo "SET client_min_messages = warning;"; fresh_copy "$CG_ROWS" "$v"; } >"$WORK/cg-setup.sql"
            psql_run -f "$WORK/cg-setup.sql" >/dev/null
            if [[ $op == UPDATE ]]; then echo "UPDATE t SET payload = payload + 1;"; else echo "DELETE FROM t;"; fi >"$WORK/cg-stmt.sql"
            CGB[$op $v]="$(cg_ir "$WORK/cg-stmt.sql")"
            printf '   %-6s %-11s %14s instructions\n' "$op" "$v" "${CGB[$op $v]}"
        done
    done
    declare -A CGO=()
    ids=() x=12345
    for ((i = 0; i < CG_LONG; i++)); do x=$(((x * 1103515245 + 12345) % 2147483648)); ids+=($((x % 100000 + 1))); done
    for v in plain audited plpgsql; do
        for n in $CG_SHORT $CG_LONG; do
            {
                echo "PREPARE u(bigint) AS UPDATE oltp_$v SET payload = payload + 1 WHERE id = \$1;"
                for ((i = 0; i < n; i++)); do echo "EXECUTE u(${ids[$i]});"; done
            } >"$WORK/cg-oltp.sql"
            psql_run -c "VACUUM oltp_$v" >/dev/null
            CGO[$v $n]="$(cg_ir "$WORK/cg-oltp.sql")"
        done
        CGO[$v]=$(( (${CGO[$v $CG_LONG]} - ${CGO[$v $CG_SHORT]}) / (CG_LONG - CG_SHORT) ))
        printf '   oltp   %-11s %14s instructions/transaction\n' "$v" "${CGO[$v]}"
    done
    # Back to a normal cluster, for cluster_stop.
    _dbcore_as_pg "$(pg_bin pg_ctl)" -D "$DBCORE_CLUSTER_DATA" -m fast -w -t 300 stop >/dev/null || true
    # (the postmaster's own profile may still be being written when pg_ctl
    # returns: rm races it)
    rm -rf "${CG_DIR:?}" 2>/dev/null || { sleep 2; rm -rf "${CG_DIR:?}"; }
    _dbcore_as_pg "$(pg_bin pg_ctl)" -D "$DBCORE_CLUSTER_DATA" -l "$DBCORE_CLUSTER_LOG" -w -t 60 start >/dev/null ||
        die "the cluster did not come back after callgrind"

    cg_table="| Statement | Variant | Instructions | Overhead per row | ÷ PL/pgSQL's | ÷ indexed PL/pgSQL's |
|---|---|---:|---:|---:|---:|"
    for op in UPDATE DELETE; do
        for v in "${BULK_VARIANTS[@]}"; do
            per_row="—" r1="—" r2="—"
            if [[ $v != floor ]]; then
                per_row=$(( (${CGB[$op $v]} - ${CGB[$op floor]}) / CG_ROWS ))
                r1="$(awk -v a="$per_row" -v b="$(( (${CGB[$op plpgsql]} - ${CGB[$op floor]}) / CG_ROWS ))" 'BEGIN { printf "%.2f×", a / b }')"
                r2="$(awk -v a="$per_row" -v b="$(( (${CGB[$op plpgsql_idx]} - ${CGB[$op floor]}) / CG_ROWS ))" 'BEGIN { printf "%.2f×", a / b }')"
                [[ $v == plpgsql_idx ]] && r2="1.00×"
                [[ $v == plpgsql ]] && r2="—"
            fi
            cg_table+="
| \`$op\` | $v | ${CGB[$op $v]} | $per_row | $r1 | $r2 |"
        done
    done
    cg_oratio="$(awk -v a="${CGO[plain]}" -v b="${CGO[audited]}" 'BEGIN { printf "%.2f", a / b }')"
    cg_pratio="$(awk -v a="${CGO[plain]}" -v b="${CGO[plpgsql]}" 'BEGIN { printf "%.2f", a / b }')"
    cg_section="### Instructions (callgrind)

$cg_table

| Single-row UPDATE transaction | Instructions per transaction | Throughput-equivalent ÷ without audit |
|---|---:|---:|
| no audit | ${CGO[plain]} | 1.00× |
| audited by dbcore | ${CGO[audited]} | ${cg_oratio}× |
| PL/pgSQL jsonb audit trigger | ${CGO[plpgsql]} | ${cg_pratio}× |

The bulk statements over $CG_ROWS rows, each alone in a backend (its instructions, with the backend's start-up; the overhead per row is the difference to the floor's backend divided by the rows); the single-row UPDATE prepared and run $((CG_LONG - CG_SHORT)) times more in one backend than in another (autocommit, the same ids), the difference per transaction. Instructions are not time: the hash index's and the log's pages are touched at random and in bulk, which costs cache misses the counts do not show, and system calls (WAL writes, extending the log) are not counted.

"
fi

cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)"
report="$report$cg_section**Targets** — $(printf '%s; ' "${verdicts[@]}" | sed 's/; $//').

PostgreSQL $pg_version, ${cpu:-unknown CPU}, $(nproc) cores; $(date -u '+%Y-%m-%d'); \`$command\` took $((SECONDS - started))s."

echo
printf '%s\n' "$report"
echo
if [[ -n "$RESULTS_FILE" ]]; then
    mkdir -p "$(dirname "$RESULTS_FILE")"
    printf '%s\n' "$report" >"$RESULTS_FILE"
    ok "written to $RESULTS_FILE"
fi
