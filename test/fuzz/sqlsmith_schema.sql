-- A database that uses every dbcore feature, for test/shell/sqlsmith.sh.
-- psql variables: app (an ordinary role that will query it).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE EXTENSION dbcore;
CREATE SCHEMA app;

-- updated_at triggers: default options, timestamp without time zone with
-- options, an inheritance parent and child.
CREATE TABLE app.accounts (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
SELECT dbcore.attach_updated_at('app.accounts');

CREATE TABLE app.notes (id int PRIMARY KEY, body text, flag boolean, updated_at timestamp);
SELECT dbcore.attach_updated_at('app.notes', skip_noop => true, keep_explicit => true,
                                clock => 'clock', on_insert => true);

CREATE TABLE app.documents (id int, title text, updated_at timestamptz);
CREATE TABLE app.invoices (amount numeric) INHERITS (app.documents);
SELECT dbcore.attach_updated_at('app.documents', clock => 'statement');

-- Tenant scoping: uuid, bigint (partitioned, two levels), integer and text
-- client columns; a lookup table that is not scoped; a security_invoker view.
CREATE TABLE app.clients (client_id uuid PRIMARY KEY, name text NOT NULL);

CREATE TABLE app.orders (
    client_id  uuid NOT NULL,
    id         bigserial,
    total      numeric NOT NULL DEFAULT 0,
    status     text NOT NULL DEFAULT 'open',
    updated_at timestamptz,
    PRIMARY KEY (client_id, id)
);
SELECT dbcore.enable_tenant_scoping('app.orders');
SELECT dbcore.attach_updated_at('app.orders', on_insert => true);

CREATE TABLE app.events (
    client_id bigint NOT NULL,
    at        timestamptz NOT NULL,
    kind      text,
    payload   jsonb
) PARTITION BY RANGE (at);
CREATE TABLE app.events_2025 PARTITION OF app.events
    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE app.events_2026 PARTITION OF app.events
    FOR VALUES FROM ('2026-01-01') TO ('2027-01-01') PARTITION BY HASH (client_id);
CREATE TABLE app.events_2026_a PARTITION OF app.events_2026 FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE app.events_2026_b PARTITION OF app.events_2026 FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE app.events_other PARTITION OF app.events DEFAULT;
CREATE INDEX ON app.events (client_id, at);
SELECT dbcore.enable_tenant_scoping('app.events');

CREATE TABLE app.counters (client_id integer NOT NULL, name text, n integer, updated_at timestamptz);
SELECT dbcore.enable_tenant_scoping('app.counters');
SELECT dbcore.attach_updated_at('app.counters');

CREATE TABLE app.tags (tenant text NOT NULL, tag text NOT NULL, PRIMARY KEY (tenant, tag));
SELECT dbcore.enable_tenant_scoping('app.tags', 'tenant');

CREATE VIEW app.order_totals WITH (security_invoker) AS
    SELECT client_id, count(*) AS orders, sum(total) AS total FROM app.orders GROUP BY client_id;

-- The migration ledger: applied, reverted, baseline-free, non-transactional.
SELECT dbcore.apply_migration('1', 'create widgets',
    'CREATE TABLE app.widgets (id int PRIMARY KEY, label text, updated_at timestamptz)',
    'DROP TABLE app.widgets');
SELECT dbcore.apply_migration('2', 'widgets keep updated_at',
    $$SELECT dbcore.attach_updated_at('app.widgets')$$,
    $$SELECT dbcore.detach_updated_at('app.widgets')$$);
SELECT dbcore.begin_migration('3', 'index widgets', 'CREATE INDEX CONCURRENTLY widgets_label ON app.widgets (label)');
CREATE INDEX CONCURRENTLY widgets_label ON app.widgets (label);
SELECT dbcore.finish_migration('3');
SELECT dbcore.apply_migration('4', 'scratch', 'CREATE TABLE app.scratch (x int)', 'DROP TABLE app.scratch');
SELECT dbcore.revert_migration('4');
SELECT dbcore.apply_migration('4.1', 'widget colour', 'ALTER TABLE app.widgets ADD COLUMN colour text');

-- Some data, written through the scopes.
INSERT INTO app.accounts (name) SELECT 'account ' || g FROM generate_series(1, 50) g;
INSERT INTO app.notes (id, body, flag) SELECT g, 'note ' || g, g % 2 = 0 FROM generate_series(1, 30) g;
INSERT INTO app.invoices (id, title, amount) SELECT g, 'invoice ' || g, g * 10 FROM generate_series(1, 20) g;
INSERT INTO app.widgets (id, label) SELECT g, 'w' || g FROM generate_series(1, 20) g;
INSERT INTO app.clients VALUES ('a0000000-0000-4000-8000-00000000000a', 'Client A'),
                               ('b0000000-0000-4000-8000-00000000000b', 'Client B');
BEGIN;
SELECT dbcore.set_client('a0000000-0000-4000-8000-00000000000a'::uuid);
INSERT INTO app.orders (total, status) SELECT g, CASE WHEN g % 3 = 0 THEN 'paid' ELSE 'open' END
  FROM generate_series(1, 40) g;
COMMIT;
BEGIN;
SELECT dbcore.set_client('b0000000-0000-4000-8000-00000000000b'::uuid);
INSERT INTO app.orders (total) SELECT g * 2 FROM generate_series(1, 25) g;
COMMIT;
BEGIN;
SELECT dbcore.set_client(1::bigint);
INSERT INTO app.events (at, kind, payload)
  SELECT timestamptz '2025-06-01' + g * interval '7 days', 'k' || (g % 4), jsonb_build_object('g', g)
    FROM generate_series(1, 60) g;
INSERT INTO app.counters (name, n) VALUES ('visits', 1), ('clicks', 2);
COMMIT;
BEGIN;
SELECT dbcore.set_client(2::bigint);
INSERT INTO app.events (at, kind) SELECT timestamptz '2026-02-01' + g * interval '1 day', 'x'
  FROM generate_series(1, 30) g;
COMMIT;
BEGIN;
SELECT dbcore.set_client('tenant-a'::text);
INSERT INTO app.tags (tag) VALUES ('red'), ('green'), ('blue');
COMMIT;
UPDATE app.accounts SET name = name || '!' WHERE id % 5 = 0;

-- The ordinary role: the privileges an application role has.
GRANT USAGE ON SCHEMA dbcore, app TO :"app";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA app TO :"app";
GRANT USAGE ON ALL SEQUENCES IN SCHEMA app TO :"app";

ANALYZE;
