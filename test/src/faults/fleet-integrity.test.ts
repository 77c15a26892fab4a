import { cp, rm } from 'node:fs/promises';
import test, { type ExecutionContext } from 'ava';
import { AgentProcess, registerLocalNode, tempDir } from '../helpers/agent-process.js';
import { ApiClient } from '../helpers/api-client.js';
import { ownEnvironment, start, stop } from '../helpers/control-plane-process.js';
import { containersOf, crashInside, docker, ensureTestImages } from '../helpers/docker.js';
import { DockerSocketRelay } from '../helpers/docker-socket.js';
import { viaIngress } from '../helpers/ingress.js';
import { startRegistry } from '../helpers/registry.js';
import { type Stack, startStack } from '../helpers/stack.js';
import { eventually } from '../helpers/time.js';
import { WEB_PIPELINE, webProject } from '../helpers/web-project.js';

/**
 * Fleet integrity under the faults a shared machine brings: installations and agents sharing one
 * Docker engine, resources changed behind NullOps' back, the engine going away, a deployment too
 * large for its node, a compose file that expands without end, a reader holding every log stream.
 * Each asserts what users see, that nothing is lost and nothing is left behind.
 */

test.before(() => ensureTestImages());

async function webStack(t: ExecutionContext, agent?: Parameters<typeof startStack>[0]['agent']) {
  const s = await startStack({
    prepare: (registry) => registry.pushWeb('team/web', 'v1', 'web of the fleet'),
    services: [{ name: 'web', image: 'team/web', tag: 'v1' }],
    ...(agent ? { agent } : {}),
  });
  t.teardown(() => s.stop());
  await s.savePipeline(WEB_PIPELINE);
  return s;
}

const answers = (s: Stack, host: string) =>
  eventually(`${host} answering`, async () => (await viaIngress(s.ingressPort, host)).status === 200);

test.serial(
  'two installations (two npm starts) on one Docker engine keep every deployment of both through restarts',
  async (t) => {
    const registry = await startRegistry();
    t.teardown(() => registry.stop());
    registry.pushWeb('team/web', 'v1', 'one of two installations');
    const installations: {
      env: Record<string, string>;
      dataDir: string;
      child?: Awaited<ReturnType<typeof start>>['child'];
      admin?: ApiClient;
      ids: string[];
    }[] = [];
    for (const name of ['first', 'second']) {
      const { dataDir, env } = await ownEnvironment(`nullops-${name}-`);
      const started = await start(env);
      const password = /Sign in as: admin \/ (\S+)/.exec(started.output())?.[1] as string;
      const admin = await ApiClient.login(`http://127.0.0.1:${env.PORT}`, 'admin', password);
      installations.push({ env, dataDir, child: started.child, admin, ids: [] });
    }
    t.teardown(async () => {
      for (const i of installations) {
        if (i.child) await stop(i.child);
        await rm(i.dataDir, { recursive: true, force: true });
      }
    });
    for (const [n, i] of installations.entries()) {
      const admin = i.admin as ApiClient;
      const node = await eventually('the local node online', async () => {
        const [local] = (await admin.get('/api/nodes')).body.items;
        return local?.status === 'online' ? local : undefined;
      });
      const project = await webProject(admin, registry.url, {
        name: 'shared-engine',
        cpuMillicores: 100,
        memoryMb: 256,
      });
      for (const name of [`a${n}`, `b${n}`]) {
        const created = await admin.expect(201, 'POST', `/api/projects/${project.id}/deployments`, {
          environmentId: node.environmentId,
          name,
        });
        i.ids.push(created.id);
      }
    }
    const running = (i: (typeof installations)[number]) =>
      Promise.all(
        i.ids.map((id) =>
          eventually(`deployment ${id} running`, async () => {
            const d = (await (i.admin as ApiClient).get(`/api/deployments/${id}`)).body;
            return d.state === 'running' ? d : undefined;
          }),
        ),
      );
    for (const i of installations) await running(i);
    const containersBefore = new Map<string, string[]>();
    for (const i of installations)
      for (const id of i.ids) containersBefore.set(id, (await containersOf(id)).map((c) => c.Id).sort());

    // Both restart, one after the other: each agent reconciles the engine it shares with the other.
    for (const i of installations) {
      await stop(i.child as NonNullable<typeof i.child>);
      i.child = (await start(i.env)).child;
    }
    for (const i of installations) {
      const node = await eventually('the local node online again', async () => {
        const [local] = (await (i.admin as ApiClient).get('/api/nodes')).body.items;
        return local?.status === 'online' ? local : undefined;
      });
      t.truthy(node);
      await running(i);
      for (const [n, id] of i.ids.entries()) {
        const containers = (await containersOf(id)).map((c) => c.Id).sort();
        t.deepEqual(containers, containersBefore.get(id), 'the same container: never removed by the other');
        const name = (await (i.admin as ApiClient).get(`/api/deployments/${id}`)).body.name;
        const answer = await viaIngress(Number(i.env.NULLOPS_INGRESS_PORT), `web.${name}.local.localhost`);
        t.is(answer.status, 200, `${name} answers (${n})`);
      }
    }
  },
);

