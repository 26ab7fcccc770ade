#!/usr/bin/env bash
# Shell test: pg_dump / pg_restore of a database that uses every dbcore
# feature gives the same objects and the same rows, and the restored copy is
# still tenant-scoped.
#
# Builds a source database with updated_at triggers (attach_updated_at with
# options, a hand-written trigger, a partitioned table, inheritance children,
# dbcore.auto_updated_at), tenant-scoped tables (uuid, bigint and text client
# columns, a partitioned one with partitions created, attached and detached
# after scoping, a foreign key, an application policy, a view), audited
# tables (one scoped, with soft delete and a partial unique index) with their
# history in dbcore.audit_log, migration ledger and history rows (baseline,
# apply, revert, begin/finish), then:
#   - pg_dump -Fc, pg_restore into a new database as a superuser;
#   - compares the extension's objects (test/upgrade/describe.sql), the user
#     schema (describe.sql on schema "app" plus a description of partitions,
#     inheritance, triggers with their clone/enabled state, policies and row
#     level security flags), and the rows: per table count and md5 of the
#     ordered contents, dbcore.tenant_tables, dbcore.migrations,
#     dbcore.migration_log, dbcore.audited_tables and dbcore.audit_log
#     included, and every sequence's position;
#   - restores a second time into a database whose default has
#     dbcore.auto_updated_at = on, with the restoring session switching it off
#     (what the README asks for), and compares again;
#   - runs the tenant attack suite (test/pgtap/tenant_attacks.sql, when it
#     exists; else a fallback set of attacks below) on the restored copy;
#   - checks the guard rails, the scope and the triggers on the restored
#     tables as the application role.
# Connects with PGHOST/PGPORT/PGUSER (a superuser) from the environment, as
# tools/test.sh sets them.  Budget: ~60 s (typically 10-20 s).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
: "${PGHOST:?PGHOST must point at a test cluster (run through tools/test.sh)}"
: "${PGPORT:?PGPORT must point at a test cluster (run through tools/test.sh)}"
export PGUSER="${PGUSER:-postgres}"
unset PGDATABASE PGOPTIONS

BINDIR=/usr/lib/postgresql/15/bin
if [[ -n "${PG_CONFIG:-}" ]]; then BINDIR="$("$PG_CONFIG" --bindir)"; fi
PSQL="$BINDIR/psql" PG_DUMP="$BINDIR/pg_dump" PG_RESTORE="$BINDIR/pg_restore"
for p in "$PSQL" "$PG_DUMP" "$PG_RESTORE"; do
    [[ -x "$p" ]] || { echo "not ok - $p not found (install postgresql-15)"; exit 1; }
done
DESCRIBE="$ROOT/test/upgrade/describe.sql"
ATTACKS="$ROOT/test/pgtap/tenant_attacks.sql"

SUFFIX="$$"
SRC="dbcore_dr_src_$SUFFIX" DST="dbcore_dr_dst_$SUFFIX" DST2="dbcore_dr_auto_$SUFFIX"
APP="dbcore_dr_app_$SUFFIX"      # owns the application schema; no BYPASSRLS
SYS="dbcore_dr_sys_$SUFFIX"      # migrations and admin jobs: BYPASSRLS
WORK="$(mktemp -d "${TMPDIR:-/tmp}/dbcore-dump-restore.XXXXXX")"
START=$SECONDS

passed=0 failed=0
indent() { sed 's/^/#   /'; }
pass() { passed=$((passed + 1)); echo "ok $((passed + failed)) - $*"; }
fail() { failed=$((failed + 1)); echo "not ok $((passed + failed)) - $*"; }

cleanup() {
    local rc=$?
    set +e
    for db in "$SRC" "$DST" "$DST2"; do
        "$PSQL" -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1
    done
    "$PSQL" -X -q -d postgres -c "DROP ROLE IF EXISTS \"$APP\"" -c "DROP ROLE IF EXISTS \"$SYS\"" >/dev/null 2>&1
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# sql DB [psql args]: run psql quietly with ON_ERROR_STOP in DB.
sql() {
    local db="$1"; shift
    PGOPTIONS="-c client_min_messages=warning" \
        "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -v app="$APP" -v sys="$SYS" -d "$db" "$@"
}
# as_app DB SQL: run SQL as the application role (a login of its own).
as_app() {
    PGOPTIONS="-c client_min_messages=warning" \
        "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -U "$APP" -d "$1" -c "$2"
}
# expect_sqlstate DESC STATE DB SQL: SQL, run as the app role, must fail with STATE.
expect_sqlstate() {
    local desc="$1" state="$2" db="$3" out rc=0
    out="$(as_app "$db" "$4" 2>&1)" || rc=$?
    if [[ $rc -ne 0 ]] && grep -q "ERROR:  $state:" <<<"$out"; then
        pass "$desc ($state)"
    else
        fail "$desc: wanted SQLSTATE $state, got exit $rc"
        indent <<<"$out"
    fi
}
# expect_eq DESC GOT WANT
expect_eq() {
    if [[ "$2" == "$3" ]]; then
        pass "$1"
    else
        fail "$1"
        printf '#   wanted: %s\n#   got:    %s\n' "$3" "$2"
    fi
}
# same_file DESC A B: A and B are identical (and non-empty).
same_file() {
    if [[ -s "$2" ]] && cmp -s "$2" "$3"; then
        pass "$1 ($(wc -l <"$2") lines)"
    else
        fail "$1"
        { diff -u "$2" "$3" || true; } | head -n 60 | sed 's/^/#   /'
    fi
}

# ---------------------------------------------------------------------------
# The source database
# ---------------------------------------------------------------------------

sql postgres -c "CREATE ROLE \"$APP\" LOGIN NOBYPASSRLS" \
             -c "CREATE ROLE \"$SYS\" LOGIN BYPASSRLS IN ROLE \"$APP\"" \
             -c "CREATE DATABASE \"$SRC\""

# Tenants: three uuid clients (T1 also as a text client id), and the bigint
# clients 101 and 202.
T1=00000000-0000-4000-8000-0000000000a1
T2=00000000-0000-4000-8000-0000000000b2
T3=00000000-0000-4000-8000-0000000000c3

if ! sql "$SRC" -v t1="$T1" -v t2="$T2" -v t3="$T3" >"$WORK/build.log" 2>&1 <<'EOF'
SET TimeZone = 'UTC';
CREATE EXTENSION dbcore;
GRANT USAGE ON SCHEMA dbcore TO :"app", :"sys";
GRANT EXECUTE ON FUNCTION
    dbcore.apply_migration(text, text, text, text), dbcore.revert_migration(text),
    dbcore.begin_migration(text, text, text, text), dbcore.finish_migration(text),
    dbcore.baseline(text), dbcore.migration_status()
  TO :"sys";
CREATE SCHEMA app AUTHORIZATION :"app";
GRANT CREATE ON SCHEMA app TO :"sys";

-- Everything below is made by the application role, like in production.
SET ROLE :"app";
SET search_path = app;

-- updated_at ------------------------------------------------------------------

CREATE TABLE plain_items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text,
                          created_at timestamptz NOT NULL DEFAULT now(),
                          updated_at timestamptz NOT NULL DEFAULT now());
