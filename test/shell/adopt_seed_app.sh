#!/usr/bin/env bash
# doc/adopting-dbcore.md, followed step by step on a seed-style app: a
# node-postgres pool, a hand-written migration runner with its own
# `migrations` table, the PL/pgSQL update_updated_at() trigger on three
# tables, and `WHERE client_id = $1` in every query.  Each step below is the
# guide's, in its order; the app's requests before and after run through
# node-postgres (examples/node-postgres/with-client.ts after the move).
source "$(dirname "${BASH_SOURCE[0]}")/lib/migrate.sh"
# shellcheck source=test/shell/lib/examples_npm.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/examples_npm.sh"
examples_npm_ci
mig_setup dbcore_adopt_seed
q "DROP EXTENSION dbcore" >/dev/null
OWNER="dbcore_seed_owner_$$"
APP="dbcore_seed_app_$$"
_seed_cleanup() {
    local rc=$?
    "$PSQL" -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$TESTDB\" WITH (FORCE)" \
        -c "DROP ROLE IF EXISTS \"$APP\"" -c "DROP ROLE IF EXISTS \"$OWNER\"" >/dev/null 2>&1
    rm -f "$EXAMPLES_DIR/.seed_app_before_$$.mjs" "$EXAMPLES_DIR/.seed_app_after_$$.ts"
    (exit "$rc")
    _mig_cleanup
}
trap _seed_cleanup EXIT INT TERM
A=aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa
B=bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb

# ---------------------------------------------------------------------------
# The seed-style app, before dbcore
# ---------------------------------------------------------------------------
"$PSQL" -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE ROLE \"$OWNER\" LOGIN" >/dev/null
q "ALTER DATABASE \"$TESTDB\" OWNER TO \"$OWNER\"" >/dev/null
cat >migrations/001_businesses.sql <<'SQL'
CREATE FUNCTION update_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END
$$;
CREATE TABLE businesses (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id   uuid NOT NULL,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER businesses_updated_at BEFORE UPDATE ON businesses
    FOR EACH ROW EXECUTE FUNCTION update_updated_at();
SQL
cat >migrations/002_users.sql <<'SQL'
CREATE TABLE users (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id   uuid NOT NULL,
    business_id uuid NOT NULL REFERENCES businesses,
    email       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_client_idx ON users (client_id);
CREATE TRIGGER users_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION update_updated_at();
SQL
cat >migrations/003_messages.sql <<'SQL'
CREATE TABLE messages (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id   uuid NOT NULL,
    user_id     uuid NOT NULL REFERENCES users,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER messages_updated_at BEFORE UPDATE ON messages
    FOR EACH ROW EXECUTE FUNCTION update_updated_at();
SQL
# The hand-written runner: each file in a transaction, its name recorded.
qo() { PGUSER="$OWNER" "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$TESTDB" "$@"; }
qo -c "CREATE TABLE migrations (id serial PRIMARY KEY, name text NOT NULL UNIQUE,
                                applied_at timestamptz NOT NULL DEFAULT now())"
for f in migrations/00*.sql; do
    qo -1 -f "$f" -c "INSERT INTO migrations (name) VALUES ('$(basename "$f")')"
done
qo -c "INSERT INTO businesses (id, client_id, name) VALUES
           ('10000000-0000-4000-8000-000000000001', '$A', 'Acme'), ('20000000-0000-4000-8000-000000000002', '$B', 'Bolt');
       INSERT INTO users (client_id, business_id, email) VALUES
           ('$A', '10000000-0000-4000-8000-000000000001', 'ann@acme.test'), ('$B', '20000000-0000-4000-8000-000000000002', 'bob@bolt.test');
       INSERT INTO messages (client_id, user_id, body) SELECT client_id, id, 'hello from ' || email FROM users"
# The app: a node-postgres pool, WHERE client_id = \$1 in every query.
cat >"$EXAMPLES_DIR/.seed_app_before_$$.mjs" <<'JS'
import pg from 'pg';
const pool = new pg.Pool({ max: 2 });
const { rows } = await pool.query('SELECT email FROM users WHERE client_id = $1', [process.argv[2]]);
console.log(rows.map((r) => r.email).join(','));
await pool.end();
JS
expect_rc 0 "the seed app runs" env PGUSER="$OWNER" node "$EXAMPLES_DIR/.seed_app_before_$$.mjs" "$A"
rm -f "$EXAMPLES_DIR/.seed_app_before_$$.mjs"
check "and reads its client's rows" out_has "ann@acme.test"

# ---------------------------------------------------------------------------
# Step 1: install dbcore; the roles
# ---------------------------------------------------------------------------
q "CREATE EXTENSION dbcore" >/dev/null
"$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$TESTDB" -v owner="$OWNER" -v app="$APP" >/dev/null <<'SQL'
-- The migration role owns the tables and bypasses row level security.
ALTER ROLE :"owner" BYPASSRLS;
GRANT USAGE ON SCHEMA dbcore TO :"owner";
GRANT EXECUTE ON FUNCTION
    dbcore.apply_migration(text, text, text, text), dbcore.revert_migration(text),
    dbcore.begin_migration(text, text, text, text), dbcore.finish_migration(text),
    dbcore.repair_migration(text), dbcore.baseline(text), dbcore.migration_status(),
    dbcore.verify_migrations(text[], text[]),
    dbcore.import_migration(text, text, timestamptz, text, text, text, text, float8, text),
    dbcore.migration_imports()
  TO :"owner";
-- The application role: no BYPASSRLS, not the tables' owner.
CREATE ROLE :"app" LOGIN NOBYPASSRLS;
GRANT USAGE ON SCHEMA dbcore TO :"app";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
SQL
pass "step 1: dbcore installed, a migration role and an application role"

# ---------------------------------------------------------------------------
# Step 2: the migration history into the ledger
# ---------------------------------------------------------------------------
MO=(env PGUSER="$OWNER" "$MIGRATE" --dir migrations)
expect_rc 0 "step 2: import --from migrations-table" "${MO[@]}" import --from migrations-table
check "the three migrations are imported" out_has "3 imported, 0 already in the ledger, 0 skipped, 0 not imported"
expect_rc 0 "verify: the files and the ledger agree" "${MO[@]}" verify
expect_rc 0 "up has nothing to run" "${MO[@]}" up
check "nothing to apply" out_has "nothing to apply"

# ---------------------------------------------------------------------------
# Step 3: dbcore's updated_at instead of update_updated_at()
# ---------------------------------------------------------------------------
cat >migrations/004_dbcore_updated_at.sql <<'SQL'
DROP TRIGGER businesses_updated_at ON businesses;
DROP TRIGGER users_updated_at ON users;
DROP TRIGGER messages_updated_at ON messages;
DROP FUNCTION update_updated_at();
SELECT dbcore.attach_updated_at(t) FROM unnest('{businesses,users,messages}'::regclass[]) AS t;
SQL
expect_rc 0 "step 3: the updated_at migration" "${MO[@]}" up
eq "the PL/pgSQL function is gone" "SELECT count(*) FROM pg_proc WHERE proname = 'update_updated_at'" 0
eq "dbcore's trigger is on the three tables" \
    "SELECT string_agg(tgrelid::regclass::text, ',' ORDER BY tgrelid::regclass::text) FROM pg_trigger WHERE tgfoid = 'dbcore.updated_at()'::regprocedure" \
    "businesses,messages,users"

# ---------------------------------------------------------------------------
# Step 4: tenant scoping instead of WHERE client_id = $1
# ---------------------------------------------------------------------------
cat >migrations/005_tenant_scoping.sql <<'SQL'
-- Keys carry the client: a key without it lets one client probe another's rows.
ALTER TABLE messages DROP CONSTRAINT messages_user_id_fkey;
ALTER TABLE users DROP CONSTRAINT users_business_id_fkey;
ALTER TABLE businesses DROP CONSTRAINT businesses_pkey, ADD PRIMARY KEY (client_id, id);
ALTER TABLE users DROP CONSTRAINT users_pkey, ADD PRIMARY KEY (client_id, id);
ALTER TABLE messages DROP CONSTRAINT messages_pkey, ADD PRIMARY KEY (client_id, id);
DROP INDEX users_client_idx;
SELECT dbcore.enable_tenant_scoping(t) FROM unnest('{businesses,users,messages}'::regclass[]) AS t;
ALTER TABLE users ADD FOREIGN KEY (client_id, business_id) REFERENCES businesses;
ALTER TABLE messages ADD FOREIGN KEY (client_id, user_id) REFERENCES users;
SQL
expect_rc 0 "step 4: the tenant scoping migration" "${MO[@]}" up
eq "tenant_audit() finds no hole" "SELECT count(*) FROM dbcore.tenant_audit()" 0

# ---------------------------------------------------------------------------
# Step 5: the app sets the client per request (withClient)
# ---------------------------------------------------------------------------
cat >"$EXAMPLES_DIR/.seed_app_after_$$.ts" <<'TS'
import pg from 'pg';
import { withClient } from './node-postgres/with-client.ts';
const pool = new pg.Pool({ max: 2 });
const [client, other] = process.argv.slice(2);
const out: string[] = [];
// The WHERE clause may stay (it is harmless), or go: the scope filters.
out.push((await withClient(pool, client, (c) => c.query('SELECT email FROM users'))).rows.map((r) => r.email).join(';'));
out.push((await withClient(pool, client, (c) => c.query('SELECT email FROM users WHERE client_id = $1', [other]))).rowCount + ' rows of the other client');
const [before] = (await withClient(pool, client, (c) => c.query('SELECT updated_at FROM businesses'))).rows;
const [after] = (await withClient(pool, client, (c) => c.query("UPDATE businesses SET name = name || '!' RETURNING updated_at"))).rows;
out.push(after.updated_at > before.updated_at ? 'updated_at moved' : 'updated_at stayed');
try {
  await pool.query('SELECT email FROM users');
  out.push('unscoped query ran');
} catch (err: any) {
  out.push(`unscoped query: ${err.code} ${err.message}`);
}
console.log(out.join('\n'));
await pool.end();
TS
expect_rc 0 "step 5: the app, requests wrapped in withClient()" \
    env -C "$EXAMPLES_DIR" PGUSER="$APP" PGDATABASE="$TESTDB" node --import tsx ".seed_app_after_$$.ts" "$A" "$B"
rm -f "$EXAMPLES_DIR/.seed_app_after_$$.ts"
check "a request sees its client's rows without a WHERE" out_has "ann@acme.test"
check "and none of the other client's, even when it asks" out_has "0 rows of the other client"
check "updated_at moves with dbcore's trigger" out_has "updated_at moved"
check "a request without a scope fails loudly" out_has "unscoped query: 42501 no client scope is set"
expect_rc 0 "the ledger: imported history, then dbcore's" "${MO[@]}" status
check "imported rows" grep -qE '^001 +businesses +imported' "$WORK/out"
check "and applied ones" grep -qE '^005 +tenant_scoping +applied' "$WORK/out"

finish
