import type { Database } from '../database/database.js';

/**
 * Runs `work` unless another replica runs the work of the same name right now (a PostgreSQL
 * advisory lock, held by a transaction for as long as the work runs, and let go by a crash too).
 * Undefined when another had it: that one does it.
 */
export function oneReplicaAtATime<T>(
  db: Database,
  name: string,
  work: () => Promise<T>,
): Promise<T | undefined> {
  return db.transaction(async (trx) => {
    const { rows } = await trx.raw('select pg_try_advisory_xact_lock(hashtext(?)) as got', [name]);
    return rows[0]?.got ? await work() : undefined;
  });
}

/**
 * Runs `work` once no other replica runs the work of the same name (waits for it). Migrations:
 * replicas starting together apply them once, the others wait and find them done.
 */
export async function oneReplicaAfterAnother<T>(
  db: Database,
  name: string,
  work: () => Promise<T>,
): Promise<T> {
  // A session lock on a connection of its own: knex's migrations take their own connections.
  const connection = await db.client.acquireConnection();
  try {
    await connection.query('select pg_advisory_lock(hashtext($1))', [name]);
    try {
      return await work();
    } finally {
      await connection.query('select pg_advisory_unlock(hashtext($1))', [name]);
    }
  } finally {
    await db.client.releaseConnection(connection);
  }
}