test.serial(
  'a second agent process with the same node’s identity refuses to start, and says why',
  async (t) => {
    const s = await webStack(t);
    const id = await s.deploy('claimed');
    await s.until(id, 'running');
    // A copy of the running agent's data directory: the same node, the same installation.
    const copy = await tempDir('nullops-agent-copy-');
    t.teardown(() => rm(copy, { recursive: true, force: true }));
    await cp(s.agent.options.dataDir, copy, { recursive: true });
    const twin = new AgentProcess({ ...s.agent.options, dataDir: copy, port: s.agent.options.port + 1 });
    const refused = await t.throwsAsync(() => twin.start());
    t.regex(refused?.message ?? '', /agent exited \(1\)/);
    t.regex(twin.stderr + JSON.stringify(twin.lines), /another agent process holds the resources of node/);
    t.is((await s.get(id)).state, 'running', 'the first agent and its deployment are untouched');
    t.is((await containersOf(id)).length, 1);
  },
);

test.serial(
  'a service removed or stopped behind NullOps’ back answers again within seconds, with the same data',
  async (t) => {
    const s = await webStack(t);
    const id = await s.deploy('resilient');
    await s.until(id, 'running');
    const host = s.host('web', 'resilient');
    await answers(s, host);

    const [removed] = await containersOf(id);
    const removedAt = Date.now();
    await docker.getContainer(removed?.Id as string).remove({ force: true });
    await answers(s, host);
    t.log(`docker rm -f → URL answering again: ${Date.now() - removedAt} ms`);

    const [stopped] = await containersOf(id);
    const stoppedAt = Date.now();
    await docker.getContainer(stopped?.Id as string).stop({ t: 1 });
    await eventually('running again', async () => (await containersOf(id))[0]?.State === 'running');
    await answers(s, host);
    t.log(`docker stop → URL answering again: ${Date.now() - stoppedAt} ms`);
    t.is((await containersOf(id, { all: true })).length, 1, 'one container: nothing duplicated');
    const history = (await s.admin.get(`/api/deployments/${id}/history`)).body.items.map(
      (h: { kind: string; message: string }) => `${h.kind} ${h.message}`,
    );
    t.true(history.includes('repaired web was gone; recreated'));
    t.true(history.includes('repaired web had stopped; started again'));
    t.is((await s.get(id)).state, 'running');
  },
);

