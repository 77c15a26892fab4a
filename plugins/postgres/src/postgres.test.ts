import 'reflect-metadata';
import { runOnDocker } from '@nullops/agent-docker';
import test from 'ava';
import plugin from './index.js';

// Needs a Docker engine and an image following the official postgres image's contract; CI builds
// nullops-test/postgres:15 offline (test/fixtures/build-test-images.sh).
const IMAGE = process.env.POSTGRES_TEST_IMAGE ?? 'nullops-test/postgres:15';

test('starts PostgreSQL for the deployment and outputs a connection string that works', async (t) => {
  const run = await runOnDocker({
    components: plugin.components,
    nodes: [
      { id: 'db', type: 'postgres.database', params: { image: IMAGE, database: 'shop', user: 'shop' } },
    ],
  });
  t.teardown(run.cleanup);
  t.true(run.result.ok, JSON.stringify(run.result));
  const check = await run.runtime.exec(
    run.deploymentId,
    'db',
    [
      'sh',
      '-c',
      'psql "postgres://shop:$POSTGRES_PASSWORD@127.0.0.1:5432/shop" -Atc "select current_database()"',
    ],
    10_000,
  );
  t.is(check.output.trim(), 'shop');
  const password = (
    await run.runtime.exec(run.deploymentId, 'db', ['printenv', 'POSTGRES_PASSWORD'], 10_000)
  ).output.trim();
  t.true(password.length >= 16, 'a generated password, not a default');
  t.false(run.lines.join('\n').includes(password), 'the password is never logged');
});
