import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { freePort, registerLocalNode, tempDir, waitNodeReady } from '../helpers/agent-process.js';
import { ApiClient } from '../helpers/api-client.js';
import { start, stop } from '../helpers/control-plane-process.js';
import { containersOf, docker, ensureTestImages, removeLabelled } from '../helpers/docker.js';
import { viaIngress } from '../helpers/ingress.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { openEvents } from '../helpers/sse.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { eventually } from '../helpers/time.js';
import { webProject } from '../helpers/web-project.js';

/**
 * Three control-plane processes on one PostgreSQL, with default replica settings (a heartbeat every
 * 2 s, dead after 8 s of silence), and three Docker agents whose links they share.
 */
const REPLICAS = 3;
const PASSWORD = `admin-${randomBytes(8).toString('hex')}`;

interface Replica {
  name: string;
  env: Record<string, string>;
  url: string;
  ingressPort: number;
  child?: ChildProcess;
  /** Told to stop: a load balancer in front takes it out of rotation now. */
  stopping?: boolean;
  output?: () => string;
}

let registry: TestRegistry;
let database: TestDatabase;
let dataDir: string;
const replicas: Replica[] = [];
const agents: Awaited<ReturnType<typeof registerLocalNode>>['agent'][] = [];
const deploymentIds: string[] = [];
let admin: ApiClient;
let environment: { id: string; name: string };
let project: { id: string };

const up = () =>
  replicas.filter((r) => !r.stopping && r.child && r.child.exitCode === null && r.child.signalCode === null);
const hostOf = (name: string) => `web.${name}.qa.nullops.test`;

async function launch(replica: Replica): Promise<void> {
  const started = await start(replica.env);
  replica.child = started.child;
  replica.output = started.output;
  replica.stopping = false;
}

/** Who holds each node's link, from the database: node id → replica id. */
async function leases(): Promise<Map<string, string>> {
  const rows = await database.db('node_link_leases').where('expiresAt', '>', database.db.fn.now());
  return new Map(rows.map((r: { nodeId: string; replicaId: string }) => [r.nodeId, r.replicaId]));
}

async function liveReplicaIds(): Promise<Set<string>> {
  const rows = await database
    .db('control_plane_replicas')
    .where('heartbeatAt', '>', database.db.raw("now() - interval '8 seconds'"));
  return new Set(rows.map((r: { id: string }) => r.id));
}

/** Creates a deployment through `via` and returns it (not waiting for it to run). */
async function create(via: ApiClient, name: string) {
  const d = await via.expect(201, 'POST', `/api/projects/${project.id}/deployments`, {
    environmentId: environment.id,
    name,
  });
  deploymentIds.push(d.id);
  return d as { id: string; name: string };
}

async function running(via: () => ApiClient, id: string) {
  return eventually(`deployment ${id} running`, async () => {
    const d = (await via().get(`/api/deployments/${id}`)).body;
    if (d.state === 'failed') throw new Error(`failed: ${JSON.stringify(d.error)}`);
    return d.state === 'running' ? d : undefined;
  });
}

/**
 * Asks for every URL through every replica that is up, over and over, until stopped: what did not
 * answer 200 is counted (with a replica going down in the middle of a request forgiven: a load
 * balancer in front retries those).
 */
