#!/usr/bin/env bash
# Stress: 8 dbcore-migrate processes run `up` over the same 40 files at once
# (one of them non-transactional).  Every migration must run exactly once:
# each inserts its version into a table, and the ledger and the history
# must show one application per version.  All processes must succeed.
source "$(dirname "${BASH_SOURCE[0]}")/lib/migrate.sh"
mig_setup dbcore_migrate_concurrent

CLIENTS=${CLIENTS:-8}
N=40

printf 'CREATE TABLE runs (version text NOT NULL, pid int NOT NULL DEFAULT pg_backend_pid());\n' \
    >migrations/0001_runs.sql
for i in $(seq 2 $N); do
    v=$(printf '%04d' "$i")
    if [[ $i -eq 20 ]]; then
        {
            echo '-- migrate:no-transaction'
            echo "CREATE INDEX CONCURRENTLY runs_version_idx ON runs (version);"
            echo "INSERT INTO runs (version) VALUES ('$v');"
        } >"migrations/${v}_index_runs.sql"
    else
        {
            echo "CREATE TABLE t_$v (id int PRIMARY KEY, note text);"
            echo "INSERT INTO runs (version) VALUES ('$v');"
        } >"migrations/${v}_table_$v.sql"
    fi
done

pids=()
for c in $(seq 1 "$CLIENTS"); do
    "$MIGRATE" --dir migrations up >"$WORK/client$c.out" 2>"$WORK/client$c.err" &
    pids+=($!)
done
rcs=()
for p in "${pids[@]}"; do
    rc=0
    wait "$p" || rc=$?
    rcs+=("$rc")
done

bad=0
for i in "${!rcs[@]}"; do
    if [[ ${rcs[$i]} -ne 0 ]]; then
        bad=$((bad + 1))
        sed "s/^/#   client $((i + 1)): /" "$WORK/client$((i + 1)).err"
    fi
done
if [[ $bad -eq 0 ]]; then pass "all $CLIENTS clients exit 0"; else fail "$bad of $CLIENTS clients failed"; fi

applied_lines=$(cat "$WORK"/client*.out | grep -c '^applied ' || true)
if [[ $applied_lines -eq $N ]]; then
    pass "the clients report $N applications in all"
else
    fail "the clients report $applied_lines applications, wanted $N"
fi
eq "every migration ran exactly once" \
    "SELECT count(*) || '/' || count(DISTINCT version) FROM runs" "$((N - 1))/$((N - 1))"
eq "the ledger has $N applied rows" \
    "SELECT count(*) FROM dbcore.migrations WHERE state = 'applied'" "$N"
eq "the history has one application per version" \
    "SELECT count(*) FROM (SELECT version FROM dbcore.migration_log
      WHERE event IN ('applied', 'begun') GROUP BY version HAVING count(*) = 1) s" "$N"
eq "the non-transactional one was begun and finished once" \
    "SELECT string_agg(event, ',' ORDER BY id) FROM dbcore.migration_log WHERE version = '0020'" "begun,finished"
eq "its index is valid" \
    "SELECT indisvalid FROM pg_index WHERE indexrelid = 'runs_version_idx'::regclass" t
eq "the tables exist" \
    "SELECT count(*) FROM pg_class WHERE relname ~ '^t_[0-9]{4}\$'" "$((N - 2))"
echo "# $(q "SELECT count(DISTINCT pid) FROM runs") sessions ran migrations"
expect_rc 0 "verify after the race" "$MIGRATE" --dir migrations verify

finish