SELECT dbcore.attach_updated_at('plain_items');

-- every option, another column name, timestamp without time zone
CREATE TABLE "Odd Stamps" (id int PRIMARY KEY, v int, "Modified At" timestamp);
SELECT dbcore.attach_updated_at('"Odd Stamps"', 'Modified At', skip_noop => true,
                                keep_explicit => true, clock => 'statement', on_insert => true);

-- a hand-written trigger
CREATE TABLE notes (id int PRIMARY KEY, body text, changed_at timestamptz);
CREATE TRIGGER notes_stamp BEFORE UPDATE ON notes
    FOR EACH ROW EXECUTE FUNCTION dbcore.updated_at('changed_at', 'clock_timestamp');

-- a partitioned table; one partition with another column order, attached
CREATE TABLE events (id bigint NOT NULL, at date NOT NULL, kind text,
                     updated_at timestamptz) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
SELECT dbcore.attach_updated_at('events', keep_explicit => true);
CREATE TABLE events_2025 (updated_at timestamptz, kind text, at date NOT NULL, id bigint NOT NULL);
ALTER TABLE events ATTACH PARTITION events_2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');

-- inheritance: attach_updated_at covers the children
CREATE TABLE base_log (id int, msg text, updated_at timestamptz);
CREATE TABLE child_log (extra int) INHERITS (base_log);
SELECT dbcore.attach_updated_at('base_log');

-- the opt-in mode
SET dbcore.auto_updated_at = on;
CREATE TABLE auto_stamped (id int PRIMARY KEY, v text, updated_at timestamptz);
RESET dbcore.auto_updated_at;
-- and a table that has the column but, on purpose, no trigger
CREATE TABLE unstamped (id int PRIMARY KEY, v text, updated_at timestamptz);

-- tenant scoping ----------------------------------------------------------------

CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY, client_id uuid NOT NULL,
                     item text NOT NULL, archived boolean NOT NULL DEFAULT false,
                     created_at timestamptz NOT NULL DEFAULT now(),
                     updated_at timestamptz NOT NULL DEFAULT now(),
                     PRIMARY KEY (client_id, id));
SELECT dbcore.enable_tenant_scoping('orders');
SELECT dbcore.attach_updated_at('orders', skip_noop => true);
-- an application policy on top (restrictive: narrows within the tenant)
CREATE POLICY hide_archived ON orders AS RESTRICTIVE FOR SELECT USING (NOT archived OR item LIKE 'keep%');

-- (scoped before it references a scoped table: the guard rails require it)
CREATE TABLE order_lines (client_id uuid NOT NULL, order_id bigint NOT NULL, line int NOT NULL,
                          qty int NOT NULL, PRIMARY KEY (client_id, order_id, line));
