#!/usr/bin/env bash
# bench/updated_at.sh: what does an updated_at trigger cost per row?
#
#   bash bench/updated_at.sh [--quick] [--noop] [--no-build] [--no-deps]
#
# Installs missing packages, builds and installs dbcore, starts a throwaway
# PostgreSQL cluster (tuned so that I/O stays out of the picture) and times a
# bulk `UPDATE t SET payload = payload + 1` over every row of one table under
# four variants:
#   floor     no trigger; the statement itself sets updated_at = now()
#   plpgsql   the usual PL/pgSQL trigger (NEW.updated_at = NOW())
#   moddatetime  contrib's moddatetime(updated_at)
#   dbcore    dbcore.updated_at(), the C trigger
# in ROUNDS rounds, the order of the variants rotating from round to round.
# It prints a Markdown table (median ms, µs per row, each trigger's overhead
# over the floor and that overhead relative to PL/pgSQL's and moddatetime's)
# and whether the run met dbcore's targets, and writes the same report to
# bench/results/updated_at-latest.md.
#
# This is a measurement, not a test: it exits 0 whether or not the targets
# were met, and non-zero only when something failed.
#
# Options:
#   --quick      smoke run: ROWS=30000 ROUNDS=3 unless set; the report is
#                printed but not written to a file unless RESULTS_FILE is set
#   --noop       also time a fifth, reference variant: the floor statement
#                plus PostgreSQL's built-in C trigger
#                suppress_redundant_updates_trigger(), which changes nothing:
#                the cost every BEFORE UPDATE row trigger pays before its
#                function does any work (a lower bound for dbcore's overhead)
#   --no-build   use the dbcore already installed (no make / make install)
#   --no-deps    don't check for or install Debian packages
#
# Settings (environment):
#   ROWS=300000      rows in the table
#   ROUNDS=7         rounds (every variant is timed once per round)
#   FILLFACTOR=50    fillfactor of the fresh table.  50: every new row
#                    version fits on its old page, so every UPDATE is HOT (no
#                    index insertion, no relation extension), the cheapest and
#                    least noisy floor, against which a trigger's cost shows
#                    most clearly.  100: full pages, every update moves the row
#                    to a new page and inserts an index entry (a costlier,
#                    noisier floor; the overheads come out ~10% higher, their
#                    ratios about the same)
#   RESULTS_FILE     where to write the report (default
#                    bench/results/updated_at-latest.md)
#   DBCORE_KEEP_CLUSTER=1  leave the cluster running after a normal exit
set -euo pipefail

# shellcheck source=tools/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tools/lib.sh"
cd "$DBCORE_ROOT"

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit "${1:-0}"
}

quick=0 build=1 deps=1 noop=0
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        --noop) noop=1 ;;
        --no-build) build=0 ;;
        --no-deps) deps=0 ;;
        -h|--help) usage 0 ;;
        *) echo "unknown option: $arg" >&2; usage 2 >&2 ;;
    esac
done

# How this run was started, for the report.
command="bash bench/updated_at.sh${*:+ $*}"
for var in FILLFACTOR ROUNDS ROWS; do
    if [[ -n "${!var:-}" ]]; then
        command="$var=${!var} $command"
    fi
done

if [[ $quick == 1 ]]; then
    ROWS="${ROWS:-30000}"
    ROUNDS="${ROUNDS:-3}"
    RESULTS_FILE="${RESULTS_FILE:-}"
else
    ROWS="${ROWS:-300000}"
    ROUNDS="${ROUNDS:-7}"
    RESULTS_FILE="${RESULTS_FILE-bench/results/updated_at-latest.md}"
