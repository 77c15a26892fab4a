import { randomBytes } from 'node:crypto';
import { createDatabase, type Database, migrateLatest } from '@nullops/core';
import pg from 'pg';

/** URL of the PostgreSQL server the test runner provides (scripts/run-tests.mjs). */
export function serverUrl(): string {
  const url = process.env.NULLOPS_TEST_DATABASE_URL;
  if (!url) throw new Error('NULLOPS_TEST_DATABASE_URL is unset: run the tests with `npm test`');
  return url;
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export interface TestDatabase {
  name: string;
  url: string;
  db: Database;
  drop(): Promise<void>;
}

/** A new, empty database with a random name (and, unless `migrate` is false, the full schema). */
export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = `nullops_test_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`create database ${name}`));
  const url = new URL(serverUrl());
  url.pathname = `/${name}`;
  const db = createDatabase(url.toString(), { pool: { min: 0, max: 5 } });
  if (options.migrate !== false) await migrateLatest(db);
  return {
    name,
    url: url.toString(),
    db,
    drop: async () => {
      await db.destroy();
      await admin((c) => c.query(`drop database if exists ${name} with (force)`));
    },
  };
}
