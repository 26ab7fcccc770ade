#!/usr/bin/env bash
# pg_dump keeps the ledger: a dump restored into a new database brings the
# ledger and history rows with it (once: CREATE EXTENSION makes no rows of
# its own), the history's event numbers continue, and dbcore-migrate sees
# everything as applied.
source "$(dirname "${BASH_SOURCE[0]}")/lib/migrate.sh"
mig_setup dbcore_migrate_dump
RESTORED="${TESTDB}_restored"
_dump_cleanup() { "$PSQL" -X -q -d postgres -c "DROP DATABASE IF EXISTS $RESTORED WITH (FORCE)" >/dev/null 2>&1 || true; }
trap '_dump_cleanup; _mig_cleanup' EXIT INT TERM

PG_DUMP=pg_dump PG_RESTORE=pg_restore
[[ -z "${PG_CONFIG:-}" ]] || { PG_DUMP="$("$PG_CONFIG" --bindir)/pg_dump"; PG_RESTORE="$("$PG_CONFIG" --bindir)/pg_restore"; }

printf 'CREATE TABLE a (id int);\n-- migrate:down\nDROP TABLE a;\n' >migrations/1_a.sql
printf 'CREATE TABLE b (id int);\n-- migrate:down\nDROP TABLE b;\n' >migrations/2_b.sql
printf 'CREATE TABLE c (id int);\n-- migrate:down\nDROP TABLE c;\n' >migrations/3_c.sql
expect_rc 0 "up" "$MIGRATE" --dir migrations up
expect_rc 0 "down" "$MIGRATE" --dir migrations down
expect_rc 0 "up again" "$MIGRATE" --dir migrations up

ledger_sql="SELECT string_agg(version || ':' || state || ':' || checksum, ',' ORDER BY version_key) FROM dbcore.migrations"
log_sql="SELECT string_agg(id || ':' || version || ':' || event, ',' ORDER BY id) FROM dbcore.migration_log"
ledger="$(q "$ledger_sql")"
log="$(q "$log_sql")"

check "pg_dump" "$PG_DUMP" -Fc -f "$WORK/dump" "$TESTDB"
"$PSQL" -X -q -d postgres -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS $RESTORED" -c "CREATE DATABASE $RESTORED" >/dev/null
check "pg_restore" "$PG_RESTORE" --exit-on-error -d "$RESTORED" "$WORK/dump"

TESTDB_SAVED="$TESTDB"
TESTDB="$RESTORED"
eq "the ledger came back, once" "$ledger_sql" "$ledger"
eq "the history came back, once" "$log_sql" "$log"
check "CREATE EXTENSION IF NOT EXISTS adds nothing" q "CREATE EXTENSION IF NOT EXISTS dbcore"
eq "still once" "SELECT count(*) FROM dbcore.migrations" 3
expect_rc 0 "dbcore-migrate verify on the restored database" "$MIGRATE" -d "$RESTORED" --dir migrations verify
expect_rc 0 "up has nothing to do" "$MIGRATE" -d "$RESTORED" --dir migrations up
check "nothing to apply" out_has "nothing to apply"
printf 'CREATE TABLE d (id int);\n' >migrations/4_d.sql
expect_rc 0 "a new migration applies" "$MIGRATE" -d "$RESTORED" --dir migrations up
eq "its event number follows the restored ones" \
    "SELECT (max(id) = $(wc -w <<<"${log//,/ }") + 1)::text FROM dbcore.migration_log" true
TESTDB="$TESTDB_SAVED"

finish