fi
FILLFACTOR="${FILLFACTOR:-50}"
[[ "$ROWS" =~ ^[0-9]+$ && "$ROWS" -ge 1000 ]] || die "ROWS must be a whole number >= 1000 (got '$ROWS')"
[[ "$ROUNDS" =~ ^[0-9]+$ && "$ROUNDS" -ge 1 ]] || die "ROUNDS must be a whole number >= 1 (got '$ROUNDS')"
[[ "$FILLFACTOR" =~ ^[0-9]+$ && "$FILLFACTOR" -ge 10 && "$FILLFACTOR" -le 100 ]] ||
    die "FILLFACTOR must be between 10 and 100 (got '$FILLFACTOR')"

# The targets dbcore is held to: its overhead over the floor at most this
# fraction of moddatetime's and of PL/pgSQL's.
TARGET_VS_MODDATETIME=0.75
TARGET_VS_PLPGSQL=0.45

started=$SECONDS

WORK="$(mktemp -d "${TMPDIR:-/tmp}/dbcore-benchfiles.XXXXXX")"
# shellcheck disable=SC2317  # called from the exit trap
_remove_work() { rm -rf "${WORK:?}"; }
DBCORE_EXIT_HOOKS+=(_remove_work)
cluster_trap

if [[ $deps == 1 ]]; then
    dbcore_install_deps
fi
if [[ $build == 1 ]]; then
    dbcore_build_install
fi

# Keep disk waits, checkpoints and background workers out of the measurement,
# leaving the CPU work of one backend: WAL is still generated, as in
# production, but never waited for (lib.sh already turns fsync and
# full_page_writes off and sets wal_level = minimal); everything fits in
# shared_buffers; no checkpoint or autovacuum starts on its own.
export DBCORE_CLUSTER_CONF="$DBCORE_BENCH_CONF"
cluster_start bench

PSQL="$(pg_bin psql)"
psql_run() { "$PSQL" -X -q -v ON_ERROR_STOP=1 "$@"; }

pg_version="$(psql_run -At -c 'SHOW server_version')"
say "PostgreSQL $pg_version, $ROWS rows, $ROUNDS rounds, fillfactor $FILLFACTOR"

# --------------------------------------------------------------------------
# Setup: the extensions, the PL/pgSQL trigger function and the seed table.
# Every measured run works on a fresh copy of bench_seed (see below).
# --------------------------------------------------------------------------
psql_run <<SQL
CREATE EXTENSION dbcore;
CREATE EXTENSION moddatetime;
CREATE EXTENSION pg_prewarm;

CREATE FUNCTION update_updated_at() RETURNS trigger LANGUAGE plpgsql AS
\$\$BEGIN NEW.updated_at = NOW(); RETURN NEW; END\$\$;

