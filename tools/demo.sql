-- tools/demo.sql: dbcore's updated_at trigger on a small SaaS schema.
-- Run by tools/demo.sh in database dbcore_demo (CREATE EXTENSION dbcore done).
-- Safe to read top to bottom: each step \echoes what it is about to show.

\set ON_ERROR_STOP 1
\pset footer off
\pset null '(null)'
SET client_min_messages = warning;
SET TimeZone = 'UTC';

\echo
\echo '=== 1. A typical SaaS schema: businesses, users, conversations, messages'
\echo '       Every table has uuid keys and created_at / updated_at columns'
\echo '       (timestamptz NOT NULL DEFAULT now()).'

CREATE TABLE businesses (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL,
    plan        text NOT NULL DEFAULT 'free',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id  uuid NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    email        text NOT NULL UNIQUE,
    display_name text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE conversations (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id  uuid NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    client_id    uuid NOT NULL UNIQUE,    -- id the client app generated (idempotent retries)
    title        text NOT NULL,
    status       text NOT NULL DEFAULT 'open',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE messages (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id  uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    author_id        uuid REFERENCES users (id) ON DELETE SET NULL,
    client_id        uuid NOT NULL UNIQUE,
    body             text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

\echo
\echo '=== 2. One call per table attaches the updated_at trigger:'
\echo '       SELECT dbcore.attach_updated_at(''businesses'');   -- and so on'

SELECT dbcore.attach_updated_at('businesses') \g /dev/null
SELECT dbcore.attach_updated_at('users') \g /dev/null
SELECT dbcore.attach_updated_at('conversations') \g /dev/null
SELECT dbcore.attach_updated_at('messages') \g /dev/null

SELECT t.tgrelid::regclass AS "table", t.tgname AS "trigger",
       pg_get_triggerdef(t.oid) AS definition
  FROM pg_trigger t
 WHERE t.tgfoid = 'dbcore.updated_at()'::regprocedure
 ORDER BY t.tgrelid::regclass::text;

\echo
\echo '=== 3. Some rows, inserted in one transaction: created_at = updated_at'

BEGIN;
INSERT INTO businesses (name, plan) VALUES ('Acme Plumbing', 'pro'), ('Bright Bakery', 'free');
INSERT INTO users (business_id, email, display_name)
SELECT b.id, u.email, u.display_name
  FROM businesses b
  JOIN (VALUES ('Acme Plumbing', 'ana@acme.example',    'Ana'),
               ('Acme Plumbing', 'bo@acme.example',     'Bo'),
               ('Bright Bakery', 'chen@bright.example', 'Chen')) AS u (business, email, display_name)
    ON u.business = b.name;
INSERT INTO conversations (business_id, client_id, title)
SELECT id, '00000000-0000-4000-8000-000000000001', 'Leaking kitchen tap'
  FROM businesses WHERE name = 'Acme Plumbing';
INSERT INTO messages (conversation_id, author_id, client_id, body)
SELECT c.id, u.id, m.client_id::uuid, m.body
  FROM conversations c
  JOIN (VALUES ('ana@acme.example', '00000000-0000-4000-8000-0000000000a1', 'Hi! Our kitchen tap is leaking.'),
               ('bo@acme.example',  '00000000-0000-4000-8000-0000000000a2', 'We can come by tomorrow at 9.'))
       AS m (email, client_id, body) ON true
  JOIN users u ON u.email = m.email
 WHERE c.client_id = '00000000-0000-4000-8000-000000000001';
COMMIT;

SELECT 'business' AS kind, name AS what,
       to_char(created_at, 'HH24:MI:SS.US') AS created_at,
       to_char(updated_at, 'HH24:MI:SS.US') AS updated_at
  FROM businesses
UNION ALL
SELECT 'user', email, to_char(created_at, 'HH24:MI:SS.US'), to_char(updated_at, 'HH24:MI:SS.US')
  FROM users
UNION ALL
SELECT 'conversation', title, to_char(created_at, 'HH24:MI:SS.US'), to_char(updated_at, 'HH24:MI:SS.US')
  FROM conversations
UNION ALL
SELECT 'message', body, to_char(created_at, 'HH24:MI:SS.US'), to_char(updated_at, 'HH24:MI:SS.US')
  FROM messages
 ORDER BY 1, 2;

\echo
\echo '=== 4. A second later, in a new transaction: rename the conversation'
\echo '       UPDATE conversations SET title = ''Leaking kitchen tap (fixed)'', status = ''closed'' ...'

SELECT pg_sleep(1) \g /dev/null
UPDATE conversations SET title = 'Leaking kitchen tap (fixed)', status = 'closed'
 WHERE client_id = '00000000-0000-4000-8000-000000000001';

SELECT title, status,
       to_char(created_at, 'HH24:MI:SS.US') AS created_at,
       to_char(updated_at, 'HH24:MI:SS.US') AS updated_at,
       updated_at > created_at AS "updated_at moved?",
       date_trunc('second', updated_at - created_at) AS "moved by"
  FROM conversations;

\echo '       The conversation''s messages were not touched, so their updated_at stayed:'

SELECT body, to_char(created_at, 'HH24:MI:SS.US') AS created_at,
       to_char(updated_at, 'HH24:MI:SS.US') AS updated_at,
       updated_at = created_at AS "unchanged?"
  FROM messages ORDER BY created_at, body;

\echo
\echo '=== 5. Insert and update in ONE transaction: created_at = updated_at'
\echo '       (both are now(), the time the transaction started)'

BEGIN;
INSERT INTO messages (conversation_id, author_id, client_id, body)
SELECT c.id, u.id, '00000000-0000-4000-8000-0000000000a3', 'Thanks, all good now'
  FROM conversations c, users u
 WHERE c.client_id = '00000000-0000-4000-8000-000000000001' AND u.email = 'ana@acme.example';
UPDATE messages SET body = body || '!' WHERE client_id = '00000000-0000-4000-8000-0000000000a3';
SELECT body, to_char(created_at, 'HH24:MI:SS.US') AS created_at,
       to_char(updated_at, 'HH24:MI:SS.US') AS updated_at,
       created_at = updated_at AS "equal?"
  FROM messages WHERE client_id = '00000000-0000-4000-8000-0000000000a3';
COMMIT;

\echo
\echo '=== 6. An UPDATE cannot backdate updated_at: the trigger overwrites it'
\echo '       UPDATE users SET display_name = ''Ana M.'', updated_at = ''1999-01-01'' ...'

UPDATE users SET display_name = 'Ana M.', updated_at = '1999-01-01'
 WHERE email = 'ana@acme.example';
SELECT email, display_name, to_char(updated_at, 'YYYY-MM-DD HH24:MI:SS') AS updated_at,
       updated_at > '1999-01-02' AS "overwritten?"
  FROM users WHERE email = 'ana@acme.example';
