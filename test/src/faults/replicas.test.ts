import type { ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { resolve } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { createSelfSignedIdentity } from '@nullops/kernel';
import test from 'ava';
import { registerLocalNode, waitNodeReady } from '../helpers/agent-process.js';
import { ApiClient } from '../helpers/api-client.js';
import { stop } from '../helpers/control-plane-process.js';
import { deploymentReaches } from '../helpers/deployment-state.js';
import { containersOf, docker, ensureTestImages, removeLabelled } from '../helpers/docker.js';
import { viaIngress } from '../helpers/ingress.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { type Replica, type ReplicaSet, replicaSet, watchUrls } from '../helpers/replica-set.js';
import { openEvents } from '../helpers/sse.js';
import { eventually } from '../helpers/time.js';
import { startVerdaccio } from '../helpers/verdaccio.js';
import { webProject } from '../helpers/web-project.js';

/**
 * Three control-plane processes on one PostgreSQL, with default replica settings (a heartbeat every
 * 2 s, dead after 8 s of silence), and three Docker agents whose links they share.
 */
const REPLICAS = 3;

let registry: TestRegistry;
let set: ReplicaSet;
let replicas: Replica[];
const agents: Awaited<ReturnType<typeof registerLocalNode>>['agent'][] = [];
const deploymentIds: string[] = [];
let admin: ApiClient;
let environment: { id: string; name: string };
let project: { id: string };

/** What a replica's relay listener answers a client with this certificate (or none). */
function relayListenerAnswer(
  url: string,
  client: { cert: string; key: string } | undefined,
  headers: Record<string, string>,
): Promise<{ status: number; body: string; thumbprint: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { rejectUnauthorized: false, headers, ...client }, (res) => {
      const thumbprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, thumbprint }));
    });
    req.once('error', reject);
    req.end();
  });
}

const hostOf = (name: string) => `web.${name}.qa.nullops.test`;
const steadyUrls = () => ['everywhere', 'steady-1', 'steady-2'].map(hostOf);

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
  return deploymentReaches(via(), id, 'running');
}

test.before(async () => {
  ensureTestImages();
  registry = await startRegistry();
  registry.pushWeb('team/web', 'v1', 'web on replicas');
  set = await replicaSet(REPLICAS);
  replicas = set.replicas;
  // All at once on an empty database: one migrates, the others wait for it.
  await Promise.all(replicas.map(set.launch));
  admin = await ApiClient.login(replicas[0]?.url as string, 'admin', set.adminPassword);
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
  await set?.close();
  for (const agent of agents) await agent.kill();
  await removeLabelled(docker, deploymentIds);
  await registry?.stop();
});