function watchUrls(names: () => string[]) {
  let stopped = false;
  let asked = 0;
  const failures: string[] = [];
  const loop = (async () => {
    while (!stopped) {
      for (const replica of up())
        for (const name of names()) {
          const res = await viaIngress(replica.ingressPort, hostOf(name)).catch((err: Error) => ({
            status: 0,
            body: err.message,
          }));
          asked++;
          if (res.status !== 200 && up().includes(replica))
            failures.push(`${name} via ${replica.name}: ${res.status} ${res.body.slice(0, 120)}`);
        }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return { asked, failures };
    },
  };
}

test.before(async () => {
  ensureTestImages();
  registry = await startRegistry();
  registry.pushWeb('team/web', 'v1', 'web on replicas');
  database = await createTestDatabase({ migrate: false });
  dataDir = await tempDir('nullops-replicas-');
  const shared = {
    DATABASE_URL: database.url,
    NULLOPS_SECRET_KEY: randomBytes(32).toString('base64'),
    NULLOPS_ADMIN_PASSWORD: PASSWORD,
    NULLOPS_EMBEDDED_AGENT: 'off',
    NULLOPS_LISTEN_HOST: '127.0.0.1',
    NULLOPS_AGENT_RECONNECT_BASE_MS: '100',
    NULLOPS_AGENT_RECONNECT_MAX_MS: '500',
  };
  for (let i = 0; i < REPLICAS; i++) {
    const port = await freePort();
    const ingressPort = await freePort();
    replicas.push({
      name: `replica-${i + 1}`,
      url: `http://127.0.0.1:${port}`,
      ingressPort,
      env: {
        ...shared,
        PORT: String(port),
        NULLOPS_INGRESS_PORT: String(ingressPort),
        NULLOPS_DATA_DIR: join(dataDir, `replica-${i + 1}`),
      },
    });
  }
  // All at once on an empty database: one migrates, the others wait for it.
  await Promise.all(replicas.map(launch));
  admin = await ApiClient.login(replicas[0]?.url as string, 'admin', PASSWORD);
  environment = await admin.expect(201, 'POST', '/api/environments', {
    name: 'qa',
    baseDomain: 'nullops.test',
    runtime: 'docker',
    defaultTtlSeconds: 3600,
  });
  for (let i = 0; i < 3; i++) {
    const { node, agent } = await registerLocalNode(admin, environment.id, `node-${i + 1}`);
    agents.push(agent);
    await agent.start();
    await waitNodeReady(admin, node.id);
  }
  project = await webProject(admin, registry.url, { name: 'ha', cpuMillicores: 50, memoryMb: 128 });
});

test.after.always(async () => {
  for (const r of replicas) if (r.child && r.child.exitCode === null) await stop(r.child);
  for (const agent of agents) await agent.kill();
  await removeLabelled(docker, deploymentIds);
  await database?.drop();
  await registry?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

test.serial(
  'every node is linked by exactly one live replica; a session, a stream and a log work through any replica',
  async (t) => {
    const held = await leases();
    const nodes = (await admin.get('/api/nodes')).body.items as { id: string; status: string }[];
    t.is(nodes.length, 3);
    const live = await liveReplicaIds();
    t.is(live.size, REPLICAS);
    for (const node of nodes) {
      t.is(node.status, 'online');
      t.true(live.has(held.get(node.id) as string), `node ${node.id} is held by a live replica`);
    }

    // Created through one replica, watched through another, its logs read through a third: whichever
    // holds its node's link runs it, and every replica sees and serves it.
    const [first, second, third] = replicas as [Replica, Replica, Replica];
    const watch = await openEvents(admin.at(second.url), '/api/live/deployments');
    t.teardown(() => watch.close());
    const d = await create(admin.at(first.url), 'everywhere');
    await running(() => admin.at(third.url), d.id);
    await eventually('another replica’s stream saw it run', async () =>
      watch.events.some((e) => e.data?.deploymentId === d.id && e.data?.state === 'running'),
    );
    for (const replica of replicas) {
      const res = await eventually(`the URL through ${replica.name}`, async () => {
        const r = await viaIngress(replica.ingressPort, hostOf('everywhere'));
        return r.status === 200 ? r : undefined;
      });
      t.regex(res.body, /web on replicas/);
    }
    // Two of the three relay the log stream from the replica holding the node's link.
    for (const replica of replicas) {
      const logs = await openEvents(
        admin.at(replica.url),
        `/api/deployments/${d.id}/logs?service=web&follow=false&tail=50`,
      );
      await logs.ended;
      t.true(
        logs.events.some((e) => e.event === 'end'),
        `logs through ${replica.name}`,
      );
    }
  },
);

test.serial('a token revoked through one replica is refused by the others within a second', async (t) => {
  const [first, , third] = replicas as [Replica, Replica, Replica];
  const token = await admin.expect(201, 'POST', '/api/auth/tokens', { name: 'ha', expiresInDays: 1 });
  const elsewhere = ApiClient.withToken(third.url, token.token);
  t.is((await elsewhere.get('/api/deployments')).status, 200);
  await admin.at(first.url).expect(204, 'DELETE', `/api/auth/tokens/${token.id}`);
  const revoked = Date.now();
  await eventually(
    'refused on another replica',
    async () => (await elsewhere.get('/api/deployments')).status === 401,
  );
  const took = Date.now() - revoked;
  t.log(`revoked on ${first.name} → refused on ${third.name}: ${took} ms`);
  t.true(took < 1500, `refused after ${took} ms`);
});

test.serial(
  'kill -9 of a replica mid-deploy: its nodes are re-homed within 15 s, the deployment finishes once, every URL keeps answering',
  async (t) => {
    const before = await Promise.all(['steady-1', 'steady-2'].map((name) => create(admin, name)));
    for (const d of before) await running(() => admin, d.id);
    const urls = watchUrls(() => ['everywhere', 'steady-1', 'steady-2']);

    // Mid-deploy: created, and the replica holding its node's link killed before it runs.
    const mid = await create(admin, 'mid-deploy');
    const placed = await eventually(
      'placed on a node',
      async () => (await admin.get(`/api/deployments/${mid.id}`)).body.nodeId,
    );
    const holder = (await leases()).get(placed);
    // Replicas say where they are reached: their API's address.
    const row = await database.db('control_plane_replicas').where({ id: holder }).first();
    const victim = replicas.find((r) => r.url === row?.address) as Replica;
    t.truthy(victim, `the replica holding node ${placed} is one of ours`);
    victim.stopping = true;
    victim.child?.kill('SIGKILL');
    await new Promise((r) => victim.child?.once('exit', r));
    const killed = Date.now();
    t.log(`killed ${victim.name}, which held the link of node ${placed}`);

    const survivors = up();
    const via = () => admin.at((survivors[0] as Replica).url);
    await eventually('every node held by a live replica again', async () => {
      const live = await liveReplicaIds();
      const held = await leases();
      const nodes = (await via().get('/api/nodes')).body.items as { id: string; status: string }[];
      return nodes.every(
        (n) => n.status === 'online' && live.has(held.get(n.id) as string) && held.get(n.id) !== holder,
      );
    });
    const rehomed = Date.now() - killed;
    t.log(`nodes of the killed replica re-homed in ${rehomed} ms`);
    t.true(rehomed < 15_000, `re-homed in ${rehomed} ms`);

    const done = await running(via, mid.id);
    t.is(done.id, mid.id);
    const { asked, failures } = await urls.stop();
    t.log(`URLs asked ${asked} times through the surviving replicas during the re-home`);
    t.deepEqual(failures, [], 'no URL stopped answering through the surviving replicas');
    // Nothing lost, nothing twice: each deployment once, each with its one container.
    const names = ((await via().get('/api/deployments')).body.items as { name: string }[])
      .map((d) => d.name)
      .sort();
    t.deepEqual(names, ['everywhere', 'mid-deploy', 'steady-1', 'steady-2']);
    for (const id of [mid.id, ...before.map((d) => d.id)]) t.is((await containersOf(id)).length, 1);

    // It comes back (as a new replica) and takes its share again.
    await launch(victim);
    await eventually('all replicas live again', async () => (await liveReplicaIds()).size === REPLICAS);
  },
);

test.serial(
  'a rolling restart of all three, one at a time: no create fails, every URL answers throughout',
  async (t) => {
    const urls = watchUrls(() => ['everywhere', 'steady-1', 'steady-2']);
    const created: { id: string }[] = [];
    for (const [i, replica] of replicas.entries()) {
      replica.stopping = true;
      await stop(replica.child as ChildProcess);
      // While it is down, deployments are created through another replica.
      const other = up()[0] as Replica;
      created.push(await create(admin.at(other.url), `rolling-${i + 1}`));
      await launch(replica);
      await eventually('all replicas live', async () => (await liveReplicaIds()).size === REPLICAS).catch(
        async (err) => {
          t.log(await database.db('control_plane_replicas').select('*'), replica.output?.());
          throw err;
        },
      );
    }
    for (const d of created) await running(() => admin, d.id);
    const { asked, failures } = await urls.stop();
    t.log(`URLs asked ${asked} times during the rolling restart`);
    t.deepEqual(failures, []);
    const nodes = (await admin.get('/api/nodes')).body.items as { status: string }[];
    t.deepEqual(
      nodes.map((n) => n.status),
      ['online', 'online', 'online'],
    );
  },
);
