import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { connect } from 'node:net';
import test from 'ava';
import { freePort } from './helpers/agent-process.js';
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

test("with an agent of its own configured, npm start runs no local agent: node `local` is that agent's", async (t) => {
  const { dataDir, env } = await ownEnvironment('nullops-configured-');
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const agentPort = await freePort();
  const started = await start({
    ...env,
    NULLOPS_ADMIN_PASSWORD: 'configured-agent-admin',
    NULLOPS_AGENT_ADDRESS: `127.0.0.1:${agentPort}`,
    NULLOPS_AGENT_TOKEN: 'a'.repeat(40),
  });
  t.teardown(() => stop(started.child));
  await eventually('the log line', async () => started.output().includes('not starting the local agent'));
  const admin = await ApiClient.login(`http://127.0.0.1:${env.PORT}`, 'admin', 'configured-agent-admin');
  const nodes = (await admin.get('/api/nodes')).body.items;
  t.is(nodes.length, 1);
  t.like(nodes[0], { name: 'local', host: '127.0.0.1', port: agentPort });
  t.false(await listening(Number(env.NULLOPS_EMBEDDED_AGENT_PORT)), 'no agent at the embedded port');
});

test('an agent address without its token stops start-up with a message naming the missing one', async (t) => {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH, NULLOPS_AGENT_ADDRESS: 'agent.internal:5001' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((ok) => child.once('exit', ok));
  t.is(code, 2);
  t.regex(err, /NULLOPS_AGENT_TOKEN: required with NULLOPS_AGENT_ADDRESS/);
});

/** Whether something accepts connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      ok(true);
    });
    socket.once('error', () => ok(false));
  });
}