test.serial(
  'a database gone with its volume makes the deployment degraded, not an empty copy; Redeploy rebuilds it with the same URLs',
  async (t) => {
    const s = await webStack(t);
    await s.savePipeline({
      nodes: [
        {
          id: 'db',
          type: 'postgres.database',
          params: { image: 'nullops-test/postgres:15', database: 'shop', user: 'shop' },
        },
        WEB_PIPELINE.nodes[0],
      ],
      edges: [{ from: 'db', to: 'web' }],
    });
    const id = await s.deploy('stateful');
    const before = await s.until(id, 'running');
    const host = s.host('web', 'stateful');
    await answers(s, host);
    const db = (await containersOf(id)).find((c) => c.Labels['dev.nullops.service'] === 'db');
    const volumes = ((await docker.getContainer(db?.Id as string).inspect()).Mounts ?? []).map(
      (m) => m.Name as string,
    );
    await docker.getContainer(db?.Id as string).remove({ force: true });
    for (const volume of volumes) await docker.getVolume(volume).remove();

    const degraded = await s.until(id, 'degraded');
    t.regex(
      degraded.stateMessage,
      /db is gone from the node and so is its data.*Redeploy rebuilds the deployment/,
    );
    t.true(degraded.actions.includes('redeploy'));
    t.false(
      (await containersOf(id)).some((c) => c.Labels['dev.nullops.service'] === 'db'),
      'no empty database pretends to be the one later steps filled',
    );
    t.is((await viaIngress(s.ingressPort, host)).status, 200, 'what still runs keeps its URL');

    await s.admin.expect(202, 'POST', `/api/deployments/${id}/redeploy`);
    const rebuilt = await s.until(id, 'running');
    t.deepEqual(
      rebuilt.services.map((x: { url: string }) => x.url).sort(),
      before.services.map((x: { url: string }) => x.url).sort(),
      'the same URLs',
    );
    t.is(rebuilt.name, 'stateful');
    await answers(s, host);
    const services = (await containersOf(id)).map((c) => c.Labels['dev.nullops.service']).sort();
    t.deepEqual(services, ['db', 'web']);
    const kinds = (await s.admin.get(`/api/deployments/${id}/history`)).body.items.map(
      (h: { kind: string }) => h.kind,
    );
    t.true(kinds.includes('degraded') && kinds.includes('redeployed'));
  },
);

test.serial('a node takes work the moment it is online: its capacity came with its hello', async (t) => {
  const s = await webStack(t);
  const { node, agent, dataDir } = await registerLocalNode(s.admin, s.env.id, 'fresh');
  t.teardown(async () => {
    await agent.kill();
    await rm(dataDir, { recursive: true, force: true });
  });
  // The first node leaves: only the fresh one can take the next deployment.
  await s.admin.expect(200, 'PATCH', `/api/nodes/${s.node.id}`, { enabled: false });
  const started = Date.now();
  await agent.start();
  const online = await eventually('the fresh node online', async () => {
    const n = (await s.admin.get(`/api/nodes/${node.id}`)).body;
    return n.status === 'online' ? n : undefined;
  });
  t.true(online.capacity.cpuMillicores > 0 && online.capacity.memoryMb > 0, 'capacity known when online');
  const created = await s.admin.request('POST', `/api/projects/${s.project.id}/deployments`, {
    environmentId: s.env.id,
    name: 'first-on-fresh',
  });
  t.is(created.status, 201, JSON.stringify(created.body));
  t.log(`agent start → first successful placement: ${Date.now() - started} ms`);
  t.is(created.body.nodeId, node.id);
  await s.until(created.body.id, 'running');
});

