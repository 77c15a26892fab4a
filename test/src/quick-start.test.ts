import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import test from 'ava';
import { ApiClient } from './helpers/api-client.js';
import { MAIN, ownEnvironment, start, stop } from './helpers/control-plane-process.js';
import { eventually } from './helpers/time.js';

test('npm start: embedded PostgreSQL, printed admin login, /healthz, data survives a restart', async (t) => {
  const { dataDir, env } = await ownEnvironment('nullops-start-');
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const url = `http://127.0.0.1:${env.PORT}`;

  const first = await start(env);
  const password = /Sign in as: admin \/ (\S+)/.exec(first.output())?.[1];
  t.truthy(password, 'the first start prints the admin login');
  t.deepEqual(await (await fetch(`${url}/healthz`)).json(), { status: 'ok' });
  t.deepEqual(await (await fetch(`${url}/readyz`)).json(), { status: 'ready' });
  const admin = await ApiClient.login(url, 'admin', password as string);
  await admin.expect(201, 'POST', '/api/teams', { name: 'survives-restart' });
  // A Docker engine is there, so a local agent runs too: environment `local`, node `local`, online.
  const local = await eventually('the local node online', async () => {
    const nodes = (await admin.get('/api/nodes')).body.items;
    return nodes.length === 1 && nodes[0].status === 'online' ? nodes[0] : undefined;
  });
  t.like(local, { name: 'local', host: '127.0.0.1', port: Number(env.NULLOPS_EMBEDDED_AGENT_PORT) });
  t.is((await admin.get('/api/environments')).body.items[0].baseDomain, 'localhost');
  t.is(await stop(first.child), 0, 'SIGTERM shuts down cleanly');

  const second = await start(env);
  t.teardown(() => stop(second.child));
  t.false(second.output().includes('Sign in as'), 'the password is printed only once');
  // Later starts also say plainly that NullOps is ready (the line follows the "listening" log line).
  await eventually('the ready line', async () =>
    /\n {2}NullOps is ready at http:\/\/localhost:\d+ \(sign in with your account\)\n/.test(second.output()),
  );
  const again = await ApiClient.login(url, 'admin', password as string);
  const teams = (await again.get('/api/teams')).body.items.map((x: { name: string }) => x.name);
  t.deepEqual(teams, ['survives-restart']);
  const node = await eventually('the same local node online again', async () => {
    const nodes = (await again.get('/api/nodes')).body.items;
    return nodes.length === 1 && nodes[0].status === 'online' ? nodes[0] : undefined;
  });
  t.is(node.id, local.id);
  t.is(node.thumbprint, local.thumbprint, 'the agent kept its certificate');
});

test('a bad environment variable stops start-up with a message naming it', async (t) => {
  const child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH,
      PORT: 'eighty',
      NULLOPS_SECRET_KEY: 'top-secret-value',
      NULLOPS_COOKIE_SECURE: 'maybe',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((ok) => child.once('exit', ok));
  t.is(code, 2);
  t.regex(err, /PORT: must be a whole number \(got "eighty"\)/);
  t.regex(err, /NULLOPS_COOKIE_SECURE: must be one of auto, true, false/);
  t.false(err.includes('top-secret-value'));
});
