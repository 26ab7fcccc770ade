-- bench/citus/setup.sql: the data of bench/citus.sh, on the coordinator of a
-- Citus cluster, as a superuser, with -v rows=N (a multiple of 100).
--
-- Two copies of the same rows, in co-located tables distributed by
-- client_id:
--   bench.t_plain    no row level security; statements name the client
--   bench.t_dbcore   dbcore.enable_tenant_scoping()
-- Tenants as in bench/tenant/setup.sql: 20, row i belongs to tenant 0 when
-- i % 100 < 43, else to tenant 1 + (i % 100 - 43) / 3; tenant n's client id
-- is md5('tenant-' || n)::uuid.  bench_owner owns the tables; bench_app,
-- which runs the workloads, owns nothing.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

CREATE EXTENSION dbcore;
CREATE ROLE bench_owner LOGIN NOSUPERUSER NOBYPASSRLS;
CREATE ROLE bench_app LOGIN NOSUPERUSER NOBYPASSRLS;
GRANT USAGE ON SCHEMA dbcore TO bench_owner, bench_app;
CREATE SCHEMA bench AUTHORIZATION bench_owner;
GRANT USAGE ON SCHEMA bench TO bench_app;

SET ROLE bench_owner;
CREATE TABLE bench.t_plain (
    id         bigint NOT NULL,
    client_id  uuid NOT NULL,
    amount     numeric(12,2) NOT NULL,
    status     text NOT NULL,
    ref        text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (client_id, id)
);
CREATE TABLE bench.t_dbcore (LIKE bench.t_plain INCLUDING ALL);
SELECT dbcore.enable_tenant_scoping('bench.t_dbcore');
GRANT SELECT, INSERT, UPDATE ON bench.t_plain, bench.t_dbcore TO bench_app;
RESET ROLE;

-- (a superuser distributes: Citus reads the tables through row level
-- security otherwise)
SET citus.enable_unsafe_triggers = on;
SELECT create_distributed_table('bench.t_plain', 'client_id');
SELECT create_distributed_table('bench.t_dbcore', 'client_id', colocate_with => 'bench.t_plain');

INSERT INTO bench.t_plain
SELECT i,
       md5('tenant-' || CASE WHEN i % 100 < 43 THEN 0 ELSE 1 + (i % 100 - 43) / 3 END)::uuid,
       ((hashint8(i) & 65535) / 100.0)::numeric(12,2),
       (ARRAY['new', 'paid', 'shipped', 'delivered', 'cancelled'])[1 + (hashint8(i * 31) & 2147483647) % 5],
       upper(md5(i::text)),
       timestamptz '2024-01-01 00:00:00+00' + i * interval '10 seconds'
  FROM generate_series(1, :rows) AS i;
INSERT INTO bench.t_dbcore SELECT * FROM bench.t_plain;
ANALYZE bench.t_plain, bench.t_dbcore;
