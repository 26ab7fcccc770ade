// Drizzle: withClient() through db.transaction(), against the test cluster.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { eq } from 'drizzle-orm';
import pg from 'pg';
import { assertNoScope, barrier, newClient, pgError } from '../lib/check.ts';
import { mintClientToken } from '../lib/tokens.ts';
import { projects, tasks } from './schema.ts';
import { createDb, withClient } from './with-client.ts';

const pool = new pg.Pool({ max: 4 });
const db = createDb(pool);
after(() => pool.end());

describe('Drizzle withClient()', () => {
  test('two concurrent requests for different clients never see each other\'s rows', async () => {
    const a = newClient();
    const b = newClient();
    const meet = barrier(4);
    const results = await Promise.all([a, b, a, b].map((client, i) =>
      withClient(db, client, async (tx) => {
        const [project] = await tx.insert(projects).values({ name: `project ${i}` }).returning();
        await tx.insert(tasks).values([{ projectId: project.id, title: 'one' }, { projectId: project.id, title: 'two' }]);
        const join = () => tx.select().from(tasks).innerJoin(projects, eq(tasks.projectId, projects.id));
        // Nothing is committed before all four reach the barrier: each sees
        // exactly its own two tasks here.
        const before = await join();
        await meet();
        // The others commit in any order now: the same client's committed
        // tasks may show, another client's never.
        const seen = before.concat(await join());
        return { client, project, before, seen };
      })));
    for (const { client, project, before, seen } of results) {
      assert.equal(project.clientId, client, 'client_id comes from the scope');
      assert.equal(before.length, 2);
      for (const row of seen) {
        assert.equal(row.tasks.clientId, client, 'a task of another client leaked');
        assert.equal(row.projects.clientId, client, 'a project of another client leaked');
      }
    }
    const counts = await Promise.all([a, b].map((client) =>
      withClient(db, client, async (tx) => (await tx.select().from(tasks)).length)));
    assert.deepEqual(counts, [4, 4], 'after the commits each client sees its four tasks');
  });

  test('a request without a client scope fails loudly', async () => {
    await assertNoScope(db.select().from(projects));
    await assertNoScope(db.insert(projects).values({ name: 'no scope' }));
  });

  test('another client\'s row cannot be written', async () => {
    const err = await withClient(db, newClient(), (tx) =>
      tx.insert(projects).values({ clientId: newClient(), name: 'foreign' })).then(() => null, (e) => e);
    assert.equal(pgError(err).code, '42501');
  });

  test('updated_at moves on update', async () => {
    const client = newClient();
    const [created] = await withClient(db, client, (tx) => tx.insert(projects).values({ name: 'draft' }).returning());
    assert.equal(created.updatedAt.getTime(), created.createdAt.getTime());
    const [updated] = await withClient(db, client, (tx) =>
      tx.update(projects).set({ name: 'final' }).where(eq(projects.id, created.id)).returning());
    assert.equal(updated.createdAt.getTime(), created.createdAt.getTime());
    assert.ok(updated.updatedAt > created.updatedAt, 'updated_at did not move');
  });

  const strictUser = process.env.DBCORE_EXAMPLES_STRICT_USER;
  const signingKey = process.env.DBCORE_EXAMPLES_SIGNING_KEY;
  test('strict mode: a signed token sets the scope', { skip: !(strictUser && signingKey) && 'no strict-mode role' }, async () => {
    const strictPool = new pg.Pool({ max: 1, user: strictUser });
    try {
      const client = newClient();
      const strictDb = createDb(strictPool);
      const rows = await withClient(strictDb, { token: mintClientToken(signingKey!, client) }, async (tx) => {
        await tx.insert(projects).values({ name: 'signed' });
        return tx.select({ clientId: projects.clientId }).from(projects);
      });
      assert.deepEqual(rows, [{ clientId: client }]);
    } finally {
      await strictPool.end();
    }
  });
});