-- The same rows for every run: id, two payload columns (one text) and the
-- two timestamps, all in the past so the check below can tell them apart.
CREATE TABLE bench_seed (
    id         bigint PRIMARY KEY,
    payload    integer NOT NULL,
    note       text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
INSERT INTO bench_seed
SELECT i, ((i::bigint * 7919) % 100000)::integer, md5(i::text),
       timestamptz '2020-01-01 00:00:00+00' + i * interval '1 second',
       timestamptz '2021-01-01 00:00:00+00' + i * interval '1 second'
  FROM generate_series(1, $ROWS) AS i;
VACUUM (FREEZE, ANALYZE) bench_seed;

CREATE TABLE bench_run (
    round   integer NOT NULL,
    pos     integer NOT NULL,
    variant text NOT NULL,
    ms      double precision NOT NULL
);
SQL

# --------------------------------------------------------------------------
# The measurement script, for ONE psql session.
#
# Fresh table per run: every UPDATE must meet the same heap.  Updating all
# rows leaves a dead version of each; whatever a VACUUM then does, the next
# UPDATE meets a different table (pruned pages with their free space in other
# places, a bigger file and index, maybe HOT where the first run was not), so
# later runs would not be comparable with earlier ones.  Each run therefore
# gets a new copy of bench_seed, built outside the timed window: the same
# pages, frozen and all-visible, analyzed and loaded into shared_buffers
# (pg_prewarm), then a CHECKPOINT so no run starts with another's dirty
# buffers to write.
#
# Timing: clock_timestamp() before and after the UPDATE, inside one
# transaction of one long-lived session, read on the server.
#  - EXPLAIN (ANALYZE, TIMING OFF) was not used: it still wraps each plan
#    node and, for the trigger variants only, every trigger call in
#    instrumentation hooks (row counting, trigger statistics), which adds a
#    per-row cost to exactly the thing being compared.  The timed statement
#    here is the plain UPDATE an application sends.
#  - psql's \timing was not used: it measures on the client, adding the
#    socket round trip and psql's own processing.
#  - The window covers one local-socket round trip plus parse, plan and
#    execution of the UPDATE (the first two are tens of microseconds, the
#    same for all variants, against hundreds of milliseconds) and stops
#    before COMMIT, so commit and WAL flush behaviour are kept out.
#  - One session for all runs: libraries (plpgsql, moddatetime, dbcore) and
#    caches are loaded by a warm-up pass first, so no run pays for them.
# Every run is checked afterwards (outside the window): every row must carry
# updated_at = now(), so a variant that silently did nothing would fail.
# --------------------------------------------------------------------------
VARIANTS=(floor plpgsql moddatetime dbcore)
if [[ $noop == 1 ]]; then
    VARIANTS+=(noop)
fi

trigger_sql() {   # trigger_sql VARIANT TABLE
    case "$1" in
        floor) ;;
        plpgsql) echo "CREATE TRIGGER bench_updated_at BEFORE UPDATE ON $2 FOR EACH ROW EXECUTE FUNCTION update_updated_at();" ;;
        moddatetime) echo "CREATE TRIGGER bench_updated_at BEFORE UPDATE ON $2 FOR EACH ROW EXECUTE FUNCTION moddatetime(updated_at);" ;;
        dbcore) echo "CREATE TRIGGER bench_updated_at BEFORE UPDATE ON $2 FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at();" ;;
        noop) echo "CREATE TRIGGER bench_updated_at BEFORE UPDATE ON $2 FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();" ;;
        *) die "unknown variant $1" ;;
    esac
}

update_sql() {    # update_sql VARIANT TABLE
    if [[ "$1" == floor || "$1" == noop ]]; then
        echo "UPDATE $2 SET payload = payload + 1, updated_at = now();"
    else
        echo "UPDATE $2 SET payload = payload + 1;"
    fi
}

fresh_copy_sql() {   # fresh_copy_sql TABLE LIMIT
    cat <<SQL
BEGIN;
DROP TABLE IF EXISTS $1;
CREATE TABLE $1 (LIKE bench_seed INCLUDING ALL) WITH (fillfactor = $FILLFACTOR);
INSERT INTO $1 SELECT * FROM bench_seed ORDER BY id LIMIT $2;
COMMIT;
VACUUM (FREEZE, ANALYZE) $1;
SELECT pg_prewarm('$1') + pg_prewarm('${1}_pkey') AS prewarmed \\gset
SQL
}

