// Per-request client scope with Drizzle on node-postgres: db.transaction(),
// the client first.  The scope lasts for that transaction only, so pooled
// connections (and pgbouncer in transaction mode) never carry it over.
import { sql } from 'drizzle-orm';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import type { Pool } from 'pg';
import type { Scope } from '../node-postgres/with-client.ts';
import * as schema from './schema.ts';

export type Db = NodePgDatabase<typeof schema>;
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

export const createDb = (pool: Pool): Db => drizzle(pool, { schema });

/** Runs fn(tx) in a transaction scoped to one client (or a signed token). */
export function withClient<T>(db: Db, scope: Scope, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    if (typeof scope === 'string') {
      await tx.execute(sql`SELECT dbcore.set_client(${scope}::uuid)`);
    } else {
      await tx.execute(sql`SELECT dbcore.set_client_token(${scope.token})`);
    }
    return fn(tx);
  });
}
