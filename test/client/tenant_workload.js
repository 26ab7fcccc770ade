'use strict';
// dbcore tenant scoping under the node-postgres pool pattern that backend
// teams use: one Pool({max: 15}), one transaction per request,
// dbcore.set_client() first.  A mixed workload of concurrent requests for
// several tenants over the demo schema (businesses, users, conversations,
// messages; created by test/shell/node_client.sh), with checks on every row a
// request gets back, requests that try to reach other tenants' rows, and
// requests that forget set_client (must fail with 42501).
//
// Environment: PGHOST, PGPORT, PGUSER (the application role), PGDATABASE
// (libpq's variables, which node-postgres reads); DBCORE_TENANTS (10),
// DBCORE_DURATION_MS (10000), DBCORE_CONCURRENCY (40 requests in flight).
// Prints one line per check ("ok - ..." / "not ok - ...") and a figure; exits
// non-zero on any leak, unexpected error or failed check.

const { Pool } = require('pg');
const crypto = require('crypto');

const TENANTS = Number(process.env.DBCORE_TENANTS || 10);
const DURATION_MS = Number(process.env.DBCORE_DURATION_MS || 10000);
const CONCURRENCY = Number(process.env.DBCORE_CONCURRENCY || 40);
const POOL_MAX = 15;

const pool = new Pool({ max: POOL_MAX, idleTimeoutMillis: 0, application_name: 'dbcore-node-client' });

const stats = {
  requests: {},          // kind -> count
  rowsChecked: 0,
  leaks: [],             // descriptions
  expectedErrors: {},    // "SQLSTATE what" -> count
  unexpected: [],        // descriptions
  failures: [],          // failed checks that are not leaks
  pids: new Map(),       // backend pid -> Set of tenants it served
  maxPoolSize: 0,
};

const tenants = Array.from({ length: TENANTS }, (_, i) => ({
  n: i + 1,
  id: crypto.randomUUID(),
  business: null,
  users: [],
  conversations: [],
  messages: [],
}));

function pick(list) {
  return list[Math.floor(Math.random() * list.length)];
}
function otherTenant(t) {
  let o;
  do { o = pick(tenants); } while (o === t);
  return o;
}
function count(map, key) {
  map[key] = (map[key] || 0) + 1;
}
function leak(what) {
  stats.leaks.push(what);
}
function failed(what) {
  stats.failures.push(what);
}

// Every row a request gets back must belong to the request's tenant.
function checkRows(t, rows, what) {
  for (const row of rows) {
    stats.rowsChecked++;
    if (!('client_id' in row)) {
      failed(`${what}: a row without client_id`);
    } else if (row.client_id !== t.id) {
      leak(`${what}: tenant ${t.n} got a row of client ${row.client_id}`);
    }
  }
  return rows;
}