{
    echo "SET client_min_messages = warning;"
    # Warm-up, untimed: each variant once on a small table.
    for v in "${VARIANTS[@]}"; do
        fresh_copy_sql t_warm 2000
        trigger_sql "$v" t_warm
        update_sql "$v" t_warm
    done
    echo "DROP TABLE t_warm;"
    # And one untimed full-size run: the first statement to write this much
    # WAL has to create the segment files, later ones reuse them (recycled
    # by the CHECKPOINT before each run).
    fresh_copy_sql t "$ROWS"
    update_sql floor t
    echo "CHECKPOINT;"

    for ((r = 1; r <= ROUNDS; r++)); do
        for ((p = 0; p < ${#VARIANTS[@]}; p++)); do
            v="${VARIANTS[$(((p + r - 1) % ${#VARIANTS[@]}))]}"
            fresh_copy_sql t "$ROWS"
            trigger_sql "$v" t
            cat <<SQL
CHECKPOINT;
BEGIN;
SELECT extract(epoch FROM clock_timestamp()) AS t0 \\gset
$(update_sql "$v" t)
SELECT (extract(epoch FROM clock_timestamp()) - :t0) * 1000 AS ms \\gset
DO \$\$
DECLARE n bigint;
BEGIN
    SELECT count(*) INTO n FROM t WHERE updated_at = now();
    IF n <> $ROWS THEN
        RAISE EXCEPTION 'variant $v: % of $ROWS rows have updated_at = now()', n;
    END IF;
END
\$\$;
COMMIT;
INSERT INTO bench_run VALUES ($r, $((p + 1)), '$v', :ms);
\\echo RUN $r $v :ms
SQL
        done
    done
    echo "DROP TABLE t;"
} >"$WORK/bench.sql"

say "timing: $ROUNDS rounds x ${#VARIANTS[@]} variants (each on a fresh copy of $ROWS rows)"
# One session; its RUN lines are shown as progress.  It runs in the
# background so that a SIGTERM reaches the trap (and stops the cluster) at
# once instead of after the last run.
psql_run -At -f "$WORK/bench.sql" | while read -r tag r v ms; do
    if [[ "$tag" == RUN ]]; then
        printf '   round %s/%s  %-12s %9.1f ms\n' "$r" "$ROUNDS" "$v" "$ms"
    else
        printf '%s %s %s %s\n' "$tag" "$r" "$v" "$ms"
    fi
done &
wait $! || die "the timing session failed (see above)"

# --------------------------------------------------------------------------
# Summary, computed by the server from bench_run.
# --------------------------------------------------------------------------
# One line per variant: variant|median|min|max|overhead|ov_vs_plpgsql|ov_vs_moddatetime
summary="$(psql_run -At -F '|' <<SQL
WITH med AS (
    SELECT variant,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS median,
           min(ms) AS lo, max(ms) AS hi
      FROM bench_run GROUP BY variant
), ov AS (
    SELECT m.variant, m.median, m.lo, m.hi,
           m.median - f.median AS overhead
      FROM med m CROSS JOIN (SELECT median FROM med WHERE variant = 'floor') f
)
SELECT o.variant,
       round(o.median::numeric, 1), round(o.lo::numeric, 1), round(o.hi::numeric, 1),
       round(o.overhead::numeric, 1),
       CASE WHEN p.overhead > 0 THEN round((o.overhead / p.overhead)::numeric, 2) END,
       CASE WHEN d.overhead > 0 THEN round((o.overhead / d.overhead)::numeric, 2) END
  FROM ov o
  CROSS JOIN (SELECT overhead FROM ov WHERE variant = 'plpgsql') p
  CROSS JOIN (SELECT overhead FROM ov WHERE variant = 'moddatetime') d
 ORDER BY array_position(ARRAY['floor', 'noop', 'plpgsql', 'moddatetime', 'dbcore'], o.variant);
SQL
)"

declare -A MED LO HI OV R_PL R_MD
while IFS='|' read -r v med lo hi ov rpl rmd; do
    MED[$v]=$med LO[$v]=$lo HI[$v]=$hi OV[$v]=$ov R_PL[$v]=$rpl R_MD[$v]=$rmd
done <<<"$summary"
for v in "${VARIANTS[@]}"; do
    [[ -n "${MED[$v]:-}" ]] || die "no results for variant $v"
done

per_row() {   # per_row MS -> µs per row, 3 decimals
    awk -v ms="$1" -v n="$ROWS" 'BEGIN { printf "%.3f", ms * 1000 / n }'
}
ratio() { [[ -n "$1" ]] && printf '%s×' "$1" || printf 'n/a'; }

# shellcheck disable=SC2016  # the backquotes are Markdown
label() {
    case "$1" in
        floor) echo 'floor: no trigger, `SET updated_at = now()`' ;;
        plpgsql) echo 'PL/pgSQL trigger `NEW.updated_at = NOW()`' ;;
        moddatetime) echo 'contrib `moddatetime(updated_at)`' ;;
        dbcore) echo '`dbcore.updated_at()` (C)' ;;
        noop) echo 'reference: no-op C trigger `suppress_redundant_updates_trigger()`, statement sets updated_at' ;;
    esac
}

