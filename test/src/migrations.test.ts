import test from 'ava';
import { createTestDatabase } from './helpers/test-database.js';

const tables = async (db: any) =>
  (await db('pg_tables').where('schemaname', 'public').select('tablename'))
    .map((r: any) => r.tablename)
    .sort();

test('migrations run up and down cleanly on an empty database, and up again', async (t) => {
  const database = await createTestDatabase({ migrate: false });
  t.teardown(database.drop);
  const { db } = database;
  t.deepEqual(await tables(db), []);

  const [, ran] = await db.migrate.latest();
  t.true(ran.length >= 1);
  const after = await tables(db);
  for (const table of [
    'users',
    'sessions',
    'api_tokens',
    'teams',
    'projects',
    'pipeline_versions',
    'secrets',
    'audit_events',
  ]) {
    t.true(after.includes(table), `${table} exists`);
  }
  t.is((await db('container_registries').where('builtin', true).first()).name, 'Docker Hub');

  await db.migrate.rollback(undefined, true);
  t.deepEqual(
    await tables(db),
    ['knex_migrations', 'knex_migrations_lock'],
    'down removes every table it created',
  );

  await db.migrate.latest();
  t.deepEqual(await tables(db), after, 'up again gives the same schema');
  const [, again] = await db.migrate.latest();
  t.deepEqual(again, [], 'a second run has nothing to do');
});
