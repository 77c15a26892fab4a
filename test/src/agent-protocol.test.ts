import { readFile, rm } from 'node:fs/promises';
import { DockerRuntime } from '@nullops/agent-docker';
import { AgentIdentity, createLogger, loadAgentConfig, startAgentHost } from '@nullops/agent-host';
import { dialAgent } from '@nullops/core';
import { watchLiveness } from '@nullops/kernel';
import test from 'ava';
import { WebSocket, WebSocketServer } from 'ws';
import { AgentProcess, freePort, tempDir } from './helpers/agent-process.js';
import { ensureTestImages, testOwner } from './helpers/docker.js';
import { startTestControlPlane } from './helpers/test-control-plane.js';
import { eventually } from './helpers/time.js';

test.before(() => ensureTestImages());

const TOKEN = 'noa_protocol-fuzz-token-0123456789';

/** A raw client of the agent's WebSocket, collecting every message it receives. */
async function client(port: number) {
  // Authenticated as the control plane is: a proof of the token bound to this TLS connection.
  const { ws } = await dialAgent({
    host: '127.0.0.1',
    port,
    token: TOKEN,
    pinned: null,
    owner: testOwner(),
    timeoutMs: 5000,
    maxPayload: 16 * 1024 * 1024,
  });
  const received: any[] = [];
  ws.on('message', (data) => received.push(JSON.parse(String(data))));
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  return { ws, received, closed };
}

const rssMb = async (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;

test('protocol fuzz: malformed JSON, unknown types, oversize frames and floods leave the agent up and bounded', async (t) => {
  const dataDir = await tempDir('nullops-fuzz-');
  const port = await freePort();
  const agent = new AgentProcess({
    port,
    dataDir,
    token: TOKEN,
    env: { NULLOPS_AGENT_MAX_FRAME_BYTES: '65536', NULLOPS_AGENT_HEARTBEAT_SECONDS: '60' },
  });
  await agent.start();
  t.teardown(async () => {
    await agent.kill();
    await rm(dataDir, { recursive: true, force: true });
  });
  const c = await client(port);
  await eventually('hello', async () => c.received.find((m) => m.event === 'hello'));

  c.ws.send('this is not json');
  c.ws.send(JSON.stringify({ type: 'nope' }));
  c.ws.send(JSON.stringify({ type: 'request', id: 'a', method: 'launch-missiles', params: {} }));
  c.ws.send(
    JSON.stringify({ type: 'request', id: 'b', method: 'sync', params: { deployments: [{ id: 'x' }] } }),
  );
  c.ws.send(Buffer.from([0, 1, 2, 3]));
  c.ws.send(JSON.stringify({ type: 'request', id: 'c', method: 'ping', params: {} }));
  const pong = await eventually('a pong after the garbage', async () => c.received.find((m) => m.id === 'c'));
  t.true(pong.ok);
  t.is(
    c.received.filter((m) => m.event === 'protocol.error').length,
    3,
    'malformed JSON, unknown type and binary frame each answered',
  );
  t.like(
    c.received.find((m) => m.id === 'a'),
    { ok: false, error: { code: 'unknown_method' } },
  );
  t.like(
    c.received.find((m) => m.id === 'b'),
    { ok: false, error: { code: 'invalid_params' } },
  );

  // A flood: the agent answers what it can, refuses what would pile up, and its memory stays bounded.
  const before = await rssMb(agent.pid as number);
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 1000; i++) {
      c.ws.send(
        i % 2
          ? '{"broken": '
          : JSON.stringify({ type: 'request', id: `f${round}-${i}`, method: 'ping', params: {} }),
      );
    }
    // Paced by the socket: the next round once this one has left.
    await eventually('the round sent', async () => c.ws.bufferedAmount === 0);
  }
  c.ws.send(JSON.stringify({ type: 'request', id: 'after-flood', method: 'ping', params: {} }));
  await eventually('an answer after the flood', async () => c.received.find((m) => m.id === 'after-flood'));
  const answers = c.received.filter((m) => typeof m.id === 'string' && m.id.startsWith('f'));
  const busy = answers.filter((m) => m.ok === false && m.error?.code === 'busy');
  t.log(`${answers.length} flood pings answered, ${busy.length} of them "busy"`);
  t.true(busy.length > 0, 'requests beyond the in-flight limit are refused as busy, not queued');
  t.true(
    answers.some((m) => m.ok === true),
    'and the others are served',
  );
  t.true(answers.every((m) => m.ok === true || m.error?.code === 'busy'));
  const after = await rssMb(agent.pid as number);
  t.log(`agent RSS ${before.toFixed(1)} MiB before, ${after.toFixed(1)} MiB after 20,000 flood messages`);
  t.true(after - before < 64, `RSS grew ${Math.round(after - before)} MiB during the flood`);

  // A frame over the limit closes that connection (1009) and nothing else.
  c.ws.send('x'.repeat(70_000));
  t.is(await c.closed, 1009);
  const again = await client(port);
  await eventually('hello on a new connection', async () => again.received.find((m) => m.event === 'hello'));
  again.ws.close();
  t.is(agent.logged(/agent is listening/).length, 1, 'the agent process never restarted');
});

