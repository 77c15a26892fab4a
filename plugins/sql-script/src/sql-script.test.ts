import 'reflect-metadata';
import { runOnDocker } from '@nullops/agent-docker';
import postgres from '@nullops/plugin-postgres';
import { defineComponent, z } from '@nullops/plugin-sdk';
import test from 'ava';
import plugin from './index.js';

// Needs a Docker engine and an image with psql (CI builds nullops-test/postgres:15 offline).
const IMAGE = process.env.POSTGRES_TEST_IMAGE ?? 'nullops-test/postgres:15';

const pipeline = (sql: string) => ({
  components: [...postgres.components, ...plugin.components],
  nodes: [
    { id: 'db', type: 'postgres.database', params: { image: IMAGE } },
    {
      id: 'sql',
      type: 'postgres.sql',
      params: { image: IMAGE, connectionString: '${output:db.connectionString}', sql },
    },
  ],
  edges: [{ from: 'db', to: 'sql' }],
});

test('runs the script against the connection string output of the database node', async (t) => {
  const run = await runOnDocker(
    pipeline("create table t (v text); insert into t values ('x'); select count(*) from t;"),
  );
  t.teardown(run.cleanup);
  t.true(run.result.ok, JSON.stringify(run.result));
  // psql's output is streamed to the step log.
  t.true(
    run.lines.some((l) => l.startsWith('sql log count') && l.includes('(1 row)')),
    run.lines.join('\n'),
  );
});

test('the script runs in one transaction: an error leaves nothing behind and names the problem', async (t) => {
  // A database that outlives the failing script: its connection string is caught by a component
  // that only remembers its param, and the scripts run in the same deployment afterwards.
  let connectionString = '';
  const remember = defineComponent({
    type: 'test.remember',
    version: 1,
    title: 'Remember',
    category: 'Test',
    params: z.object({ value: z.string() }),
    async run(_ctx, p) {
      connectionString = p.value;
      return {};
    },
  });
  const database = await runOnDocker({
    components: [...postgres.components, remember],
    nodes: [
      { id: 'db', type: 'postgres.database', params: { image: IMAGE } },
      { id: 'remember', type: 'test.remember', params: { value: '${output:db.connectionString}' } },
    ],
    edges: [{ from: 'db', to: 'remember' }],
  });
  t.teardown(database.cleanup);
  t.true(database.result.ok, JSON.stringify(database.result));
  const script = (id: string, sql: string) =>
    runOnDocker({
      in: database,
      components: plugin.components,
      nodes: [{ id, type: 'postgres.sql', params: { image: IMAGE, connectionString, sql } }],
    });

  const failed = await script(
    'bad',
    "create table t (v text); insert into t values ('x'); select * from nope;",
  );
  t.false(failed.result.ok);
  t.regex(JSON.stringify(failed.result), /relation \\"nope\\" does not exist/);
  const check = await script('check', "select count(*) as tables from pg_tables where tablename = 't';");
  t.true(check.result.ok, JSON.stringify(check.result));
  t.true(
    check.lines.some((l) => /tables\s*\n-+\s*\n\s*0\s*\n/.test(l)),
    `the table the failed script created is gone:\n${check.lines.join('\n')}`,
  );
});
