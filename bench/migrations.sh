#!/usr/bin/env bash
# bench/migrations.sh: what the migration ledger costs.
#
#   bash bench/migrations.sh [--no-build] [--rounds N] [--count N]
#
# In one throwaway cluster, each round applies COUNT (default 1000) small
# migrations, one CREATE TABLE each, in a fresh database three ways:
#   bare      the same DDL, one statement per transaction, through psql
#   function  SELECT dbcore.apply_migration(...) per migration, through psql
#   tool      dbcore-migrate up over COUNT files
# The order of the three rotates from round to round; the report gives the
# median migrations per second of each and their ratios to bare DDL (the
# target for the function path is at least 0.5x).  Then, with a ledger of
# 10,000 rows, it times dbcore.migration_status() and one more batch of
# apply_migration() calls (bookkeeping must not grow with the ledger), and
# reports how many sequential scans of the ledger tables the applies did.
#
# Not a test: it asserts nothing about timings and exits 0 unless it fails.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../tools/lib.sh"
cd "$DBCORE_ROOT"

build=1 ROUNDS=3 COUNT=1000 LEDGER=10000
while [[ $# -gt 0 ]]; do
    case "$1" in
        --no-build) build=0 ;;
        --rounds) ROUNDS="$2"; shift ;;
        --count) COUNT="$2"; shift ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown option: $1" ;;
    esac
    shift
done
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ && "$COUNT" =~ ^[1-9][0-9]*$ ]] || die "--rounds and --count take positive numbers"

PG_CONFIG="$(dbcore_pg_config)"
export PG_CONFIG
[[ $build -eq 0 ]] || dbcore_build_install
PSQL="$(pg_bin psql)"
MIGRATE="$("$PG_CONFIG" --bindir)/dbcore-migrate"
[[ -x "$MIGRATE" ]] || MIGRATE="$DBCORE_ROOT/src/bin/dbcore-migrate/dbcore-migrate"
[[ -x "$MIGRATE" ]] || die "dbcore-migrate not built"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/dbcore-bench.XXXXXX")"
chmod 755 "$WORK"
# shellcheck disable=SC2317  # called from the exit trap
_remove_work() { rm -rf "${WORK:?}"; }
DBCORE_EXIT_HOOKS+=(_remove_work)
cluster_trap
cluster_start bench

psqlq() { "$PSQL" -X -q -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
fresh_db() {
    psqlq -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" 2>/dev/null
    psqlq -d "$1" -c "CREATE EXTENSION dbcore"
}

# The same migrations three ways.
mkdir "$WORK/migrations"
: >"$WORK/bare.sql"
: >"$WORK/function.sql"
for i in $(seq 1 "$COUNT"); do
    v=$(printf '%06d' "$i")
    ddl="CREATE TABLE bench_$v (id bigint PRIMARY KEY, name text NOT NULL, created_at timestamptz DEFAULT now());"
    printf '%s\n' "$ddl" >"$WORK/migrations/${v}_bench_$v.sql"
    printf '%s\n' "$ddl" >>"$WORK/bare.sql"
    printf "SELECT dbcore.apply_migration('%s', 'bench_%s', '%s');\n" "$v" "$v" "$ddl" >>"$WORK/function.sql"
done

run_way() {   # run_way WAY DB -> seconds on stdout
    local way="$1" db="$2" t0 t1
    t0=$(now)
    case "$way" in
        bare)     psqlq -d "$db" -f "$WORK/bare.sql" >/dev/null ;;
        function) psqlq -d "$db" -f "$WORK/function.sql" >/dev/null ;;
        tool)     "$MIGRATE" -q -d "$db" --dir "$WORK/migrations" up >/dev/null ;;
    esac
    t1=$(now)
    echo "$t1 - $t0" | bc -l
}

