// Prisma 7 with @prisma/adapter-pg: withClient() (interactive transaction)
// and forClient() (client extension), against the test cluster.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { assertNoScope, barrier, newClient, pgError } from '../lib/check.ts';
import { mintClientToken } from '../lib/tokens.ts';
import { createPrisma, forClient, withClient } from './with-client.ts';

const prisma = createPrisma({ max: 4 });
after(() => prisma.$disconnect());

describe('Prisma withClient() and forClient()', () => {
  test('two concurrent requests for different clients never see each other\'s rows', async () => {
    const a = newClient();
    const b = newClient();
    const meet = barrier(4);
    const results = await Promise.all([a, b, a, b].map((client, i) =>
      withClient(prisma, client, async (tx) => {
        const project = await tx.project.create({
          data: { name: `project ${i}`, tasks: { create: [{ title: 'one' }, { title: 'two' }] } },
        });
        const read = () => tx.task.findMany({ include: { project: true } });
        // Nothing is committed before all four reach the barrier: each sees
        // exactly its own two tasks here.
        const before = await read();
        await meet();
        // The others commit in any order now: the same client's committed
        // tasks may show, another client's never.
        const seen = before.concat(await read());
        return { client, project, before, seen };
      })));
    for (const { client, project, before, seen } of results) {
      assert.equal(project.clientId, client, 'client_id comes from the scope');
      assert.equal(before.length, 2);
      for (const task of seen) {
        assert.equal(task.clientId, client, 'a task of another client leaked');
        assert.equal(task.project.clientId, client, 'a project of another client leaked');
      }
    }
    const counts = await Promise.all([a, b].map((client) => withClient(prisma, client, (tx) => tx.task.count())));
    assert.deepEqual(counts, [4, 4], 'after the commits each client sees its four tasks');
  });

  test('the client extension scopes every query, concurrently', async () => {
    const a = newClient();
    const b = newClient();
    const asA = forClient(prisma, a);
    const asB = forClient(prisma, b);
    await Promise.all([asA.project.create({ data: { name: 'a' } }), asB.project.create({ data: { name: 'b' } }),
      asA.project.create({ data: { name: 'a2' } })]);
    const [seenA, seenB] = await Promise.all([asA.project.findMany(), asB.project.findMany()]);
    assert.deepEqual(seenA.map((p) => p.clientId), [a, a]);
    assert.deepEqual(seenB.map((p) => [p.clientId, p.name]), [[b, 'b']]);
  });

  test('a request without a client scope fails loudly', async () => {
    await assertNoScope(prisma.project.findMany());
    await assertNoScope(prisma.project.create({ data: { name: 'no scope' } }));
  });

  test('another client\'s row cannot be written', async () => {
    const err = await withClient(prisma, newClient(), (tx) =>
      tx.project.create({ data: { clientId: newClient(), name: 'foreign' } })).then(() => null, (e) => e);
    assert.equal(pgError(err).code, '42501');
  });

  test('updated_at moves on update', async () => {
    const client = newClient();
    const created = await withClient(prisma, client, (tx) => tx.project.create({ data: { name: 'draft' } }));
    assert.equal(created.updatedAt.getTime(), created.createdAt.getTime());
    const updated = await withClient(prisma, client, (tx) =>
      tx.project.update({ where: { clientId_id: { clientId: client, id: created.id } }, data: { name: 'final' } }));
    assert.equal(updated.createdAt.getTime(), created.createdAt.getTime());
    assert.ok(updated.updatedAt > created.updatedAt, 'updated_at did not move');
  });

  const strictUser = process.env.DBCORE_EXAMPLES_STRICT_USER;
  const signingKey = process.env.DBCORE_EXAMPLES_SIGNING_KEY;
  test('strict mode: a signed token sets the scope', { skip: !(strictUser && signingKey) && 'no strict-mode role' }, async () => {
    const strict = createPrisma({ max: 1, user: strictUser });
    try {
      const client = newClient();
      const rows = await withClient(strict, { token: mintClientToken(signingKey!, client) }, async (tx) => {
        await tx.project.create({ data: { name: 'signed' } });
        return tx.project.findMany({ select: { clientId: true } });
      });
      assert.deepEqual(rows, [{ clientId: client }]);
    } finally {
      await strict.$disconnect();
    }
  });
});
