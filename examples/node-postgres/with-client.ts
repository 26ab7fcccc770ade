// Per-request client scope with node-postgres: one pooled connection, one
// transaction, the client first.  dbcore.set_client() (or, in strict mode,
// dbcore.set_client_token()) sets the scope for that transaction only, so a
// connection that goes back to the pool, or a pgbouncer in transaction
// mode, never carries one client's scope to the next request.
import type { Pool, PoolClient } from 'pg';

/** Who the request works for: a client id, or a signed token (strict mode). */
export type Scope = string | { token: string };

/**
 * Runs fn(client) in a transaction scoped to one client: BEGIN, set the
 * client, fn, COMMIT (ROLLBACK if fn throws).  Every query of the request
 * must go through the client fn is given.
 */
export async function withClient<T>(
  pool: Pool,
  scope: Scope,
  fn: (client: PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    if (typeof scope === 'string') {
      await client.query('SELECT dbcore.set_client($1::uuid)', [scope]);
    } else {
      // A bind parameter: a token in the query text would show in
      // pg_stat_activity and the server log.
      await client.query('SELECT dbcore.set_client_token($1)', [scope.token]);
    }
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