declare -A times=([bare]="" [function]="" [tool]="")
ways=(bare function tool)
say "$ROUNDS rounds of $COUNT migrations, three ways"
for r in $(seq 1 "$ROUNDS"); do
    for k in 0 1 2; do
        way="${ways[$(( (k + r - 1) % 3 ))]}"
        db="bench_${way}_$r"
        fresh_db "$db"
        psqlq -d "$db" -c "SELECT pg_stat_reset()" >/dev/null
        s=$(run_way "$way" "$db")
        times[$way]="${times[$way]} $s"
        printf '  round %d %-9s %8.3f s  %8.1f migrations/s\n' "$r" "$way" "$s" "$(echo "$COUNT / $s" | bc -l)"
        if [[ "$way" == function ]]; then
            # Stats are flushed when the psql session ends; read them anew.
            sleep 0.2
            seqs="$(psqlq -At -d "$db" -c "SELECT coalesce(sum(seq_scan), 0) FROM pg_stat_user_tables
                                          WHERE relid IN ('dbcore.migrations'::regclass, 'dbcore.migration_log'::regclass)")"
            idx="$(psqlq -At -d "$db" -c "SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_tables
                                         WHERE relid IN ('dbcore.migrations'::regclass, 'dbcore.migration_log'::regclass)")"
            printf '  round %d function: %s sequential and %s index scans of the ledger tables\n' "$r" "$seqs" "$idx"
        fi
        psqlq -d postgres -c "DROP DATABASE $db" >/dev/null
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
bare=$(median <<<"${times[bare]}")
func=$(median <<<"${times[function]}")
tool=$(median <<<"${times[tool]}")

# A big ledger: status time, and the apply rate on top of it.
say "ledger of $LEDGER rows"
fresh_db bench_ledger
psqlq -d bench_ledger -c "
    DO \$\$ BEGIN
      FOR i IN 1..$LEDGER LOOP
        PERFORM dbcore.apply_migration(i::text, 'filler_' || i, 'SELECT ' || i, 'SELECT 0');
      END LOOP;
    END \$\$;" >/dev/null
psqlq -d bench_ledger -c "VACUUM ANALYZE dbcore.migrations, dbcore.migration_log" >/dev/null
status_ms=()
for k in 1 2 3 4 5; do
    status_ms+=("$(psqlq -At -d bench_ledger -c "
        SELECT (EXTRACT(epoch FROM clock_timestamp() - t) * 1000)::numeric(10,2)
          FROM (SELECT clock_timestamp() AS t) s, LATERAL (SELECT count(*) FROM dbcore.migration_status()) c")")
done
status=$(median <<<"${status_ms[*]}")
# 1,000 more applies (versions after the filler) on top of the big ledger.
sed "s/SELECT dbcore.apply_migration('0*\([0-9]*\)'/SELECT dbcore.apply_migration('9$((LEDGER))\1'/" \
    "$WORK/function.sql" >"$WORK/function_big.sql"
psqlq -d bench_ledger -c "SELECT pg_stat_reset()" >/dev/null
t0=$(now)
psqlq -d bench_ledger -f "$WORK/function_big.sql" >/dev/null
t1=$(now)
big=$(echo "$t1 - $t0" | bc -l)
sleep 0.2
big_seqs="$(psqlq -At -d bench_ledger -c "SELECT coalesce(sum(seq_scan), 0) FROM pg_stat_user_tables
                                        WHERE relid IN ('dbcore.migrations'::regclass, 'dbcore.migration_log'::regclass)")"

rate() { echo "$COUNT / $1" | bc -l; }
echo
printf '%s\n' "==== results: $COUNT migrations, median of $ROUNDS rounds ===="
printf '%-28s %10s %14s %12s\n' "way" "seconds" "migrations/s" "vs bare DDL"
printf '%-28s %10.3f %14.1f %12s\n' "bare DDL" "$bare" "$(rate "$bare")" "1.00x"
printf '%-28s %10.3f %14.1f %11.2fx\n' "dbcore.apply_migration()" "$func" "$(rate "$func")" "$(echo "$bare / $func" | bc -l)"
printf '%-28s %10.3f %14.1f %11.2fx\n' "dbcore-migrate up" "$tool" "$(rate "$tool")" "$(echo "$bare / $tool" | bc -l)"
printf '%-28s %10.3f %14.1f %11.2fx\n' "apply_migration(), big ledger" "$big" "$(rate "$big")" "$(echo "$bare / $big" | bc -l)"
echo
printf 'dbcore.migration_status() with %d ledger rows: %s ms (median of 5)\n' "$LEDGER" "$status"
printf 'sequential scans of the ledger tables during %d applies on the big ledger: %s\n' "$COUNT" "$big_seqs"
ratio=$(echo "$bare / $func" | bc -l)
if (( $(echo "$ratio >= 0.5" | bc -l) )); then
    ok "function path at $(printf '%.2f' "$ratio")x of bare DDL (target >= 0.5x)"
else
    warn "function path at $(printf '%.2f' "$ratio")x of bare DDL, below the 0.5x target"
fi