test.serial(
  'the Docker engine unreachable: the node turns degraded (no placements, the reason shown), URLs keep answering, and it comes back, missing no crash of the outage',
  async (t) => {
    const relay = await DockerSocketRelay.start();
    t.teardown(() => relay.stop());
    const s = await webStack(t, { env: { DOCKER_HOST: relay.dockerHost } });
    const id = await s.deploy('through-outage');
    await s.until(id, 'running');
    const host = s.host('web', 'through-outage');
    await answers(s, host);

    await relay.cut();
    const cutAt = Date.now();
    const degraded = await eventually('the node degraded', async () => {
      const node = (await s.admin.get(`/api/nodes/${s.node.id}`)).body;
      return node.status === 'degraded' ? node : undefined;
    });
    t.log(`engine unreachable → node degraded: ${Date.now() - cutAt} ms`);
    t.regex(degraded.statusMessage, /Docker engine does not answer.*no new deployments are placed here/);
    const refused = await s.admin.request('POST', `/api/projects/${s.project.id}/deployments`, {
      environmentId: s.env.id,
      name: 'nowhere',
    });
    t.is(refused.status, 409, 'nothing is placed on a degraded node');
    t.is((await viaIngress(s.ingressPort, host)).status, 200, 'a running service still answers');
    t.is((await s.get(id)).state, 'running', 'its deployment is not offline');
    // A crash while the agent cannot hear the engine is not missed once it can again.
    await crashInside(id);

    await relay.restore();
    await eventually('the node online again', async () => {
      return (await s.admin.get(`/api/nodes/${s.node.id}`)).body.status === 'online';
    });
    const health = await eventually('the crash during the outage reported', async () => {
      const web = (await s.admin.get(`/api/deployments/${id}`)).body.services.find(
        (x: { name: string }) => x.name === 'web',
      );
      return web?.health?.condition === 'restarting' && web.health;
    });
    t.regex(health.reason, /exited with code 143/);
    const after = await s.deploy('after-outage');
    await s.until(after, 'running');
    await answers(s, s.host('web', 'after-outage'));
    t.is((await containersOf(id)).length, 1, 'nothing lost, nothing duplicated');
  },
);

test.serial(
  'a deployment too large for its node is refused at create naming its largest values; one that grows later fails alone',
  async (t) => {
    const s = await webStack(t);
    const healthy = await s.deploy('healthy');
    await s.until(healthy, 'running');
    const big = 'x'.repeat(60_000);
    const secret = await s.admin.expect(201, 'POST', '/api/secrets', { name: 'BIG', value: big });
    const setSecret = (value: string) => s.admin.expect(200, 'PATCH', `/api/secrets/${secret.id}`, { value });
    const env = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`COPY_${i}`, '${secret:BIG}']));
    await s.savePipeline({
      nodes: [{ ...WEB_PIPELINE.nodes[0], params: { ...WEB_PIPELINE.nodes[0]?.params, env } }],
      edges: [],
    });
    const refused = await s.admin.request('POST', `/api/projects/${s.project.id}/deployments`, {
      environmentId: s.env.id,
      name: 'too-large',
    });
    t.is(refused.status, 422);
    t.regex(refused.body.error.message, /more than its node accepts in one message \(1024 KiB\)/);
    t.regex(refused.body.error.message, /run\.nodes\[web\]\.params\.env\.COPY_\d+ \(59 KiB\)/);
    t.false(JSON.stringify(refused.body).includes(big.slice(0, 100)), 'never the values themselves');
    t.deepEqual(
      (await s.cp.database.db('deployments').where('name', 'too-large')).length,
      0,
      'nothing was created',
    );

    // Made while the secret was small, grown afterwards: its redeploy fails with the reason, alone.
    await setSecret('small');
    const grows = await s.deploy('grows');
    await s.until(grows, 'running');
    await setSecret(big);
    await s.admin.expect(202, 'POST', `/api/deployments/${grows}/redeploy`);
    const failed = await s.until(grows, 'failed');
    t.regex(failed.error.message, /more than node node-1 accepts in one message.*COPY_/);
    // The node reconnects (a restart of the agent) with the grown deployment in its desired state.
    await s.agent.kill();
    await s.agent.start();
    await eventually(
      'the node online',
      async () => (await s.admin.get(`/api/nodes/${s.node.id}`)).body.status === 'online',
    );
    t.is((await s.get(healthy)).state === 'running' || (await s.until(healthy, 'running')).state, 'running');
    await answers(s, s.host('web', 'healthy'));
    t.false(
      s.agent.logged(/connection lost|sync failed/).length > 0 ||
        s.cp.logs.some((l) => /sync failed/.test(l)),
      'no sync failed, no reconnect loop',
    );
  },
);

