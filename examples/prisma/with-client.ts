// Per-request client scope with Prisma 7 on node-postgres (@prisma/adapter-pg),
// two ways:
//   withClient(prisma, clientId, async (tx) => ...)  an interactive
//       transaction, the client first: for requests that run several queries;
//   forClient(prisma, clientId)  a client extension: every query of the
//       returned client runs as a batch transaction [set the client, query].
// Either way the scope lasts for one transaction, so pooled connections
// (and pgbouncer in transaction mode) never carry it over.
import { PrismaPg } from '@prisma/adapter-pg';
import type { PoolConfig } from 'pg';
import type { Scope } from '../node-postgres/with-client.ts';
import { Prisma, PrismaClient } from './generated/client.ts';

/** A PrismaClient over node-postgres; PGHOST, PGUSER ... fill in what config leaves out. */
export const createPrisma = (config: PoolConfig = {}): PrismaClient =>
  new PrismaClient({ adapter: new PrismaPg(config) });

function setScope(db: Prisma.TransactionClient | PrismaClient, scope: Scope) {
  return typeof scope === 'string'
    ? db.$executeRaw`SELECT dbcore.set_client(${scope}::uuid)`
    : db.$executeRaw`SELECT dbcore.set_client_token(${scope.token})`;
}

/** Runs fn(tx) in an interactive transaction scoped to one client. */
export function withClient<T>(
  prisma: PrismaClient,
  scope: Scope,
  fn: (tx: Prisma.TransactionClient) => Promise<T>,
): Promise<T> {
  return prisma.$transaction(async (tx) => {
    await setScope(tx, scope);
    return fn(tx);
  });
}

/** A client whose every model query runs in a transaction scoped to one client. */
export function forClient(prisma: PrismaClient, scope: Scope) {
  return prisma.$extends({
    query: {
      $allModels: {
        async $allOperations({ args, query }) {
          const [, result] = await prisma.$transaction([setScope(prisma, scope), query(args)]);
          return result;
        },
      },
    },
  });
}
