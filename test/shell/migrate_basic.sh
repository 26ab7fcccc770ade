#!/usr/bin/env bash
# dbcore-migrate on a fresh database: up, status, down, redo, verify with an
# edited file, a failing file, non-transactional files, dry runs, create,
# baseline, and the exit codes for CI (0 ok, 1 failure, 2 usage, 3 drift,
# 4 no connection).
source "$(dirname "${BASH_SOURCE[0]}")/lib/migrate.sh"
mig_setup dbcore_migrate_basic
M=("$MIGRATE" --dir migrations)

cat >migrations/001_users.sql <<'SQL'
CREATE TABLE users (id int PRIMARY KEY, email text);
-- migrate:down
DROP TABLE users;
SQL
cat >migrations/002_orders.sql <<'SQL'
CREATE TABLE orders (id int PRIMARY KEY, user_id int REFERENCES users, note text DEFAULT 'a;b');
CREATE FUNCTION order_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM orders; $$;
SQL
cat >migrations/002_orders.down.sql <<'SQL'
DROP FUNCTION order_count();
DROP TABLE orders;
SQL
cat >migrations/10_indexes.sql <<'SQL'
-- migrate:no-transaction
CREATE INDEX CONCURRENTLY users_email_idx ON users (email);
/* a comment; with a semicolon */
CREATE INDEX CONCURRENTLY orders_user_idx ON orders (user_id);  -- and another;
-- migrate:down
DROP INDEX users_email_idx;
DROP INDEX orders_user_idx;
SQL

# ---- dry run and up
expect_rc 0 "up --dry-run" "${M[@]}" up --dry-run
check "dry run lists the three files" out_has "would apply  10 indexes [no-transaction]"
eq "dry run changed nothing" "SELECT count(*) FROM dbcore.migrations" 0
expect_rc 0 "up 1" "${M[@]}" up 1
eq "up 1 applied one" "SELECT string_agg(version, ',') FROM dbcore.migrations" "001"
expect_rc 0 "up" "${M[@]}" up
check "up says what it applied" out_has "applied  10 indexes [no-transaction]"
eq "all three applied" "SELECT string_agg(version || ':' || state, ',' ORDER BY version_key) FROM dbcore.migrations" \
    "001:applied,002:applied,10:applied"
eq "the concurrent indexes exist and are valid" \
    "SELECT count(*) FROM pg_index WHERE indexrelid::regclass::text IN ('users_email_idx', 'orders_user_idx') AND indisvalid" 2
eq "the non-transactional one was begun and finished" \
    "SELECT string_agg(event, ',' ORDER BY id) FROM dbcore.migration_log WHERE version = '10'" "begun,finished"
eq "the down part after the marker is stored" \
    "SELECT down_sql FROM dbcore.migrations WHERE version = '001'" "DROP TABLE users;"
expect_rc 0 "up again" "${M[@]}" up
check "nothing to apply" out_has "nothing to apply"

# ---- status and verify
expect_rc 0 "status" "${M[@]}" status
check "status has a header" out_has "VERSION"
check "status shows the applied state" grep -qE '^10 +indexes +applied' "$WORK/out"
expect_rc 0 "verify with unchanged files" "${M[@]}" verify
check "verify reports ok" out_has "ok: 3 files match the ledger, 0 pending"

# ---- down and redo
expect_rc 0 "down" "${M[@]}" down
eq "down reverted the newest" "SELECT string_agg(version, ',' ORDER BY version_key) FROM dbcore.migrations" "001,002"
eq "its indexes are gone" "SELECT count(*) FROM pg_class WHERE relname IN ('users_email_idx', 'orders_user_idx')" 0
expect_rc 0 "down 2" "${M[@]}" down 2
eq "down 2 emptied the ledger" "SELECT count(*) FROM dbcore.migrations" 0
eq "and the schema" "SELECT count(*) FROM pg_class WHERE relname IN ('users', 'orders')" 0
expect_rc 0 "down on an empty ledger" "${M[@]}" down
check "nothing to revert" out_has "nothing to revert"
expect_rc 0 "up after down" "${M[@]}" up
expect_rc 0 "redo" "${M[@]}" redo
check "redo reverted and applied 10" grep -qzE 'reverted 10 indexes.*applied  10 indexes' "$WORK/out"
eq "10 is applied again" "SELECT state FROM dbcore.migrations WHERE version = '10'" applied
expect_rc 0 "down --dry-run" "${M[@]}" down --dry-run
eq "dry run reverted nothing" "SELECT count(*) FROM dbcore.migrations" 3