test.serial('a compose bomb is refused with the limit it passed while /healthz stays fast', async (t) => {
  const s = await webStack(t);
  // Aliases nested nine deep: each level ten of the one below (a billion laughs in a few lines).
  const levels = ['a: &a ["${V}${V}${V}${V}${V}${V}${V}${V}"]'];
  for (let i = 1; i < 9; i++)
    levels.push(
      `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
        .fill(`*${String.fromCharCode(96 + i)}`)
        .join(', ')}]`,
    );
  const bomb = `x-bomb:\n${levels.map((l) => `  ${l}`).join('\n')}\nservices:\n  web:\n    image: team/web:v1\n    environment:\n      BOOM: "${'${V}'.repeat(50_000)}"\n`;
  const timings: number[] = [];
  let probing = true;
  const probe = (async () => {
    while (probing) {
      const started = performance.now();
      const res = await fetch(`${s.cp.url}/healthz`);
      t.is(res.status, 200);
      timings.push(performance.now() - started);
    }
  })();
  const refused = await s.admin.request('POST', '/api/projects/import', {
    compose: bomb,
    variables: { V: 'y'.repeat(1000) },
    name: 'bomb',
    dryRun: true,
  });
  probing = false;
  await probe;
  t.is(refused.status, 422);
  t.regex(
    refused.body.error.message,
    /compose: .*(aliases more than 100 times|more than 4 MiB once its aliases and variables are expanded)/,
  );
  const sorted = [...timings].sort((a, b) => a - b);
  const p99 = sorted[Math.floor(sorted.length * 0.99)] ?? sorted.at(-1);
  t.log(`/healthz during the compose bomb: ${timings.length} requests, p99 ${p99?.toFixed(1)} ms`);
  t.true(timings.length > 0);

  const flat = await s.admin.request('POST', '/api/projects/import', {
    compose: `services:\n  web:\n    image: team/web:v1\n    environment:\n      BOOM: "${'${V}'.repeat(50_000)}"\n`,
    variables: { V: 'y'.repeat(1000) },
    name: 'flat-bomb',
    dryRun: true,
  });
  t.is(flat.status, 422, 'one variable repeated until the string cannot be built');
  t.regex(flat.body.error.message, /more than 4 MiB once its aliases and variables are expanded/);
});

test.serial('one reader holds at most ten log streams per node; others still read theirs', async (t) => {
  const s = await startStack({
    prepare: (registry) => registry.pushWeb('team/web', 'v1', 'chatty web'),
    services: [{ name: 'web', image: 'team/web', tag: 'v1' }],
    users: [{ name: 'other', access: 'read' }],
  });
  t.teardown(() => s.stop());
  await s.savePipeline(WEB_PIPELINE);
  const id = await s.deploy('watched');
  await s.until(id, 'running');
  const auth = (s.admin as unknown as { auth: { cookie: string } }).auth;
  const open: AbortController[] = [];
  t.teardown(() => {
    for (const c of open) c.abort();
  });
  const statuses: number[] = [];
  let refusal = '';
  for (let i = 0; i < 60; i++) {
    const controller = new AbortController();
    const res = await fetch(`${s.cp.url}/api/deployments/${id}/logs?service=web`, {
      headers: { cookie: auth.cookie },
      signal: controller.signal,
    });
    statuses.push(res.status);
    if (res.status === 200) open.push(controller);
    else refusal = ((await res.json()) as { error: { message: string } }).error.message;
  }
  t.is(statuses.filter((x) => x === 200).length, 10);
  t.is(statuses.filter((x) => x === 429).length, 50);
  t.regex(refusal, /you already have 10 log streams open on this node \(at most 10\)/);
  const other = await ApiClient.login(s.cp.url, 'other', 'a-long-enough-password');
  const theirs = await fetch(`${s.cp.url}/api/deployments/${id}/logs?service=web&follow=false`, {
    headers: { cookie: (other as unknown as { auth: { cookie: string } }).auth.cookie },
  });
  t.is(theirs.status, 200, 'another reader is not held up');
  await theirs.body?.cancel();
  // A stream given back frees its place.
  open.shift()?.abort();
  const again = await eventually('a place again', async () => {
    const res = await fetch(`${s.cp.url}/api/deployments/${id}/logs?service=web`, {
      headers: { cookie: auth.cookie },
    });
    if (res.status === 200) return res;
    await res.body?.cancel();
    return undefined;
  });
  await again.body?.cancel();
  t.pass();
});