test('an agent speaking another protocol version is marked incompatible', async (t) => {
  const cp = await startTestControlPlane({
    NULLOPS_AGENT_RECONNECT_BASE_MS: '100',
    NULLOPS_AGENT_RECONNECT_MAX_MS: '400',
  });
  const env = await cp.admin.expect(201, 'POST', '/api/environments', {
    name: 'qa',
    baseDomain: 'qa.test',
    runtime: 'docker',
    defaultTtlSeconds: 600,
  });
  const port = await freePort();
  const node = await cp.admin.expect(201, 'POST', '/api/nodes', {
    environmentId: env.id,
    name: 'old',
    host: '127.0.0.1',
    port,
  });
  const dataDir = await tempDir('nullops-old-agent-');
  const config = loadAgentConfig({
    NULLOPS_AGENT_TOKEN: node.token,
    NULLOPS_AGENT_PORT: String(port),
    NULLOPS_AGENT_LISTEN_HOST: '127.0.0.1',
    NULLOPS_AGENT_DATA_DIR: dataDir,
  });
  const identity = new AgentIdentity();
  const agent = await startAgentHost({
    config,
    identity,
    runtime: new DockerRuntime({ owner: () => identity.require() }),
    logger: createLogger({ level: 'silent' }),
    agentVersion: '0.0.1',
    protocolVersion: 999,
    bundledPlugins: [],
  });
  t.teardown(async () => {
    await agent.close();
    await cp.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  const incompatible = await eventually('incompatible', async () => {
    const n = (await cp.admin.get(`/api/nodes/${node.id}`)).body;
    return n.status === 'incompatible' ? n : undefined;
  });
  t.regex(incompatible.statusMessage, /protocol 999.*upgrade them together/);
  t.is(incompatible.agentVersion, '0.0.1');
});

test('liveness: a peer that talks is not pinged, a quiet one is pinged and kept, a silent one is dropped', async (t) => {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  t.teardown(() => server.close());
  await new Promise((ok) => server.once('listening', ok));
  const silences: number[] = [];
  const serverSide = new Promise<WebSocket>((resolve) =>
    server.once('connection', (ws) => {
      watchLiveness(ws, { intervalMs: 1000, timeoutMs: 3000, onSilent: (ms) => silences.push(ms) });
      resolve(ws);
    }),
  );
  const peer = new WebSocket(`ws://127.0.0.1:${(server.address() as { port: number }).port}`);
  await new Promise((ok) => peer.once('open', ok));
  let pings = 0;
  peer.on('ping', () => pings++);
  const closed = new Promise((ok) => peer.once('close', ok));
  await serverSide;

  // Talking: a message every 50 ms for 50 messages (two and a half intervals).
  for (let i = 0; i < 50; i++) {
    peer.send('beat');
    await new Promise((ok) => setTimeout(ok, 50));
  }
  t.is(pings, 0, 'a peer heard from is not pinged');

  // Quiet but there: pinged, answers with pongs, kept.
  await eventually('pings to a quiet peer', async () => pings >= 3);
  t.is(peer.readyState, WebSocket.OPEN, 'a peer answering pings is kept');
  t.deepEqual(silences, []);

  // Silent: it reads nothing more (a stopped process), so no pong comes back.
  (peer as unknown as { _socket: { pause(): void } })._socket.pause();
  await eventually('the silent peer dropped', async () => silences.length === 1);
  t.true((silences[0] as number) >= 3000, `dropped after ${silences[0]} ms of silence`);
  (peer as unknown as { _socket: { resume(): void } })._socket.resume();
  await closed;
});