# ---- an edited file is drift (exit 3), for verify and for up
cp migrations/002_orders.sql "$WORK/orig.sql"
sed -i 's/note text/note varchar(10)/' migrations/002_orders.sql
expect_rc 3 "verify with an edited file exits 3" "${M[@]}" verify
check "verify names the changed migration" out_has "changed     002 orders"
check "and both checksums" grep -qE 'applied with checksum [0-9a-f]{64}, script has checksum [0-9a-f]{64}' "$WORK/out"
expect_rc 3 "up refuses to run over an edited file" "${M[@]}" up
cp "$WORK/orig.sql" migrations/002_orders.sql
expect_rc 0 "verify after restoring the file" "${M[@]}" verify

# ---- a file applied nowhere but older than the newest: drift too
printf 'CREATE TABLE late (id int);\n' >migrations/005_late.sql
expect_rc 3 "an older unapplied file is drift for verify" "${M[@]}" verify
check "reported as missing" out_has "missing     005"
expect_rc 3 "up refuses it too" "${M[@]}" up
expect_rc 0 "up --allow-out-of-order applies it" "${M[@]}" --allow-out-of-order up
eq "005 applied" "SELECT state FROM dbcore.migrations WHERE version = '005'" applied

# ---- a failing file leaves nothing applied
cat >migrations/020_broken.sql <<'SQL'
CREATE TABLE broken (id int);
INSERT INTO broken VALUES (1);
SELECT 1 / 0;
SQL
printf 'CREATE TABLE after_broken (id int);\n' >migrations/021_after.sql
expect_rc 1 "a failing file exits 1" "${M[@]}" up
check "the error names the file and the migration" \
    err_has 'migration file "migrations/020_broken.sql": up script of migration 020 "broken" failed: division by zero (SQLSTATE 22012)'
eq "nothing of it remains" "SELECT count(*) FROM pg_class WHERE relname IN ('broken', 'after_broken')" 0
eq "not in the ledger" "SELECT count(*) FROM dbcore.migrations WHERE version IN ('020', '021')" 0
rm migrations/020_broken.sql migrations/021_after.sql

# ---- a failing non-transactional file stays in progress until repaired
cat >migrations/030_bad_index.sql <<'SQL'
-- migrate:no-transaction
CREATE INDEX CONCURRENTLY no_such_idx ON no_such_table (id);
SQL
expect_rc 1 "a failing non-transactional file exits 1" "${M[@]}" --wait 1 up
check "it says how to repair" err_has "repair 030"
eq "it is in progress" "SELECT state FROM dbcore.migrations WHERE version = '030'" in_progress
# The dbcore-migrate that began it has exited: up does not wait for it.
t0=$SECONDS
expect_rc 1 "up again refuses at once: the session that began 030 has ended" "${M[@]}" --wait 120 up
check "it did not wait (--wait 120)" test $((SECONDS - t0)) -lt 30
check "it says the migration was interrupted" err_has "has ended: the migration was interrupted"
check "with SQLSTATE MG002" err_has "(SQLSTATE MG002)"
check "and to check the schema and repair it" err_has "call dbcore.repair_migration('030') to run it again"
expect_rc 3 "verify reports it" "${M[@]}" verify
expect_rc 0 "repair" "${M[@]}" repair 030
eq "repaired" "SELECT count(*) FROM dbcore.migrations WHERE version = '030'" 0
rm migrations/030_bad_index.sql

# ---- a non-transactional file with SQL-standard function bodies: the
# semicolons inside BEGIN ATOMIC ... END (and a CASE ... END in it) do not
# split the statement
cat >migrations/040_atomic.sql <<'SQL'
-- migrate:no-transaction
CREATE FUNCTION atomic_two(x int) RETURNS int LANGUAGE sql
BEGIN ATOMIC
    SELECT 1;
    SELECT CASE WHEN x > 0 THEN x * 2 ELSE 0 END;
END;
create or replace procedure atomic_proc() language sql
begin atomic
    insert into users (id, email) values (900, 'atomic;');
    delete from users where id = 900;
