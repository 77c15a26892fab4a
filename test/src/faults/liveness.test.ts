import test from 'ava';
import { docker, ensureTestImages } from '../helpers/docker.js';
import { viaIngress } from '../helpers/ingress.js';
import { NetnsHost } from '../helpers/netns.js';
import { type Stack, startStack } from '../helpers/stack.js';
import { eventually, scaled } from '../helpers/time.js';

/**
 * A peer that goes silent — a black-holed link (network namespace + iptables: sockets open, no
 * bytes) or a stopped process (SIGSTOP) — is noticed by liveness, not by TCP: the node goes
 * offline with its deployments, routes go, nothing is placed there; when it is back everything
 * converges with nothing lost or duplicated.
 */

const LIVENESS_MS = 3000;
/**
 * Detection comes from liveness — within its timeout plus one ping interval and some slack for a
 * busy machine — not from TCP, which would take minutes.
 */
const DETECT_BOUND_MS = LIVENESS_MS + LIVENESS_MS / 3 + scaled(5000);
const CONVERGE_BOUND_MS = scaled(30_000);

const pipeline = {
  nodes: [
    {
      id: 'web',
      type: 'container.service',
      params: { service: 'web', port: 80, healthCheck: { kind: 'http', path: '/' } },
    },
  ],
  edges: [],
};

async function stackOn(netns?: NetnsHost): Promise<Stack> {
  ensureTestImages();
  const liveness = { NULLOPS_AGENT_LIVENESS_TIMEOUT_MS: String(LIVENESS_MS) };
  const s = await startStack({
    prepare: (registry) => registry.pushWeb('team/web', 'v1', 'web through faults'),
    services: [{ name: 'web', image: 'team/web', tag: 'v1' }],
    env: { ...liveness, NULLOPS_AGENT_CONNECT_TIMEOUT_MS: '2000' },
    agent: { env: liveness, ...(netns ? { host: netns.ip, netns: netns.name } : {}) },
  });
  await s.savePipeline(pipeline);
  return s;
}

/** Blocks until the node has `status`; returns how long that took. */
async function nodeBecomes(s: Stack, status: string): Promise<number> {
  const started = Date.now();
  await eventually(
    `node ${status}`,
    async () => (await s.admin.get(`/api/nodes/${s.node.id}`)).body.status === status,
  );
  return Date.now() - started;
}

const labelled = (id: string) =>
  docker.listContainers({ all: true, filters: { label: [`dev.nullops.deployment=${id}`] } });

/** The fault, the checks while it lasts, the heal, and the checks after: shared by both faults. */
async function survives(
  t: import('ava').ExecutionContext,
  s: Stack,
  fault: { cut(): void; heal(): void; name: string },
) {
  const id = await s.deploy('survivor');
  await s.until(id, 'running');
  const host = s.host('web', 'survivor');
  t.is((await viaIngress(s.ingressPort, host)).status, 200);
  const before = (await labelled(id)).map((c) => c.Id).sort();

  fault.cut();
  const detectedMs = await nodeBecomes(s, 'offline');
  t.log(`${fault.name}: node offline after ${detectedMs} ms (liveness timeout ${LIVENESS_MS} ms)`);
  t.true(detectedMs <= DETECT_BOUND_MS, `detected in ${detectedMs} ms, bound ${DETECT_BOUND_MS} ms`);
  const node = (await s.admin.get(`/api/nodes/${s.node.id}`)).body;
  t.regex(node.statusMessage, /went silent/);
  t.is((await s.get(id)).state, 'offline');
  t.is((await viaIngress(s.ingressPort, host)).status, 404, 'its routes are gone');
  const refused = await s.admin.request('POST', `/api/projects/${s.project.id}/deployments`, {
    environmentId: s.env.id,
    name: 'nowhere',
  });
  t.is(refused.status, 409, 'nothing is placed on a silent node');
  t.regex(refused.body.error.message, /no online node/);

  const healedAt = Date.now();
  fault.heal();
  await s.until(id, 'running');
  await eventually(
    'the URL answering again',
    async () => (await viaIngress(s.ingressPort, host)).status === 200,
  );
  const convergedMs = Date.now() - healedAt;
  t.log(`${fault.name}: running and answering ${convergedMs} ms after the heal`);
  t.true(convergedMs <= CONVERGE_BOUND_MS, `converged in ${convergedMs} ms, bound ${CONVERGE_BOUND_MS} ms`);
  t.deepEqual(
    (await labelled(id)).map((c) => c.Id).sort(),
    before,
    'the same containers: nothing lost, nothing duplicated',
  );
  t.deepEqual(
    (await s.cp.database.db('deployments').whereNot('state', 'deleted')).map((d: { id: string }) => d.id),
    [id],
    'the refused create left no row',
  );
}

test.serial(
  'a silent partition (black-holed link) is detected by liveness and heals without loss',
  async (t) => {
    const netns = NetnsHost.create();
    t.teardown(() => netns.remove());
    const s = await stackOn(netns);
    t.teardown(() => s.stop());
    // A slow link is not a partition: at 64 kbit/s the node stays online. Proof: a heartbeat sent
    // after twice the liveness timeout came over the slow link, and the node never went offline.
    const wentOffline = () => s.cp.logs.filter((l) => /node status/.test(l) && /"offline"/.test(l)).length;
    const offlineBefore = wentOffline();
    netns.throttle(64);
    const throttledAt = Date.now();
    await eventually('a heartbeat over the slow link, two liveness timeouts later', async () => {
      const node = (await s.admin.get(`/api/nodes/${s.node.id}`)).body;
      return Date.parse(node.lastHeartbeatAt) > throttledAt + LIVENESS_MS * 2;
    });
    t.is(
      (await s.admin.get(`/api/nodes/${s.node.id}`)).body.status,
      'online',
      'a slow link does not flap the node',
    );
    t.is(wentOffline(), offlineBefore, 'it never went offline meanwhile');
    netns.throttle(0);
    await survives(t, s, { name: 'partition', cut: () => netns.partition(), heal: () => netns.heal() });
  },
);

test.serial(
  'a stopped agent (SIGSTOP) is detected by liveness; SIGCONT brings everything back',
  async (t) => {
    const s = await stackOn();
    t.teardown(() => s.stop());
    await survives(t, s, {
      name: 'SIGSTOP',
      cut: () => s.agent.signal('SIGSTOP'),
      heal: () => s.agent.signal('SIGCONT'),
    });
  },
);
