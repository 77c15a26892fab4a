import 'reflect-metadata';
import { runOnDocker } from '@nullops/agent-docker';
import postgres from '@nullops/plugin-postgres';
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
  const run = await runOnDocker(pipeline('create table t (v text); select * from nope;'));
  t.teardown(run.cleanup);
  t.false(run.result.ok);
  t.regex(JSON.stringify(run.result), /relation \\"nope\\" does not exist/);
});