// One request: a pooled connection, one transaction, the client first.
async function request(t, kind, work) {
  if (kind !== null) count(stats.requests, kind);   // null: counted by expectError()
  const client = await pool.connect();
  stats.maxPoolSize = Math.max(stats.maxPoolSize, pool.totalCount);
  try {
    await client.query('BEGIN');
    const r = await client.query('SELECT dbcore.set_client($1) AS set, pg_backend_pid() AS pid, now()::text AS now', [t.id]);
    const { pid, now } = r.rows[0];
    if (!stats.pids.has(pid)) stats.pids.set(pid, new Set());
    stats.pids.get(pid).add(t.n);
    const current = await client.query('SELECT dbcore.current_client_id() AS client_id');
    checkRows(t, current.rows, `${kind}: current_client_id()`);
    const result = await work(client, now);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

// A request that must fail with the given SQLSTATE (and message).
async function expectError(kind, sqlstate, message, label, fn) {
  count(stats.requests, kind);
  try {
    await fn();
  } catch (err) {
    if (err.code === sqlstate && message.test(err.message)) {
      count(stats.expectedErrors, `${sqlstate} ${label}`);
      return;
    }
    stats.unexpected.push(`${kind}: ${err.code} ${err.message}`);
    return;
  }
  leak(`${kind}: succeeded, wanted ${sqlstate} (${label})`);
}

// ---------------------------------------------------------------------------
// The requests
// ---------------------------------------------------------------------------

async function signUp(t) {
  await request(t, 'sign up', async (c, now) => {
    const b = checkRows(t, (await c.query(
      `INSERT INTO businesses (name) VALUES ($1)
       RETURNING client_id, id, created_at::text, updated_at::text`, [`Business ${t.n}`])).rows, 'sign up');
    if (b[0].updated_at !== now || b[0].created_at !== now) failed('sign up: timestamps are not the transaction time');
    t.business = b[0].id;
    const u = checkRows(t, (await c.query(
      `INSERT INTO users (business_id, email, display_name)
       SELECT $1, 'user' || g || '@tenant' || $2 || '.example', 'User ' || g FROM generate_series(1, 3) g
       RETURNING client_id, id`, [t.business, t.n])).rows, 'sign up users');
    t.users.push(...u.map((r) => r.id));
  });
}

async function createConversation(t) {
  const id = await request(t, 'create conversation', async (c, now) => {
    const rows = checkRows(t, (await c.query(
      `INSERT INTO conversations (business_id, title) VALUES ($1, $2)
       RETURNING client_id, id, updated_at::text`, [t.business, `Topic ${Math.random().toString(36).slice(2, 8)}`])).rows,
    'create conversation');
    if (rows[0].updated_at !== now) failed('create conversation: updated_at is not the transaction time');
    return rows[0].id;
  });
  t.conversations.push(id);      // usable by other requests once committed
}

async function postMessage(t) {
  if (t.conversations.length === 0) return createConversation(t);
  const id = await request(t, 'post message', async (c) => {
    const rows = checkRows(t, (await c.query(
      `INSERT INTO messages (conversation_id, author_id, body) VALUES ($1, $2, $3)
       RETURNING client_id, id`, [pick(t.conversations), pick(t.users), 'hello'])).rows, 'post message');
    return rows[0].id;
  });
  t.messages.push(id);
}

async function listInbox(t) {
  await request(t, 'list inbox', async (c) => {
    checkRows(t, (await c.query(
      `SELECT c.client_id, c.id, c.title, c.status, c.updated_at
         FROM conversations c ORDER BY c.updated_at DESC LIMIT 20`)).rows, 'list conversations');
    // a join: both sides must be the tenant's
    const rows = (await c.query(
      `SELECT m.client_id, c.client_id AS conversation_client, u.client_id AS author_client, m.body
         FROM messages m
         JOIN conversations c ON c.id = m.conversation_id
         LEFT JOIN users u ON u.id = m.author_id
        ORDER BY m.created_at DESC LIMIT 50`)).rows;
    checkRows(t, rows, 'list messages');
    for (const r of rows) {
      if (r.conversation_client !== t.id || (r.author_client !== null && r.author_client !== t.id)) {
        leak(`list messages: tenant ${t.n} joined a row of another client`);
      }
    }
    checkRows(t, (await c.query(
      `SELECT b.client_id, count(*) AS users FROM businesses b JOIN users u USING (client_id) GROUP BY b.client_id`)).rows,
    'count users');
  });
}

async function updateConversation(t) {
  if (t.conversations.length === 0) return createConversation(t);
  await request(t, 'update conversation', async (c, now) => {
    const id = pick(t.conversations);
    const before = checkRows(t, (await c.query(
      'SELECT client_id, updated_at::text FROM conversations WHERE id = $1 FOR UPDATE', [id])).rows, 'update: before');
    const after = checkRows(t, (await c.query(
      `UPDATE conversations SET title = title || '.', status = CASE status WHEN 'open' THEN 'closed' ELSE 'open' END
        WHERE id = $1 RETURNING client_id, updated_at::text`, [id])).rows, 'update conversation');
    if (before.length !== 1 || after.length !== 1) {
      failed(`update conversation: own conversation not found (${before.length}, ${after.length})`);
    } else if (after[0].updated_at !== now || after[0].updated_at === before[0].updated_at) {
      failed(`update conversation: updated_at did not move (${before[0].updated_at} -> ${after[0].updated_at}, now ${now})`);
    }
  });
}

async function deleteMessage(t) {
  if (t.messages.length === 0) return postMessage(t);
  const i = Math.floor(Math.random() * t.messages.length);
  const id = t.messages[i];
  t.messages.splice(i, 1);        // no other request of this tenant picks it now
  await request(t, 'delete message', async (c) => {
    const rows = checkRows(t, (await c.query(
      'DELETE FROM messages WHERE id = $1 RETURNING client_id', [id])).rows, 'delete message');
    if (rows.length !== 1) failed(`delete message: own message not found (${rows.length} rows)`);
  });
}

// Reach for another tenant's rows by their ids: nothing may come back or change.
async function probeForeign(t) {
  const o = otherTenant(t);
  if (o.conversations.length === 0 || o.messages.length === 0) return listInbox(t);
  const conv = pick(o.conversations);
  const msg = pick(o.messages);
  await request(t, 'foreign ids', async (c) => {
    const r1 = await c.query('SELECT client_id, id FROM conversations WHERE id = $1', [conv]);
    const r2 = await c.query(`UPDATE messages SET body = 'defaced' WHERE id = $1 RETURNING client_id`, [msg]);
    const r3 = await c.query('DELETE FROM messages WHERE id = $1 RETURNING client_id', [msg]);
    const r4 = await c.query('SELECT client_id FROM businesses WHERE id = $1', [o.business]);
    for (const [r, what] of [[r1, 'select'], [r2, 'update'], [r3, 'delete'], [r4, 'select business']]) {
      checkRows(t, r.rows, `foreign ${what}`);
      if (r.rowCount !== 0) leak(`foreign ${what}: tenant ${t.n} reached ${r.rowCount} rows of tenant ${o.n}`);
    }
  });
  // Writing into another tenant: naming it, or pointing at its conversation.
  await expectError('write as another client', '42501', /belongs to another client/, 'row of another client', () =>
    request(t, null, (c) => c.query(
      'INSERT INTO messages (client_id, conversation_id, body) VALUES ($1, $2, $3)', [o.id, conv, 'intrusion'])));
  await expectError('reference a foreign row', '23503', /violates foreign key constraint/,
    'foreign key to another client\'s row', () =>
    request(t, null, (c) => c.query(
      'INSERT INTO messages (conversation_id, body) VALUES ($1, $2)', [conv, 'intrusion'])));
}

// A request that forgets set_client: in a transaction, and in autocommit.
async function forgetful(t) {
  await expectError('forgot set_client', '42501', /^no client scope is set$/, 'no client scope (transaction)', async () => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const r = await client.query('SELECT client_id, id FROM conversations LIMIT 5');
      checkRows(t, r.rows, 'forgot set_client');
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  });
  await expectError('forgot set_client', '42501', /^no client scope is set$/, 'no client scope (autocommit)', () =>
    pool.query(`INSERT INTO conversations (business_id, title) VALUES ($1, 'no scope')`, [t.business]));
}

const KINDS = [
  [postMessage, 30], [listInbox, 22], [createConversation, 12], [updateConversation, 14],
  [deleteMessage, 8], [probeForeign, 7], [forgetful, 7],
];
const TOTAL_WEIGHT = KINDS.reduce((s, [, w]) => s + w, 0);
function randomKind() {
  let x = Math.random() * TOTAL_WEIGHT;
  for (const [fn, w] of KINDS) {
    if ((x -= w) < 0) return fn;
  }
  return KINDS[0][0];
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

function report(ok, what) {
  console.log(`${ok ? 'ok' : 'not ok'} - ${what}`);
  return ok;
}

async function main() {
  const start = Date.now();
  let ok = true;

  await Promise.all(tenants.map(signUp));
  ok = report(tenants.every((t) => t.business && t.users.length === 3),
    `${TENANTS} tenants signed up concurrently`) && ok;

  // CONCURRENCY workers, each issuing requests back to back for random tenants.
  const deadline = start + DURATION_MS;
  async function worker() {
    while (Date.now() < deadline) {
      const t = pick(tenants);
      try {
        await randomKind()(t);
      } catch (err) {
        stats.unexpected.push(`${err.code || ''} ${err.message}`);
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));

  // Afterwards: every tenant sees exactly the messages it kept, and no other.
  let mismatch = 0;
  for (const t of tenants) {
    await request(t, 'final check', async (c) => {
      const rows = checkRows(t, (await c.query('SELECT client_id, id FROM messages')).rows, 'final check');
      const seen = new Set(rows.map((r) => r.id));
      if (seen.size !== t.messages.length || !t.messages.every((id) => seen.has(id))) {
        mismatch++;
        failed(`final check: tenant ${t.n} sees ${seen.size} messages, kept ${t.messages.length}`);
      }
    });
  }
  ok = report(mismatch === 0, 'every tenant sees exactly the messages it kept') && ok;

  const totalRequests = Object.values(stats.requests).reduce((s, n) => s + n, 0);
  const shared = [...stats.pids.values()].filter((s) => s.size > 1).length;
  ok = report(stats.leaks.length === 0, `no leak in ${stats.rowsChecked} rows checked`) && ok;
  for (const l of stats.leaks.slice(0, 20)) console.log(`#   LEAK: ${l}`);
  ok = report(stats.unexpected.length === 0, 'no unexpected error') && ok;
  for (const e of stats.unexpected.slice(0, 20)) console.log(`#   ${e}`);
  ok = report(stats.failures.length === 0, 'results as expected (timestamps, own rows found)') && ok;
  for (const f of stats.failures.slice(0, 20)) console.log(`#   ${f}`);
  const wanted = ['42501 no client scope (transaction)', '42501 no client scope (autocommit)',
    '42501 row of another client', '23503 foreign key to another client\'s row'];
  ok = report(wanted.every((k) => stats.expectedErrors[k] > 0),
    'forgotten set_client and intrusions failed as they must: ' +
    wanted.map((k) => `${k} x${stats.expectedErrors[k] || 0}`).join(', ')) && ok;
  // (pool.query() drops a connection whose query failed, so the forgetful
  // autocommit requests make the pool open new ones: count them, but only
  // the pool's size at any time is bounded.)
  ok = report(stats.maxPoolSize > 1 && stats.maxPoolSize <= POOL_MAX && shared > 0,
    `at most ${stats.maxPoolSize} connections at a time (pool max ${POOL_MAX}); ` +
    `${stats.pids.size} server connections in all, ${shared} of them served several tenants`) && ok;

  const kinds = Object.entries(stats.requests).map(([k, n]) => `${k} ${n}`).join(', ');
  const errors = Object.entries(stats.expectedErrors).map(([k, n]) => `${k}: ${n}`).join(', ');
  console.log(`# requests by kind: ${kinds}`);
  console.log(`node-postgres: ${totalRequests} requests for ${TENANTS} tenants, ${stats.rowsChecked} rows checked, ` +
    `${stats.leaks.length} leaks, errors: ${errors}; unexpected ${stats.unexpected.length}; ${((Date.now() - start) / 1000).toFixed(1)} s`);
  return ok;
}

main()
  .then((ok) => pool.end().then(() => process.exit(ok ? 0 : 1)))
  .catch((err) => {
    console.log(`not ok - the workload died: ${err.stack || err}`);
    pool.end().finally(() => process.exit(1));
  });
