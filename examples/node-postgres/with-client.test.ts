// node-postgres: withClient() against the test cluster (test/shell/examples.sh
// sets PGHOST, PGPORT, PGDATABASE and PGUSER, the application role).
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { assertNoScope, barrier, newClient } from '../lib/check.ts';
import { mintClientToken } from '../lib/tokens.ts';
import { withClient } from './with-client.ts';

const pool = new pg.Pool({ max: 4 });
after(() => pool.end());

describe('node-postgres withClient()', () => {
  test('two concurrent requests for different clients never see each other\'s rows', async () => {
    const a = newClient();
    const b = newClient();
    // Round 1: four requests whose transactions are all open at once (they
    // meet at a barrier after writing), one per pooled connection.  Round 2:
    // eight more on the same four connections, which pass from client to
    // client.
    const meet = barrier(4);
    const request = (client: string, i: number, wait: boolean) =>
      withClient(pool, client, async (c) => {
        await c.query('INSERT INTO projects (name) VALUES ($1)', [`p${i}`]);
        if (wait) await meet();
        const { rows } = await c.query('SELECT client_id, name FROM projects');
        return { client, rows };
      });
    const results = await Promise.all([a, b, a, b].map((client, i) => request(client, i, true)));
    results.push(...await Promise.all([a, b, a, b, a, b, a, b].map((client, i) => request(client, i + 4, false))));
    for (const { client, rows } of results) {
      assert.ok(rows.length > 0);
      for (const row of rows) assert.equal(row.client_id, client, 'a row of another client leaked');
    }
    const counts = await Promise.all([a, b].map((client) =>
      withClient(pool, client, async (c) => (await c.query('SELECT count(*)::int AS n FROM projects')).rows[0].n)));
    assert.deepEqual(counts, [6, 6]);
  });

  test('a request without a client scope fails loudly', async () => {
    await assertNoScope(pool.query('SELECT * FROM projects'));
    await assertNoScope(pool.query("INSERT INTO projects (name) VALUES ('no scope')"));
  });

  test('the scope ends with the transaction: the pooled connection keeps nothing', async () => {
    const onePool = new pg.Pool({ max: 1 });
    try {
      await withClient(onePool, newClient(), async (c) => { await c.query('SELECT 1'); });
      await assertNoScope(onePool.query('SELECT * FROM projects'));
    } finally {
      await onePool.end();
    }
  });

  test('writing another client\'s row is refused', async () => {
    const other = newClient();
    await assert.rejects(
      withClient(pool, newClient(), (c) => c.query('INSERT INTO projects (client_id, name) VALUES ($1, $2)', [other, 'x'])),
      (err: any) => err.code === '42501',
    );
  });

  test('updated_at moves on update', async () => {
    const client = newClient();
    const created = await withClient(pool, client, async (c) =>
      (await c.query("INSERT INTO projects (name) VALUES ('draft') RETURNING id, created_at, updated_at")).rows[0]);
    assert.equal(created.updated_at.getTime(), created.created_at.getTime());
    const updated = await withClient(pool, client, async (c) =>
      (await c.query("UPDATE projects SET name = 'final' WHERE id = $1 RETURNING created_at, updated_at", [created.id])).rows[0]);
    assert.equal(updated.created_at.getTime(), created.created_at.getTime());
    assert.ok(updated.updated_at > created.updated_at, 'updated_at did not move');
  });

  const strictUser = process.env.DBCORE_EXAMPLES_STRICT_USER;
  const signingKey = process.env.DBCORE_EXAMPLES_SIGNING_KEY;
  test('strict mode: a signed token sets the scope, a bare client id is refused', { skip: !(strictUser && signingKey) && 'no strict-mode role' }, async () => {
    const strict = new pg.Pool({ max: 2, user: strictUser });
    try {
      const client = newClient();
      const rows = await withClient(strict, { token: mintClientToken(signingKey!, client) }, async (c) => {
        await c.query("INSERT INTO projects (name) VALUES ('signed')");
        return (await c.query('SELECT client_id FROM projects')).rows;
      });
      assert.deepEqual(rows, [{ client_id: client }]);
      await assert.rejects(withClient(strict, client, async () => undefined), (err: any) => err.code === '42501');
      await assert.rejects(withClient(strict, { token: mintClientToken(signingKey!, client, -10) }, async () => undefined));
    } finally {
      await strict.end();
    }
  });
});