SELECT dbcore.enable_tenant_scoping('order_lines');
-- (PostgreSQL checks the new key under the caller's row level security: in a scope)
BEGIN;
SET LOCAL dbcore.client_id = '00000000-0000-4000-8000-000000000000';
ALTER TABLE order_lines ADD FOREIGN KEY (client_id, order_id) REFERENCES orders ON DELETE CASCADE;
COMMIT;

CREATE TABLE accounts (id int NOT NULL, tenant bigint, name text, updated_at timestamptz,
                       PRIMARY KEY (tenant, id));
SELECT dbcore.enable_tenant_scoping('accounts', 'tenant');
SELECT dbcore.attach_updated_at('accounts');

CREATE TABLE labels (client_id text NOT NULL, label text NOT NULL, PRIMARY KEY (client_id, label));
SELECT dbcore.enable_tenant_scoping('labels');

-- a scoped partitioned table: partitions made before scoping, created after,
-- attached after, and one detached after (it stays scoped on its own).
-- Partitioned by the client column, so INSERTs name the client: the row
-- guard cannot stamp it (PostgreSQL does not let a BEFORE trigger on a
-- partition change the partition key).
CREATE TABLE ledger (client_id uuid NOT NULL, id bigint NOT NULL, amount numeric NOT NULL,
                     updated_at timestamptz NOT NULL DEFAULT now(),
                     PRIMARY KEY (client_id, id)) PARTITION BY HASH (client_id);
CREATE TABLE ledger_p0 PARTITION OF ledger FOR VALUES WITH (MODULUS 4, REMAINDER 0);
SELECT dbcore.enable_tenant_scoping('ledger');
SELECT dbcore.attach_updated_at('ledger');
CREATE TABLE ledger_p1 PARTITION OF ledger FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE TABLE ledger_p2 (amount numeric NOT NULL, id bigint NOT NULL, client_id uuid NOT NULL,
                        updated_at timestamptz NOT NULL DEFAULT now());
ALTER TABLE ledger ATTACH PARTITION ledger_p2 FOR VALUES WITH (MODULUS 4, REMAINDER 2);
CREATE TABLE ledger_p3 PARTITION OF ledger FOR VALUES WITH (MODULUS 4, REMAINDER 3);

-- the audit trail and soft delete ---------------------------------------------------

CREATE TABLE tickets (id bigint GENERATED ALWAYS AS IDENTITY, client_id uuid NOT NULL,
                      title text NOT NULL, secret text, deleted_at timestamptz, updated_at timestamptz,
                      PRIMARY KEY (client_id, id));
SELECT dbcore.enable_tenant_scoping('tickets');
SELECT dbcore.attach_updated_at('tickets');
SELECT dbcore.enable_soft_delete('tickets');
SELECT dbcore.enable_audit('tickets', ARRAY['secret']);
CREATE UNIQUE INDEX tickets_title ON tickets (client_id, title) WHERE deleted_at IS NULL;
SELECT dbcore.enable_audit('plain_items', record_inserts => false);

CREATE VIEW open_orders WITH (security_invoker = true) AS
    SELECT client_id, id, item FROM orders WHERE NOT archived;
COMMENT ON TABLE orders IS 'orders of each client';

-- rows ----------------------------------------------------------------------------

INSERT INTO plain_items (note) SELECT 'item ' || g FROM generate_series(1, 50) g;
INSERT INTO "Odd Stamps" VALUES (1, 1, NULL), (2, 2, '2001-02-03 04:05:06');
INSERT INTO notes VALUES (1, 'a', NULL), (2, 'b', NULL);
INSERT INTO events VALUES (1, '2024-03-01', 'x', NULL), (2, '2025-03-01', 'y', NULL);
INSERT INTO child_log VALUES (1, 'child', NULL, 7);
INSERT INTO base_log VALUES (2, 'base', NULL);
INSERT INTO auto_stamped VALUES (1, 'a', NULL);
INSERT INTO unstamped VALUES (1, 'a', '2000-01-01');

BEGIN;
SELECT dbcore.set_client(:'t1'::uuid);
INSERT INTO orders (item) SELECT 'a-' || g FROM generate_series(1, 30) g;
INSERT INTO orders (item, archived) VALUES ('keep-old', true), ('hidden-old', true);
INSERT INTO order_lines SELECT :'t1'::uuid, o.id, l, l FROM orders o, generate_series(1, 2) l;
INSERT INTO labels (label) VALUES ('red'), ('blue');
INSERT INTO ledger (client_id, id, amount) SELECT :'t1', g, g * 1.5 FROM generate_series(1, 20) g;
COMMIT;
BEGIN;
SELECT dbcore.set_client(:'t2'::uuid);
INSERT INTO orders (item) SELECT 'b-' || g FROM generate_series(1, 20) g;
INSERT INTO order_lines SELECT :'t2'::uuid, o.id, 1, 5 FROM orders o;
INSERT INTO labels (label) VALUES ('green');
INSERT INTO ledger (client_id, id, amount) SELECT :'t2', g, g FROM generate_series(1, 20) g;
COMMIT;
BEGIN;
SELECT dbcore.set_client(:'t3'::uuid);
INSERT INTO orders (item) SELECT 'c-' || g FROM generate_series(1, 10) g;
INSERT INTO ledger (client_id, id, amount) SELECT :'t3', g, -g FROM generate_series(1, 20) g;
COMMIT;
BEGIN; SELECT dbcore.set_client(101::bigint);
INSERT INTO accounts (id, name) VALUES (1, 'one'), (2, 'two'); COMMIT;
BEGIN; SELECT dbcore.set_client(202::bigint);
INSERT INTO accounts (id, name) VALUES (1, 'uno'); COMMIT;
BEGIN;
SELECT dbcore.set_client(:'t1'::uuid);
SELECT dbcore.set_actor('alice');
INSERT INTO tickets (title, secret) SELECT 't1-' || g, 'secret-' || g FROM generate_series(1, 10) g;
UPDATE tickets SET title = title || ' (edited)', secret = 'x' WHERE id % 2 = 0;
DELETE FROM tickets WHERE id IN (1, 2, 3);
COMMIT;
BEGIN;
SELECT dbcore.set_client(:'t2'::uuid);
INSERT INTO tickets (title) VALUES ('t2-1'), ('t2-2');
DELETE FROM tickets WHERE title = 't2-2';
INSERT INTO tickets (title) VALUES ('t2-2');
COMMIT;
UPDATE plain_items SET note = note || '.' WHERE id <= 5;
-- detach a partition that holds rows: it stays scoped on its own (the
-- migration role does it: detaching takes rows out of ledger's policies)
RESET ROLE;
SET ROLE :"sys";
ALTER TABLE app.ledger DETACH PARTITION app.ledger_p3;
RESET ROLE;
SET ROLE :"app";
SET search_path = app;
SELECT pg_sleep(0.01);
BEGIN; SELECT dbcore.set_client(:'t1'::uuid);
UPDATE orders SET item = item || '!' WHERE id % 3 = 0;
UPDATE orders SET item = item WHERE id % 5 = 0;      -- skip_noop: stamps stay
COMMIT;
RESET ROLE;

-- migrations, as the migration role -------------------------------------------------
SET ROLE :"sys";
SELECT dbcore.baseline('0.9');
SELECT dbcore.apply_migration('1', 'create widgets',
    'CREATE TABLE app.widgets (id int PRIMARY KEY, client_id uuid NOT NULL, updated_at timestamptz);
     SELECT dbcore.attach_updated_at(''app.widgets'');',
    'DROP TABLE app.widgets');
SELECT dbcore.apply_migration('2', 'add gadgets', 'CREATE TABLE app.gadgets (id int)', 'DROP TABLE app.gadgets');
SELECT dbcore.revert_migration('2');
SELECT dbcore.apply_migration('2', 'add gadgets', 'CREATE TABLE app.gadgets (id int)', 'DROP TABLE app.gadgets');
SELECT dbcore.begin_migration('3', 'index widgets', 'CREATE INDEX CONCURRENTLY widgets_client ON app.widgets (client_id)');
EOF
then
    fail "build the source database"; grep -v '^$' "$WORK/build.log" | tail -n 20 | sed 's/^/#   /'; exit 1
fi
# the non-transactional part of migration 3, outside a transaction block
if ! sql "$SRC" -c "SET ROLE \"$SYS\"" \
        -c "CREATE INDEX CONCURRENTLY widgets_client ON app.widgets (client_id)" \
        -c "SELECT dbcore.finish_migration('3')" \
        -c "ALTER TABLE app.widgets OWNER TO \"$APP\"" \
        -c "SET ROLE \"$APP\"" -c "SELECT dbcore.enable_tenant_scoping('app.widgets')" \
        >"$WORK/build2.log" 2>&1; then
    fail "build the source database (migration 3)"; sed 's/^/#   /' "$WORK/build2.log"; exit 1
fi

# Sanity: the source really has what we claim, so that the comparison means
# something.
got="$(sql "$SRC" -c "SELECT (SELECT count(*) FROM dbcore.tenant_tables) || ' scoped, ' ||
    (SELECT count(*) FROM pg_trigger WHERE tgfoid = 'dbcore.updated_at()'::regprocedure) || ' updated_at triggers, ' ||
    (SELECT count(*) FROM dbcore.migrations) || ' ledger rows, ' ||
    (SELECT count(*) FROM dbcore.migration_log) || ' log rows, ' ||
    (SELECT count(*) FROM dbcore.tenant_scoping_problems()) || ' problems, ' ||
    (SELECT count(*) FROM dbcore.audited_tables) || ' audited, ' ||
    (SELECT count(*) FROM dbcore.audit_log) || ' audit rows, ' ||
    (SELECT count(*) FROM app.tickets WHERE deleted_at IS NOT NULL) || ' soft-deleted, ' ||
    (SELECT count(*) FROM dbcore.audit_problems()) || ' audit problems'")"
expect_eq "source database: scoped tables, triggers, ledger, audit trail, soft delete" "$got" \
    "11 scoped, 17 updated_at triggers, 4 ledger rows, 7 log rows, 0 problems, 2 audited, 27 audit rows, 4 soft-deleted, 0 audit problems"

# ---------------------------------------------------------------------------
# Descriptions
# ---------------------------------------------------------------------------

# describe DB OUT: everything the comparison looks at, in three files.
describe() {
    local db="$1" out="$2"
    sql "$db" -f "$DESCRIBE" >"$out.ext"                               # the extension
    sql "$db" -v ext=none -v schema=app -f "$DESCRIBE" >"$out.app"     # schema app, in depth
    sql "$db" >"$out.user" <<'EOF'
BEGIN;
SET LOCAL search_path = pg_catalog, pg_temp;
SET LOCAL TimeZone = 'UTC';
SET LOCAL DateStyle = 'ISO, YMD';
SET LOCAL extra_float_digits = 1;
-- Relations in user schemas: kind, owner, RLS flags, partition and
-- inheritance parents, partition bounds.
SELECT format('%s %s owner %s rls %s force %s parent %s bound %s',
              c.relkind, c.oid::regclass, pg_get_userbyid(c.relowner),
              c.relrowsecurity, c.relforcerowsecurity,
              coalesce((SELECT string_agg(i.inhparent::regclass::text, ',' ORDER BY i.inhseqno)
                          FROM pg_inherits i WHERE i.inhrelid = c.oid), '-'),
              coalesce(pg_get_expr(c.relpartbound, c.oid), '-'))
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp%'
   AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
 ORDER BY c.oid::regclass::text COLLATE "C";
-- Every trigger on them, cloned and internal ones included, with its state.
SELECT l FROM (
  SELECT format('trigger %s on %s enabled %s cloned %s internal %s: %s',
                CASE WHEN t.tgisinternal THEN '(internal)' ELSE t.tgname END, t.tgrelid::regclass,
                t.tgenabled, t.tgparentid <> 0, t.tgisinternal,
                CASE WHEN t.tgisinternal THEN t.tgfoid::regproc::text ELSE pg_get_triggerdef(t.oid) END) AS l
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')) s
 ORDER BY l COLLATE "C";
-- Every policy.
SELECT format('policy %s on %s %s %s roles %s using %s check %s',
              p.polname, p.polrelid::regclass, CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END,
              p.polcmd, p.polroles::regrole[], pg_get_expr(p.polqual, p.polrelid),
              pg_get_expr(p.polwithcheck, p.polrelid))
  FROM pg_policy p
 ORDER BY p.polrelid::regclass::text COLLATE "C", p.polname COLLATE "C";
-- dbcore's own view of the scoped tables and the database.
SELECT format('tenant table %s column %s root %s', tbl, column_name, coalesce(root::text, '-'))
  FROM dbcore.tenant_tables ORDER BY tbl::text COLLATE "C";
SELECT l FROM (SELECT format('scoping problem %s %s %s', tbl, check_name, detail) AS l
                 FROM dbcore.tenant_scoping_problems()) s ORDER BY l COLLATE "C";
SELECT l FROM (SELECT format('audit %s | %s | %s', problem, object, detail) AS l
                 FROM dbcore.tenant_audit()) s ORDER BY l COLLATE "C";
SELECT format('migration %s %s %s %s %s', version, name, state, checksum, has_down)
  FROM dbcore.migration_status();
SELECT format('audited %s excluded %s inserts %s', tbl, excluded_columns, record_inserts)
  FROM dbcore.audited_tables ORDER BY tbl::text COLLATE "C";
SELECT l FROM (SELECT format('audit problem %s %s %s', tbl, check_name, detail) AS l
                 FROM dbcore.audit_problems()) s ORDER BY l COLLATE "C";
-- Event triggers of the database (dbcore's, and nothing else).
SELECT format('event trigger %s on %s enabled %s', evtname, evtevent, evtenabled)
  FROM pg_event_trigger ORDER BY evtname COLLATE "C";
ROLLBACK;
EOF
}

# rows DB OUT: per table row count and md5 of the ordered rows, and every
# sequence's position, read as a superuser (row level security does not apply).
rows() {
    sql "$1" >"$2" <<'EOF'
BEGIN;
SET LOCAL search_path = pg_catalog, pg_temp;
SET LOCAL TimeZone = 'UTC';
SET LOCAL DateStyle = 'ISO, YMD';
SET LOCAL extra_float_digits = 1;
CREATE FUNCTION pg_temp.table_rows(rel regclass, OUT n bigint, OUT digest text)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('SELECT count(*), md5(coalesce(string_agg(t::text, E''\n'' ORDER BY t::text COLLATE "C"), ''''))
                      FROM ONLY %s t', rel) INTO n, digest;
END $$;
CREATE FUNCTION pg_temp.seq_pos(rel regclass) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
    EXECUTE format('SELECT last_value || '' '' || is_called FROM %s', rel) INTO r;
    RETURN r;
END $$;
SELECT format('rows %s: %s %s', c.oid::regclass, r.n, r.digest)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
       LATERAL pg_temp.table_rows(c.oid) r
 WHERE c.relkind = 'r' AND (n.nspname = 'app' OR c.oid IN (
       'dbcore.tenant_tables'::regclass, 'dbcore.migrations'::regclass, 'dbcore.migration_log'::regclass,
       'dbcore.audited_tables'::regclass, 'dbcore.audit_log'::regclass))
 ORDER BY c.oid::regclass::text COLLATE "C";
SELECT format('sequence %s: %s', c.oid::regclass, pg_temp.seq_pos(c.oid))
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'S' AND n.nspname IN ('app', 'dbcore')
 ORDER BY c.oid::regclass::text COLLATE "C";
ROLLBACK;
EOF
}

describe "$SRC" "$WORK/src"
rows "$SRC" "$WORK/src.rows"
n_tables="$(grep -c '^rows ' "$WORK/src.rows")"
n_rows="$(awk '/^rows /{ n += $3 } END { print n + 0 }' "$WORK/src.rows")"

# ---------------------------------------------------------------------------
# Dump and restore
# ---------------------------------------------------------------------------

if "$PG_DUMP" -Fc -f "$WORK/src.dump" "$SRC" 2>"$WORK/dump.err"; then
    pass "pg_dump -Fc ($(stat -c %s "$WORK/src.dump") bytes)"
else
    fail "pg_dump -Fc"; sed 's/^/#   /' "$WORK/dump.err"; exit 1
fi

# restore DB [PGOPTIONS [pg_restore options]]: a new database, pg_restore
# into it; every error counts.  With PGOPTIONS, the database defaults to
# dbcore.auto_updated_at = on.
restore() {
    local db="$1" opts="${2:-}"
    shift $(($# < 2 ? $# : 2))
    sql postgres -c "CREATE DATABASE \"$db\""
    if [[ -n "$opts" ]]; then
        sql postgres -c "ALTER DATABASE \"$db\" SET dbcore.auto_updated_at = on"
    fi
    PGOPTIONS="$opts" "$PG_RESTORE" --exit-on-error "$@" -d "$db" "$WORK/src.dump" >"$WORK/restore.$db.log" 2>&1
}

compare() {   # compare LABEL DB
    local label="$1" db="$2" f
    describe "$db" "$WORK/$db"
    rows "$db" "$WORK/$db.rows"
    same_file "$label: the extension's objects are the same (describe.sql)" "$WORK/src.ext" "$WORK/$db.ext"
    same_file "$label: schema app is the same (describe.sql)" "$WORK/src.app" "$WORK/$db.app"
    same_file "$label: tables, partitions, triggers, policies, RLS flags, registry, ledger status are the same" \
        "$WORK/src.user" "$WORK/$db.user"
    same_file "$label: the same rows in $n_tables tables and the same sequence positions" \
        "$WORK/src.rows" "$WORK/$db.rows"
    for f in dbcore.tenant_tables dbcore.migrations dbcore.migration_log dbcore.audited_tables dbcore.audit_log; do
        grep -q "^rows $f: [1-9]" "$WORK/$db.rows" || fail "$label: $f has no rows after the restore"
    done
}

if restore "$DST"; then
    pass "pg_restore into a new database as a superuser, no error"
else
    fail "pg_restore into a new database"; sed 's/^/#   /' "$WORK/restore.$DST.log"; exit 1
fi
compare restored "$DST"

# A database (or role) default of dbcore.auto_updated_at = on would make the
# event trigger attach triggers while pg_restore creates the tables, and the
# dump's own CREATE TRIGGER (and ATTACH PARTITION) would then fail; the
# restoring session switches it off, as the README says.
# DBCORE_RESTORE_JOBS=N restores in N parallel jobs (the event triggers then
# fire in several sessions at once); the default is 1 because dbcore 0.3's
# dbcore._tenant_after_ddl() can deadlock two concurrent DDL commands on
# partitions of one scoped table (reported; switch it on once fixed).
JOBS="${DBCORE_RESTORE_JOBS:-1}"
if restore "$DST2" "-c dbcore.auto_updated_at=off" --jobs="$JOBS"; then
    pass "pg_restore --jobs=$JOBS with dbcore.auto_updated_at=off into a database that defaults to on, no error"
else
    fail "pg_restore --jobs=$JOBS with dbcore.auto_updated_at=off into a database that defaults to on"
    sed 's/^/#   /' "$WORK/restore.$DST2.log"
fi
compare "restored (auto on by default)" "$DST2"
sql postgres -c "DROP DATABASE \"$DST2\" WITH (FORCE)"

# ---------------------------------------------------------------------------
# The restored copy still works, and is still scoped
# ---------------------------------------------------------------------------

# in_scope CLIENT-EXPR SQL: one transaction under a scope, as the app role.
in_scope() {
    printf 'SET search_path = app;\nBEGIN;\nSELECT dbcore.set_client(%s) \\g /dev/null\n%s\nCOMMIT;\n' "$1" "$2" |
        PGOPTIONS="-c client_min_messages=warning" \
        "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -U "$APP" -d "$DST" -f -
}

want_t1="$(sql "$SRC" -c "SELECT count(*) FROM app.orders WHERE client_id = '$T1' AND (NOT archived OR item LIKE 'keep%')")"
got="$(in_scope "'$T1'::uuid" "SELECT count(*) || ' ' || count(*) FILTER (WHERE client_id <> '$T1') FROM app.orders;")"
expect_eq "restored: a scoped SELECT sees only its own $want_t1 orders, none of another client" "$got" "$want_t1 0"
got="$(in_scope "'$T2'::uuid" "SELECT count(*) || ' ' || count(*) FILTER (WHERE client_id <> '$T2') FROM app.ledger;")"
expect_eq "restored: the scoped partitioned table shows one client's rows" "$got" "20 0"
got="$(in_scope "202::bigint" "SELECT string_agg(name, ',') FROM app.accounts;")"
expect_eq "restored: bigint-scoped table shows one client's rows" "$got" "uno"
got="$(in_scope "'$T1'::text" "SELECT string_agg(label, ',' ORDER BY label) FROM app.labels;")"
expect_eq "restored: text-scoped table shows one client's rows" "$got" "blue,red"
got="$(in_scope "'$T3'::uuid" "SELECT count(*) FROM app.ledger_p3;")"
want="$(sql "$SRC" -c "SELECT count(*) FROM app.ledger_p3 WHERE client_id = '$T3'")"
expect_eq "restored: the detached partition is scoped on its own" "$got" "$want"

expect_sqlstate "restored: unscoped SELECT fails" 42501 "$DST" "SELECT count(*) FROM app.orders"
expect_sqlstate "restored: unscoped SELECT on a partition fails" 42501 "$DST" "SELECT count(*) FROM app.ledger_p0"
expect_sqlstate "restored: unscoped SELECT on the detached partition fails" 42501 "$DST" "SELECT count(*) FROM app.ledger_p3"
expect_sqlstate "restored: unscoped INSERT fails" 42501 "$DST" "INSERT INTO app.labels (label) VALUES ('x')"
expect_sqlstate "restored: ALTER TABLE ... NO FORCE ROW LEVEL SECURITY is refused" 42501 "$DST" \
    "ALTER TABLE app.orders NO FORCE ROW LEVEL SECURITY"
expect_sqlstate "restored: ALTER TABLE ... DISABLE ROW LEVEL SECURITY on a partition is refused" 42501 "$DST" \
    "ALTER TABLE app.ledger_p2 DISABLE ROW LEVEL SECURITY"
expect_sqlstate "restored: DROP POLICY dbcore_tenant_isolation is refused" 42501 "$DST" \
    "DROP POLICY dbcore_tenant_isolation ON app.accounts"
expect_sqlstate "restored: DISABLE TRIGGER dbcore_tenant_guard is refused" 42501 "$DST" \
    "ALTER TABLE app.labels DISABLE TRIGGER dbcore_tenant_guard"
expect_sqlstate "restored: TRUNCATE is refused" 42501 "$DST" "TRUNCATE app.order_lines"
expect_sqlstate "restored: writing another client's row is refused" 42501 "$DST" \
    "BEGIN; SELECT dbcore.set_client('$T1'::uuid); INSERT INTO app.orders (client_id, item) VALUES ('$T2', 'evil'); COMMIT;"
expect_sqlstate "restored: moving a row to another client is refused" 42501 "$DST" \
    "BEGIN; SELECT dbcore.set_client('$T2'::uuid); UPDATE app.ledger SET client_id = '$T1' WHERE id = 1; COMMIT;"
expect_sqlstate "restored: changing a row's client is refused" 42501 "$DST" \
    "BEGIN; SELECT dbcore.set_client('$T1'::uuid); UPDATE app.orders SET client_id = '$T2' WHERE id = 1; COMMIT;"
expect_sqlstate "restored: disable_tenant_scoping by the owner is refused" 42501 "$DST" \
    "SELECT dbcore.disable_tenant_scoping('app.orders')"

# A partition created on the restored table is scoped by the event triggers.
if as_app "$DST" "CREATE TABLE app.ledger_p3b PARTITION OF app.ledger FOR VALUES WITH (MODULUS 4, REMAINDER 3)" >/dev/null 2>&1; then
    got="$(sql "$DST" -c "SELECT count(*) FROM dbcore.tenant_check_tables(ARRAY['app.ledger_p3b'::regclass], ARRAY['client_id'::name])
                        UNION ALL SELECT count(*) FROM dbcore.tenant_tables WHERE tbl = 'app.ledger_p3b'::regclass AND root = 'app.ledger'::regclass" | paste -sd' ')"
    expect_eq "restored: a new partition of the scoped table is scoped and registered" "$got" "0 1"
else
    fail "restored: CREATE TABLE ... PARTITION OF the scoped table"
fi

# The updated_at triggers, with their options, work on the restored tables.
got="$(in_scope "'$T1'::uuid" "UPDATE app.orders SET item = 'changed' WHERE id = 1;
SELECT (updated_at = now())::text FROM app.orders WHERE id = 1;")"
expect_eq "restored: updated_at moves on a scoped table" "$got" true
got="$(in_scope "'$T1'::uuid" "UPDATE app.orders SET item = item WHERE id = 2;
SELECT (updated_at < now())::text FROM app.orders WHERE id = 2;")"
expect_eq "restored: skip_noop still leaves a no-op update alone" "$got" true
got="$(as_app "$DST" "UPDATE app.\"Odd Stamps\" SET v = 20, \"Modified At\" = '1999-01-01' WHERE id = 2 RETURNING \"Modified At\"")"
expect_eq "restored: keep_explicit still keeps an explicit value" "$got" "1999-01-01 00:00:00"
got="$(as_app "$DST" "INSERT INTO app.\"Odd Stamps\" VALUES (3, 3, NULL) RETURNING (\"Modified At\" IS NOT NULL)::text")"
expect_eq "restored: on_insert still fills a NULL" "$got" true
got="$(as_app "$DST" "INSERT INTO app.events VALUES (3, '2025-06-01', 'z', NULL);
                      UPDATE app.events SET kind = 'zz' WHERE id = 3 RETURNING (updated_at IS NOT NULL)::text")"
expect_eq "restored: the partition with another column order is stamped" "$got" true
got="$(as_app "$DST" "UPDATE app.child_log SET msg = 'm' RETURNING (updated_at IS NOT NULL)::text")"
expect_eq "restored: the inheritance child is stamped" "$got" true
got="$(as_app "$DST" "UPDATE app.unstamped SET v = 'b' RETURNING updated_at::date::text")"
expect_eq "restored: the table without a trigger still has none" "$got" "2000-01-01"

# The audit trail and soft delete work on the restored tables, and the
# restored history stays closed to other clients and append-only.
got="$(in_scope "'$T1'::uuid" "SELECT count(*) FROM app.tickets;")"
expect_eq "restored: soft-deleted tickets stay hidden" "$got" 7
got="$(in_scope "'$T1'::uuid" "DELETE FROM app.tickets WHERE id = 4;
SELECT count(*) FROM app.tickets;
SELECT op || ' ' || row_key FROM dbcore.audit_log WHERE id = (SELECT max(id) FROM dbcore.audit_log);
SELECT count(*) FROM dbcore.audit_log WHERE tbl = 'app.tickets'::regclass;" | paste -sd' ')"
expect_eq "restored: a DELETE marks the row and is recorded, after the restored history" "$got" \
    "6 SOFT DELETE ($T1,4) 19"
got="$(in_scope "'$T2'::uuid" "SELECT count(*) || ' ' || count(*) FILTER (WHERE client_id <> '$T2') FROM dbcore.audit_log WHERE tbl = 'app.tickets'::regclass;")"
expect_eq "restored: a client reads its own history only" "$got" "4 0"
got="$(sql "$DST" -c "SELECT max(id) = (SELECT last_value FROM dbcore.audit_log_id_seq) FROM dbcore.audit_log")"
expect_eq "restored: the log's row numbers continue from the restored ones" "$got" t
expect_sqlstate "restored: the log is append-only" 42501 "$DST" "DELETE FROM dbcore.audit_log"
expect_sqlstate "restored: disable_audit by the owner is refused" 42501 "$DST" "SELECT dbcore.disable_audit('app.tickets')"
expect_sqlstate "restored: DROP TRIGGER dbcore_audit is refused" 42501 "$DST" "DROP TRIGGER dbcore_audit ON app.tickets"

# The ledger continues.
got="$(sql "$DST" -c "SET ROLE \"$SYS\"" -c "SELECT dbcore.apply_migration('4', 'four', 'CREATE TABLE app.four (id int)')" \
        -c "RESET ROLE" -c "SELECT max(id) = (SELECT count(*) FROM dbcore.migration_log) FROM dbcore.migration_log" | paste -sd' ')"
expect_eq "restored: the next migration applies and its history number follows" "$got" "t t"

# ---------------------------------------------------------------------------
# The attack suite, on the restored copy
# ---------------------------------------------------------------------------

attacks=""
if [[ -f "$ATTACKS" ]]; then
    if ! command -v pg_prove >/dev/null 2>&1; then
        fail "pg_prove not found (package libtap-parser-sourcehandler-pgtap-perl)"
    else
        sql "$DST" -c "CREATE EXTENSION IF NOT EXISTS pgtap"
        if pg_prove --psql-bin "$PSQL" -d "$DST" "$ATTACKS" >"$WORK/attacks.log" 2>&1; then
            attacks="$(sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p' "$WORK/attacks.log")"
            pass "test/pgtap/tenant_attacks.sql passes on the restored copy ($attacks tests)"
            attacks="attack suite $attacks tests"
        else
            fail "test/pgtap/tenant_attacks.sql on the restored copy"
            sed 's/^/#   /' "$WORK/attacks.log" | tail -n 40
        fi
    fi
else
    # Fallback until the attack suite exists: attacks on the restored tables.
    n0=$passed
    # (psql -c sends one query string: an implicit transaction of its own;
    # the SET and the SELECT are two of them here)
    got="$(PGOPTIONS="-c client_min_messages=warning" "$PSQL" -X -q -At -v VERBOSITY=verbose -U "$APP" -d "$DST" \
            -c "SET dbcore.client_id = '$T1'" -c "SELECT count(*) FROM app.orders" 2>&1 || true)"
    if grep -q "ERROR:  42501: no client scope is set" <<<"$got"; then
        pass "attack: a plain SET does not outlive its transaction (42501)"
    else
        fail "attack: a plain SET does not outlive its transaction"; indent <<<"$got"
    fi
    expect_sqlstate "attack: set_config(..., false) is cleared at commit" 42501 "$DST" \
        "BEGIN; SELECT set_config('dbcore.client_id', '$T1', false); COMMIT; SELECT count(*) FROM app.orders"
    got="$(in_scope "'$T1'::uuid" "CREATE POLICY see_all ON app.orders AS PERMISSIVE FOR SELECT USING (true);
SELECT count(*) FILTER (WHERE client_id <> '$T1') FROM app.orders;
DROP POLICY see_all ON app.orders;" 2>&1 || true)"
    expect_eq "attack: a permissive USING (true) policy does not widen past the client" "$got" 0
    got="$(in_scope "'$T1'::uuid" "CREATE VIEW app.all_orders AS SELECT * FROM app.orders;
SELECT count(*) FILTER (WHERE client_id <> '$T1') FROM app.all_orders;
DROP VIEW app.all_orders;" 2>&1 || true)"
    expect_eq "attack: a view owned by the app role stays scoped" "$got" 0
    got="$(in_scope "'$T1'::uuid" "SELECT count(*) FROM app.orders o JOIN app.order_lines l USING (client_id) WHERE l.client_id <> '$T1';" 2>&1 || true)"
    expect_eq "attack: joins see no foreign rows" "$got" 0
    expect_sqlstate "attack: ON CONFLICT cannot update another client's row" 42501 "$DST" \
        "BEGIN; SELECT dbcore.set_client('$T1'::uuid);
         INSERT INTO app.labels VALUES ('$T1', 'red') ON CONFLICT (client_id, label) DO UPDATE SET client_id = '$T2'; COMMIT;"
    expect_sqlstate "attack: a stored database default of dbcore.client_id is refused" 42501 "$DST" \
        "ALTER ROLE CURRENT_USER SET dbcore.client_id = '$T1'"
    got="$(PGOPTIONS="-c dbcore.client_id=$T1" "$PSQL" -X -q -At -U "$APP" -d "$DST" -c "SELECT count(*) FROM app.orders" 2>&1 || true)"
    if grep -q "dbcore.client_id cannot be set" <<<"$got"; then
        pass "attack: PGOPTIONS -c dbcore.client_id is refused"
    else
        fail "attack: PGOPTIONS -c dbcore.client_id is refused"; indent <<<"$got"
    fi
    expect_sqlstate "attack: renaming the client column is refused" 42501 "$DST" \
        "ALTER TABLE app.orders RENAME COLUMN client_id TO c"
    attacks="fallback attacks $((passed - n0))"
fi

echo "# dump/restore: $n_tables tables, $n_rows rows, identical after pg_restore (twice); $attacks; $((SECONDS - START)) s"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