table="| Variant | Median ms (min–max) | µs/row | Overhead over floor, ms | Overhead µs/row | Overhead ÷ PL/pgSQL's | Overhead ÷ moddatetime's |
|---|---:|---:|---:|---:|---:|---:|"
display=(floor)
[[ $noop == 1 ]] && display+=(noop)
display+=(plpgsql moddatetime dbcore)
for v in "${display[@]}"; do
    if [[ $v == floor ]]; then
        table+="
| $(label "$v") | ${MED[$v]} (${LO[$v]}–${HI[$v]}) | $(per_row "${MED[$v]}") | — | — | — | — |"
    else
        table+="
| $(label "$v") | ${MED[$v]} (${LO[$v]}–${HI[$v]}) | $(per_row "${MED[$v]}") | ${OV[$v]} | $(per_row "${OV[$v]}") | $(ratio "${R_PL[$v]}") | $(ratio "${R_MD[$v]}") |"
    fi
done

r_pl="${R_PL[dbcore]}" r_md="${R_MD[dbcore]}"
if [[ -z "$r_pl" || -z "$r_md" ]]; then
    verdict="could not be judged: PL/pgSQL's or moddatetime's overhead came out at or below zero (too noisy a run)"
elif awk -v a="$r_md" -v b="$r_pl" -v ta="$TARGET_VS_MODDATETIME" -v tb="$TARGET_VS_PLPGSQL" \
        'BEGIN { exit !(a <= ta && b <= tb) }'; then
    verdict="**met** (dbcore's overhead: ${r_md}× moddatetime's, ${r_pl}× PL/pgSQL's)"
else
    missed=()
    awk -v a="$r_md" -v t="$TARGET_VS_MODDATETIME" 'BEGIN { exit !(a > t) }' &&
        missed+=("${r_md}× moddatetime's > ${TARGET_VS_MODDATETIME}×")
    awk -v a="$r_pl" -v t="$TARGET_VS_PLPGSQL" 'BEGIN { exit !(a > t) }' &&
        missed+=("${r_pl}× PL/pgSQL's > ${TARGET_VS_PLPGSQL}×")
    verdict="**not met** (dbcore's overhead: $(printf '%s, ' "${missed[@]}" | sed 's/, $//'))"
fi

cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)"
elapsed=$((SECONDS - started))
report="$(cat <<EOF
### updated_at trigger: bulk UPDATE of $ROWS rows

$table

Targets: dbcore's overhead over the floor ≤ ${TARGET_VS_MODDATETIME}× moddatetime's and ≤ ${TARGET_VS_PLPGSQL}× PL/pgSQL's — this run: $verdict.

\`UPDATE t SET payload = payload + 1\` over all $ROWS rows (floor: \`..., updated_at = now()\` in the statement), median of $ROUNDS rounds, variants in rotating order, each run on a fresh frozen, prewarmed copy of the same table (fillfactor $FILLFACTOR$( ((FILLFACTOR <= 50)) && echo ': every update is HOT')); server-side time from \`clock_timestamp()\` around the statement. PostgreSQL $pg_version, ${cpu:-unknown CPU}, $(nproc) cores; $(date -u '+%Y-%m-%d'); \`$command\` took ${elapsed}s.
EOF
)"

echo
printf '%s\n' "$report"
echo

if [[ -n "$RESULTS_FILE" ]]; then
    mkdir -p "$(dirname "$RESULTS_FILE")"
    printf '%s\n' "$report" >"$RESULTS_FILE"
    ok "written to $RESULTS_FILE"
elif [[ $quick == 1 ]]; then
    say "quick run: report not written (set RESULTS_FILE=... to keep it)"
else
    say "report not written (RESULTS_FILE is empty)"
fi
