// What every example proves, whatever the library: helpers for the tests.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

export const newClient = (): string => randomUUID();

/** The PostgreSQL error under whatever a library wrapped it in. */
export function pgError(err: unknown): { code?: string; message: string } {
  let e: any = err;
  for (let depth = 0; e && depth < 6; depth++) {
    // Prisma (P2039 and the like) keeps the driver's error in meta.
    const original = e.meta?.driverAdapterError?.cause;
    if (original?.originalCode) return { code: original.originalCode, message: original.originalMessage ?? e.message };
    // node-postgres' DatabaseError, also under Drizzle's DrizzleQueryError.cause.
    if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && typeof e.severity === 'string') return e;
    e = e.cause;
  }
  return { message: String((err as any)?.message ?? err) };
}

/** A request without a client scope must fail loudly: 42501, "no client scope is set". */
export async function assertNoScope(p: Promise<unknown>): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    const e = pgError(err);
    assert.equal(e.code, '42501', `expected SQLSTATE 42501, got ${e.code}: ${e.message}`);
    assert.match(e.message, /no client scope is set/);
    return true;
  });
}

/** Lets n concurrent requests meet inside their transactions. */
export function barrier(n: number): () => Promise<void> {
  let waiting = 0;
  let release!: () => void;
  const all = new Promise<void>((resolve) => { release = resolve; });
  return async () => {
    waiting += 1;
    if (waiting === n) release();
    await all;
  };
}
