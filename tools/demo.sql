-- tools/demo.sql: updated_at and tenant scoping at work on the demo schema.
-- Run by tools/demo.sh in database dbcore_demo, after dbcore-migrate has
-- applied tools/demo/migrations/ (tables businesses, users, conversations,
-- messages; the last three tenant-scoped by client_id).  Safe to read top to
-- bottom: each step \echoes what it is about to show.

\set ON_ERROR_STOP 1
\pset footer off
\pset null '(null)'
SET client_min_messages = warning;
SET TimeZone = 'UTC';

\set acme   '''aaaaaaaa-0000-4000-8000-000000000001'''
\set bright '''bbbbbbbb-0000-4000-8000-000000000002'''

\echo
\echo '=== 2. updated_at: the migrations attached dbcore''s trigger to every table'

SELECT t.tgrelid::regclass AS "table", t.tgname AS "trigger",
       pg_get_triggerdef(t.oid) AS definition
  FROM pg_trigger t
 WHERE t.tgfoid = 'dbcore.updated_at()'::regprocedure
 ORDER BY t.tgrelid::regclass::text;

\echo
\echo '    Two businesses (two clients) and some rows, written by the migration'
\echo '    role, which may write for any client (it is a superuser here).'

BEGIN;
INSERT INTO businesses (id, name, plan)
VALUES (:acme, 'Acme Plumbing', 'pro'), (:bright, 'Bright Bakery', 'free');
INSERT INTO users (client_id, email, display_name)
VALUES (:acme, 'ana@acme.example', 'Ana'), (:acme, 'bo@acme.example', 'Bo'),
       (:bright, 'chen@bright.example', 'Chen');
INSERT INTO conversations (client_id, title)
VALUES (:acme, 'Leaking kitchen tap'), (:bright, 'Wedding cake order');
INSERT INTO messages (client_id, conversation_id, author_id, body)
SELECT c.client_id, c.id, u.id, 'First message about: ' || c.title
  FROM conversations c
  JOIN users u ON u.client_id = c.client_id AND u.email IN ('ana@acme.example', 'chen@bright.example');
COMMIT;

\echo '    A second later, in a new transaction, one conversation is closed:'
\echo '    UPDATE conversations SET status = ''closed'' WHERE title = ''Leaking kitchen tap'';'

SELECT pg_sleep(1) \g /dev/null
UPDATE conversations SET status = 'closed' WHERE title = 'Leaking kitchen tap';

SELECT title, status,
       to_char(created_at, 'HH24:MI:SS.US') AS created_at,
       to_char(updated_at, 'HH24:MI:SS.US') AS updated_at,
       updated_at > created_at AS "updated_at moved?"
  FROM conversations ORDER BY title;

\echo '    An UPDATE cannot backdate updated_at: the trigger overwrites it.'
\echo '    UPDATE users SET display_name = ''Ana M.'', updated_at = ''1999-01-01'' ...'

UPDATE users SET display_name = 'Ana M.', updated_at = '1999-01-01'
 WHERE email = 'ana@acme.example';
SELECT email, display_name, updated_at > '1999-01-02' AS "overwritten?"
  FROM users WHERE email = 'ana@acme.example';

\echo
\echo '=== 3. Tenant scoping: the application connects as demo_app, an ordinary'
\echo '    role that does not own the tables, and names its client per transaction'
\echo '    with dbcore.set_client(); it never writes WHERE client_id = ...'

DROP ROLE IF EXISTS demo_app;
CREATE ROLE demo_app;
GRANT USAGE ON SCHEMA dbcore TO demo_app;     -- to call dbcore.set_client()
GRANT SELECT, INSERT, UPDATE, DELETE ON users, conversations, messages TO demo_app;
SET ROLE demo_app;

\echo
\echo '    Without a client scope, a tenant table refuses to answer:'
\echo '    SELECT count(*) FROM conversations;'
\set ON_ERROR_STOP 0
SELECT count(*) FROM conversations;
\set ON_ERROR_STOP 1

\echo
\echo '    As Acme Plumbing: SELECT dbcore.set_client(<acme>); SELECT ... FROM conversations;'
BEGIN;
SELECT dbcore.set_client(:acme::uuid) \g /dev/null
SELECT title, status FROM conversations;
SELECT count(*) AS "messages Acme sees" FROM messages;
\echo '    A row for another client is refused, whatever the query says:'
\set ON_ERROR_STOP 0
SAVEPOINT s;
INSERT INTO conversations (client_id, title) VALUES (:bright, 'Planted in Bright''s data');
ROLLBACK TO s;
\set ON_ERROR_STOP 1
\echo '    ... and a new row without client_id gets the current client:'
INSERT INTO conversations (title) VALUES ('New quote request')
RETURNING title, client_id = :acme::uuid AS "stamped with Acme?";
COMMIT;

\echo
\echo '    As Bright Bakery, the same queries show only Bright''s rows:'
BEGIN;
SELECT dbcore.set_client(:bright::uuid) \g /dev/null
SELECT title, status FROM conversations;
SELECT count(*) AS "messages Bright sees" FROM messages;
UPDATE conversations SET status = 'closed' RETURNING title;
COMMIT;
RESET ROLE;

\echo
\echo '    The scope ended with each transaction; a superuser (or a BYPASSRLS role)'
\echo '    still sees every client:'
SELECT b.name AS business, count(c.*) AS conversations
  FROM businesses b LEFT JOIN conversations c ON c.client_id = b.id
 GROUP BY b.name ORDER BY b.name;
