import { migrationSource } from '@nullops/migrations';
import knex, { type Knex } from 'knex';
import { knexSnakeCaseMappers } from 'objection';
import { oneReplicaAfterAnother } from '../cluster/one-at-a-time.js';

export type Database = Knex;

/**
 * A knex pool on PostgreSQL. Columns are snake_case in SQL and camelCase in code; objection's
 * mappers translate both ways, for models and raw queries alike.
 */
export function createDatabase(url: string, options: { pool?: { min: number; max: number } } = {}): Database {
  return knex({
    client: 'pg',
    connection: url,
    pool: options.pool ?? { min: 0, max: 10 },
    migrations: { migrationSource, tableName: 'knex_migrations' },
    ...knexSnakeCaseMappers(),
  });
}

/**
 * Brings the schema up to date; returns the names of the migrations it ran. Replicas starting
 * together take turns: the first migrates, the others wait and find nothing left to do.
 */
export async function migrateLatest(db: Database): Promise<string[]> {
  return oneReplicaAfterAnother(db, 'nullops:migrations', async () => {
    const [, names] = (await db.migrate.latest()) as [number, string[]];
    return names;
  });
}

/** True when the database answers a trivial query within `timeoutMs`. */
export async function isDatabaseReachable(db: Database, timeoutMs = 2000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      db.raw('select 1'),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), timeoutMs);
      }),
    ]);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Awaits several queries: in parallel on the pool, one after another inside a transaction (a
 * transaction is one connection, and pg refuses overlapping queries on one connection).
 */
export async function allQueries<T extends readonly unknown[]>(
  db: Database,
  queries: { [K in keyof T]: PromiseLike<T[K]> },
): Promise<T> {
  if (!db.isTransaction) return (await Promise.all(queries)) as unknown as T;
  const results: unknown[] = [];
  for (const query of queries) results.push(await query);
  return results as unknown as T;
}
