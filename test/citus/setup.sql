-- test/citus/setup.sql: run once on the coordinator, as postgres, before the
-- test files (test/citus/run.sh).  CREATE EXTENSION and CREATE ROLE reach the
-- workers through Citus.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

-- (dbcore itself: 00_update.sql installs an older version and updates it)
CREATE EXTENSION pgtap;
CREATE EXTENSION dblink;

-- tenant_owner owns the tenant tables (like the role migrations run as,
-- without BYPASSRLS); app is the application's role: it owns nothing and
-- gets DML on the tables.  Both can log in to every node.
CREATE ROLE tenant_owner LOGIN;
CREATE ROLE app LOGIN;
GRANT USAGE, CREATE ON SCHEMA public TO tenant_owner;

CREATE SCHEMA citus_test;
GRANT USAGE ON SCHEMA citus_test TO PUBLIC;

-- The n-th client id (1, 2, ...) whose rows of tbl live on the worker
-- listening on port: clients on known nodes make connections countable.
CREATE FUNCTION citus_test.client_on(tbl regclass, port int, n int DEFAULT 1)
RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    i int := 0;
    found int := 0;
    candidate uuid;
BEGIN
    LOOP
        i := i + 1;
        candidate := md5('client ' || i)::uuid;
        IF (SELECT p.nodeport FROM pg_dist_shard_placement p
             WHERE p.shardid = get_shard_id_for_distribution_column(tbl, candidate)
             LIMIT 1) = port THEN
            found := found + 1;
            IF found = n THEN
                RETURN candidate;
            END IF;
        END IF;
        IF i > 10000 THEN
            RAISE EXCEPTION 'no client of % on port %', tbl, port;
        END IF;
    END LOOP;
END;
$$;

-- One row per placement of tbl: the result of a query on it, %1$L being
-- the placement's name as a literal (run_command_on_placements).
CREATE FUNCTION citus_test.on_placements(tbl regclass, query text)
RETURNS TABLE(shardid bigint, nodeport int, success bool, result text)
LANGUAGE sql AS $$
SELECT p.shardid, p.nodeport, p.success, p.result
  FROM run_command_on_placements(tbl, query) p
 ORDER BY p.shardid, p.nodeport
$$;

-- Placements of tbl whose query result is not the expected one.
CREATE FUNCTION citus_test.placements_not(tbl regclass, query text, expected text)
RETURNS bigint
LANGUAGE sql AS $$
SELECT count(*) FROM citus_test.on_placements(tbl, query) p
 WHERE NOT p.success OR p.result IS DISTINCT FROM expected
$$;

-- Permissive dbcore_tenant_isolation policies on the placements of tbl and
-- on every worker's copy of tbl (must be 0 everywhere).
CREATE FUNCTION citus_test.permissive_isolation(tbl regclass)
RETURNS bigint
LANGUAGE sql AS $$
SELECT (SELECT count(*) FROM citus_test.on_placements(tbl,
            $q$SELECT count(*) FROM pg_catalog.pg_policy
                WHERE polrelid = %1$L::regclass AND polname = 'dbcore_tenant_isolation' AND polpermissive$q$) p
         WHERE NOT p.success OR p.result <> '0')
     + (SELECT count(*) FROM run_command_on_workers(pg_catalog.format(
            $q$SELECT count(*) FROM pg_catalog.pg_policy
                WHERE polrelid = %L::regclass AND polname = 'dbcore_tenant_isolation' AND polpermissive$q$, tbl)) w
         WHERE NOT w.success OR w.result <> '0')
     + (SELECT count(*) FROM pg_catalog.pg_policy
         WHERE polrelid = tbl AND polname = 'dbcore_tenant_isolation' AND polpermissive)
$$;

-- A query on a node (database db) through dblink as role: its single value,
-- or the error it raised, as "ERROR <sqlstate>: message".
CREATE FUNCTION citus_test.on_db(port int, role text, db text, query text)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    SELECT t.v INTO result
      FROM dblink(pg_catalog.format('host=127.0.0.1 port=%s dbname=%s user=%s', port, db, role),
                  query) AS t(v text);
    RETURN result;
EXCEPTION WHEN OTHERS THEN
    RETURN 'ERROR ' || SQLSTATE || ': ' || SQLERRM;
END;
$$;

-- The same in the current database.
CREATE FUNCTION citus_test.on_node(port int, role text, query text)
RETURNS text
LANGUAGE sql AS $$
SELECT citus_test.on_db(port, role, current_database(), query)
$$;

-- The value of a query (its first column of its first row, as text), run
-- with EXECUTE: a pgTAP assertion around a query on a distributed table
-- would otherwise be sent to the worker whole, with the query.
CREATE FUNCTION citus_test.q(query text)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    EXECUTE query INTO result;
    RETURN result;
END;
$$;

-- EXPLAIN (COSTS OFF) of a query, one text, run as the current role.
CREATE FUNCTION citus_test.plan_of(query text)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    line text;
    result text := '';
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
        result := result || line || E'\n';
    END LOOP;
    RETURN result;
END;
$$;

-- The number of tasks Citus plans for a query.
CREATE FUNCTION citus_test.task_count(query text)
RETURNS int
LANGUAGE sql AS $$
SELECT (regexp_match(citus_test.plan_of(query), 'Task Count: (\d+)'))[1]::int
$$;