end;
CREATE INDEX CONCURRENTLY users_atomic_idx ON users (id);
-- migrate:down
DROP FUNCTION atomic_two(int);
DROP PROCEDURE atomic_proc();
DROP INDEX users_atomic_idx;
SQL
expect_rc 0 "a no-transaction file with BEGIN ATOMIC bodies applies" "${M[@]}" up
eq "the function body kept both statements" "SELECT atomic_two(21)" 42
eq "the procedure exists" "SELECT count(*) FROM pg_proc WHERE proname = 'atomic_proc'" 1
eq "and the statement after them ran on its own" \
    "SELECT count(*) FROM pg_class WHERE relname = 'users_atomic_idx'" 1
expect_rc 0 "and reverts" "${M[@]}" down
eq "its objects are gone" "SELECT count(*) FROM pg_proc WHERE proname IN ('atomic_two', 'atomic_proc')" 0
rm migrations/040_atomic.sql

# ---- the server's contract: SQLSTATEs, not message texts
printf 'CREATE ROLE dbcore_migrate_basic_dup;\nCREATE ROLE dbcore_migrate_basic_dup;\n' >migrations/050_dup.sql
expect_rc 1 "a script's own duplicate_object (42710) is a failure, not drift" "${M[@]}" up
check "reported with its own SQLSTATE" err_has "(SQLSTATE 42710)"
rm migrations/050_dup.sql

# ---- create
expect_rc 0 "create NAME" "${M[@]}" create add_widgets
check "create prints the new file" grep -qE '^migrations/[0-9]{14}_add_widgets\.sql$' "$WORK/out"
created="$(cat "$WORK/out")"
check "the new file has a down marker" grep -qx -- '-- migrate:down' "$created"
expect_rc 2 "create with a bad name" "${M[@]}" create 'bad name'
rm -f "$created"

# ---- usage and file errors (2), connection errors (4)
expect_rc 2 "no command" "$MIGRATE"
expect_rc 2 "unknown command" "$MIGRATE" frobnicate
expect_rc 2 "up 0" "${M[@]}" up 0
expect_rc 2 "up x" "${M[@]}" up x
expect_rc 2 "up 1 --to 2" "${M[@]}" up 1 --to 2
expect_rc 2 "down --to" "${M[@]}" down --to 1
expect_rc 2 "status with an argument" "${M[@]}" status now
expect_rc 2 "baseline without a version" "${M[@]}" baseline
expect_rc 2 "baseline with a bad version" "${M[@]}" baseline v1
expect_rc 2 "a missing directory" "$MIGRATE" --dir "$WORK/nope" up
printf 'SELECT 1;\n' >migrations/abc.sql
expect_rc 2 "a badly named file" "${M[@]}" up
check "is named in the error" err_has '"abc.sql" is not <version>_<name>.sql'
rm migrations/abc.sql
expect_rc 0 "--help" "$MIGRATE" --help
expect_rc 0 "--version" "$MIGRATE" --version
check "--version is the extension's version" out_has "dbcore-migrate $(make -s --no-print-directory -C "$ROOT" version)"
expect_rc 4 "a database that does not exist" "$MIGRATE" -d dbcore_no_such_database status
expect_rc 4 "DATABASE_URL is used" env DATABASE_URL="postgresql:///dbcore_no_such_database" "$MIGRATE" status
expect_rc 0 "-d with a connection string" "${M[@]}" -d "dbname=$TESTDB" status

# ---- baseline on a database adopted with its schema in place
"$PSQL" -X -q -d postgres -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS ${TESTDB}_b" -c "CREATE DATABASE ${TESTDB}_b" >/dev/null
"$PSQL" -X -q -d "${TESTDB}_b" -c "CREATE EXTENSION dbcore" -c "CREATE TABLE users (id int PRIMARY KEY, email text)" >/dev/null
expect_rc 0 "baseline 001" "${M[@]}" -d "${TESTDB}_b" baseline 001
expect_rc 0 "up after the baseline" "${M[@]}" -d "${TESTDB}_b" up
check "applied the later ones only" out_lacks "applied  001"
expect_rc 1 "a second baseline fails" "${M[@]}" -d "${TESTDB}_b" baseline 002
"$PSQL" -X -q -d postgres -c "DROP DATABASE ${TESTDB}_b WITH (FORCE)" >/dev/null

finish