test.serial(
  'every node is linked by exactly one live replica; a session, a stream and a log work through any replica',
  async (t) => {
    const held = await set.leases();
    const nodes = (await admin.get('/api/nodes')).body.items as { id: string; status: string }[];
    t.is(nodes.length, 3);
    const live = await set.liveIds();
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

test.serial(
  'replicas relay to each other over mutual TLS: each pins the certificate the others said in the database, and only they get an answer',
  async (t) => {
    const rows = await set.liveRows();
    t.is(rows.length, REPLICAS);
    t.deepEqual(rows.map((r) => r.address).sort(), replicas.map((r) => r.relayAddress).sort());
    for (const row of rows) t.regex(row.thumbprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    t.is(new Set(rows.map((r) => r.thumbprint)).size, REPLICAS, 'a certificate of its own each');

    const row = rows[0] as (typeof rows)[number];
    // No client certificate, or one no replica has: refused, whatever the credentials.
    const stranger = await createSelfSignedIdentity({
      commonName: 'nullops-replica stranger',
      dnsName: 'nullops-replica',
      usages: ['clientAuth'],
      validDays: 1,
    });
    for (const client of [undefined, stranger]) {
      const answer = await relayListenerAnswer(`${row.address}/api/nodes`, client, admin.credentials());
      t.is(answer.status, 403);
      t.regex(answer.body, /only control-plane replicas relay requests here/);
      t.is(answer.thumbprint, row.thumbprint, 'the listener shows the certificate the database names');
    }

    // A log read relayed from a replica that does not hold the node: audited by the holder with the
    // client's own address (this one comes from 127.0.0.2), not the relaying replica's.
    const everywhere = deploymentIds[0] as string;
    const nodeId = (await admin.get(`/api/deployments/${everywhere}`)).body.nodeId;
    const holder = (await set.leases()).get(nodeId);
    const other = replicas.find((r) => r.relayAddress !== rows.find((x) => x.id === holder)?.address);
    const status = await new Promise<number>((ok, fail) =>
      httpRequest(
        `${other?.url}/api/deployments/${everywhere}/logs?service=web&follow=false&tail=5`,
        { localAddress: '127.0.0.2', headers: admin.credentials() },
        (res) => {
          res.resume();
          res.on('end', () => ok(res.statusCode ?? 0));
        },
      )
        .once('error', fail)
        .end(),
    );
    t.is(status, 200);
    const audited = await eventually('the relayed read audited', async () =>
      ((await admin.get('/api/audit?action=deployments.logs')).body.items as { ip: string }[]).find(
        (e) => e.ip === '127.0.0.2',
      ),
    );
    t.truthy(audited);
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
  t.true(took < 1000, `refused after ${took} ms`);
});

test.serial(
  'a plugin installed, reconfigured (its settings, a secret they name) and removed through one replica is followed by the others',
  async (t) => {
    const npm = await startVerdaccio();
    t.teardown(() => npm.stop());
    for (const fixture of ['shout', 'greeter']) await npm.publish(resolve('test/fixtures/plugins', fixture));
    const name = '@fixtures/nullops-greeter';
    const route = `/api/ext/${name}/greeting`;
    /** What each replica's copy of the plugin answers (its status where there is none). */
    const answers = () =>
      Promise.all(
        replicas.map(async (r) => {
          const res = await admin.at(r.url).get(route);
          return res.status === 200 ? res.body.greeting : res.status;
        }),
      );
    const everywhere = (what: string, expected: unknown) =>
      eventually(`${what} on every replica`, async () => {
        const seen = await answers();
        return seen.every((x) => x === expected) ? seen : undefined;
      });

    const [first, second, third] = replicas.map((r) => admin.at(r.url));
    const secret = await first?.expect(201, 'POST', '/api/secrets', { name: 'GREETING', value: 'hi' });
    await first?.expect(201, 'POST', '/api/plugins', {
      package: name,
      registry: { url: npm.url, token: npm.token },
      settings: { greeting: '${secret:GREETING}' },
    });
    t.deepEqual(
      await everywhere('installed', 'hi (greeter 1.0.0)'),
      Array(REPLICAS).fill('hi (greeter 1.0.0)'),
    );
    // The secret its settings name gets a new value: every replica's copy uses it.
    await third?.expect(200, 'PATCH', `/api/secrets/${secret.id}`, { value: 'good evening' });
    t.truthy(await everywhere('the new secret value', 'good evening (greeter 1.0.0)'));
    // Settings alone (the same release): the others apply them too.
    await second?.expect(200, 'PUT', `/api/plugins/${encodeURIComponent(name)}`, {
      settings: { greeting: 'good day' },
    });
    t.truthy(await everywhere('reconfigured', 'good day (greeter 1.0.0)'));
    await third?.expect(204, 'DELETE', `/api/plugins/${encodeURIComponent(name)}`);
    t.truthy(await everywhere('removed', 404));
  },
);

test.serial(
  'kill -9 of a replica mid-deploy: its nodes are re-homed within 15 s, the deployment finishes once, every URL keeps answering',
  async (t) => {
    const before = await Promise.all(['steady-1', 'steady-2'].map((name) => create(admin, name)));
    for (const d of before) await running(() => admin, d.id);
    const urls = watchUrls(set, steadyUrls);

    // Mid-deploy: created, and the replica holding its node's link killed before it runs.
    const mid = await create(admin, 'mid-deploy');
    const placed = await eventually(
      'placed on a node',
      async () => (await admin.get(`/api/deployments/${mid.id}`)).body.nodeId,
    );
    const holder = (await set.leases()).get(placed) as string;
    const victim = (await set.byId(holder)) as Replica;
    t.truthy(victim, `the replica holding node ${placed} is one of ours`);
    victim.stopping = true;
    victim.child?.kill('SIGKILL');
    await new Promise((r) => victim.child?.once('exit', r));
    const killed = Date.now();
    t.log(`killed ${victim.name}, which held the link of node ${placed}`);

    const survivors = set.up();
    const via = () => admin.at((survivors[0] as Replica).url);
    await eventually('every node held by a live replica again', async () => {
      const live = await set.liveIds();
      const held = await set.leases();
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
    await set.launch(victim);
    await eventually('all replicas live again', async () => (await set.liveIds()).size === REPLICAS);
  },
);

test.serial(
  'a rolling restart of all three, one at a time: no create fails, every URL answers throughout',
  async (t) => {
    const urls = watchUrls(set, steadyUrls);
    const created: { id: string }[] = [];
    for (const [i, replica] of replicas.entries()) {
      replica.stopping = true;
      await stop(replica.child as ChildProcess);
      // While it is down, deployments are created through another replica.
      const other = set.up()[0] as Replica;
      created.push(await create(admin.at(other.url), `rolling-${i + 1}`));
      await set.launch(replica);
      await eventually('all replicas live', async () => (await set.liveIds()).size === REPLICAS);
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
