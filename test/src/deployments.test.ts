import { rm } from 'node:fs/promises';
import { Sweeper } from '@nullops/core';
import test from 'ava';
import { AgentProcess, registerLocalNode, waitNodeReady } from './helpers/agent-process.js';
import { ApiClient } from './helpers/api-client.js';
import { deploymentReaches } from './helpers/deployment-state.js';
import { docker, ensureTestImages } from './helpers/docker.js';
import { viaIngress } from './helpers/ingress.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { openEvents } from './helpers/sse.js';
import { startTestControlPlane, type TestControlPlane } from './helpers/test-control-plane.js';
import { eventually } from './helpers/time.js';

const PASSWORD = 'a-long-enough-password';

interface Stack {
  cp: TestControlPlane;
  registry: TestRegistry;
  agent: AgentProcess;
  dataDir: string;
  env: { id: string; name: string };
  project: { id: string };
  node: { id: string };
  fuller: ApiClient;
  reader: ApiClient;
  ingressPort: number;
}
let s: Stack;

/** A pipeline of two independent service nodes (parallel branches) with HTTP health checks. */
const pipeline = (webHealthPath = '/', healthTimeoutSeconds = 30) => ({
  nodes: [
    {
      id: 'api',
      type: 'container.service',
      params: { service: 'api', port: 80, healthCheck: { kind: 'http', path: '/' } },
    },
    {
      id: 'web',
      type: 'container.service',
      params: {
        service: 'web',
        port: 80,
        healthCheck: { kind: 'http', path: webHealthPath },
        healthTimeoutSeconds,
      },
    },
  ],
  edges: [],
});

// Placement counts the host's measured CPU too; a small CPU budget keeps these tests independent of
// how busy the machine running them is.
test.before(async () => {
  ensureTestImages();
  const registry = await startRegistry();
  registry.pushWeb('team/web', 'v1.0', 'web v1.0');
  registry.pushWeb('team/web', 'v1.1', 'web v1.1');
  registry.pushWeb('team/web', 'feature-x', 'web feature-x');
  registry.pushWeb('team/api', 'stable', 'api stable');
  const cp = await startTestControlPlane({
    NULLOPS_AGENT_RECONNECT_BASE_MS: '100',
    NULLOPS_AGENT_RECONNECT_MAX_MS: '400',
    NULLOPS_SWEEP_INTERVAL_SECONDS: '1',
  });
  const { admin } = cp;
  const reg = await admin.expect(201, 'POST', '/api/registries', { name: 'local', url: registry.url });
  const web = await admin.expect(201, 'POST', '/api/services', {
    name: 'web',
    registryId: reg.id,
    image: 'team/web',
    tagMode: 'selectable',
    tagPattern: 'v*',
  });
  const api = await admin.expect(201, 'POST', '/api/services', {
    name: 'api',
    registryId: reg.id,
    image: 'team/api',
    tagMode: 'pinned',
    tag: 'stable',
  });
  for (const name of ['fuller', 'reader'])
    await admin.expect(201, 'POST', '/api/users', { username: name, password: PASSWORD });
  const users = (await admin.get('/api/users')).body.items as { id: string; username: string }[];
  const team = async (name: string, who: string) => {
    const t = await admin.expect(201, 'POST', '/api/teams', { name });
    await admin.expect(204, 'PUT', `/api/teams/${t.id}/members/${users.find((u) => u.username === who)?.id}`);
    return t.id as string;
  };
  const fullTeam = await team('se', 'fuller');
  const readTeam = await team('qa', 'reader');
  const teams = [
    { teamId: fullTeam, access: 'full' },
    { teamId: readTeam, access: 'read' },
  ];
  const project = await admin.expect(201, 'POST', '/api/projects', {
    name: 'shop',
    cpuMillicores: 60,
    memoryMb: 128,
    serviceIds: [web.id, api.id],
    teams,
  });
  await admin.expect(201, 'POST', `/api/projects/${project.id}/pipeline/versions`, { graph: pipeline() });
  const env = await admin.expect(201, 'POST', '/api/environments', {
    name: 'qa',
    baseDomain: 'nullops.test',
    runtime: 'docker',
    defaultTtlSeconds: 3600,
    teams,
  });
  const { node, dataDir, agent } = await registerLocalNode(admin, env.id);
  await agent.start();
  await waitNodeReady(admin, node.id);
  s = {
    cp,
    registry,
    agent,
    dataDir,
    env,
    project,
    node,
    fuller: await ApiClient.login(cp.url, 'fuller', PASSWORD),
    reader: await ApiClient.login(cp.url, 'reader', PASSWORD),
    ingressPort: (cp.cp.container.resolve((await import('@nullops/core')).IngressService) as { port: number })
      .port,
  };
});

test.after.always(async () => {
  if (!s) return;
  const ids = (await s.cp.database.db('deployments').select('id')).map((r: { id: string }) => r.id);
  await s.agent.kill();
  await s.cp.close();
  await s.registry.stop();
  await rm(s.dataDir, { recursive: true, force: true });
  const { removeLabelled } = await import('./helpers/docker.js');
  await removeLabelled(docker, ids);
});

const create = (
  name: string,
  tags: Record<string, string> = { web: 'v1.1' },
  client = s.fuller,
  key?: string,
) =>
  client.request(
    'POST',
    `/api/projects/${s.project.id}/deployments`,
    { environmentId: s.env.id, name, tags },
    key ? { 'idempotency-key': key } : {},
  );
const get = async (id: string) => (await s.fuller.get(`/api/deployments/${id}`)).body;
const until = (id: string, state: string) => deploymentReaches(s.fuller, id, state);
const host = (service: string, deployment: string) => `${service}.${deployment}.qa.nullops.test`;
/** Saves a pipeline version for the rest of a test; the standard one is saved back after it. */
const usePipeline = async (
  t: { teardown(fn: () => Promise<void>): void },
  graph: ReturnType<typeof pipeline>,
) => {
  t.teardown(async () => {
    await s.cp.admin.expect(201, 'POST', `/api/projects/${s.project.id}/pipeline/versions`, {
      graph: pipeline(),
    });
  });
  return s.cp.admin.expect(201, 'POST', `/api/projects/${s.project.id}/pipeline/versions`, { graph });
};
/**
 * A running deployment that tests share, made by whichever test needs it first: no test depends
 * on another having run before it (each can run alone with --match).
 */
const sharedDeployments = new Map<string, Promise<any>>();
const shared = (name: 'demo' | 'other') => {
  let made = sharedDeployments.get(name);
  if (!made) {
    made = (async () => {
      const res = await create(name, { web: name === 'demo' ? 'v1.1' : 'v1.0' });
      if (res.status !== 201) throw new Error(`creating ${name}: ${res.status} ${JSON.stringify(res.body)}`);
      return until(res.body.id, 'running');
    })();
    sharedDeployments.set(name, made);
  }
  return made;
};
const containersOf = (id: string) =>
  docker.listContainers({ all: true, filters: { label: [`dev.nullops.deployment=${id}`] } });
const networksOf = (id: string) =>
  docker.listNetworks({ filters: { label: [`dev.nullops.deployment=${id}`] } });

test.serial(
  'tags: selectable ones from the registry, filtered and newest first; pinned shown locked',
  async (t) => {
    const res = await s.fuller.get(`/api/projects/${s.project.id}/tags`);
    t.is(res.status, 200);
    const byName = Object.fromEntries(res.body.services.map((x: { name: string }) => [x.name, x]));
    t.deepEqual(byName.web.tags, ['v1.1', 'v1.0'], 'feature-x does not match v*');
    t.like(byName.api, { tagMode: 'pinned', defaultTag: 'stable', tags: [] });
    const bad = await create('bad-tag', { web: 'feature-x' });
    t.is(bad.status, 400);
    t.regex(bad.body.error.message, /body\.tags\.web/);
    const pinned = await create('bad-pin', { web: 'v1.1', api: 'latest' });
    t.regex(pinned.body.error.message, /body\.tags\.api: is pinned to stable/);
  },
);

test.serial('create → pipeline runs on the agent → every service answers through the ingress', async (t) => {
  const res = await create('first');
  t.is(res.status, 201, JSON.stringify(res.body));
  t.is(res.body.state, 'pending', 'placed; its node has not taken the pipeline yet');
  const running = await until(res.body.id, 'running');
  t.deepEqual(running.tags, { web: 'v1.1', api: 'stable' });
  t.deepEqual(running.services.map((x: { name: string; status: string }) => [x.name, x.status]).sort(), [
    ['api', 'running'],
    ['web', 'running'],
  ]);
  for (const service of running.services as { name: string; url: string }[])
    t.is(
      service.url,
      `http://${host(service.name, 'first')}:${s.ingressPort}`,
      `${service.name}'s stable URL`,
    );
  t.is((await viaIngress(s.ingressPort, host('web', 'first'))).body.trim(), 'web v1.1');
  t.is((await viaIngress(s.ingressPort, host('api', 'first'))).body.trim(), 'api stable');
  t.truthy(running.expiresAt);

  const history = (await s.fuller.get(`/api/deployments/${res.body.id}/history`)).body.items.map(
    (h: { kind: string }) => h.kind,
  );
  t.deepEqual(
    history.filter((k: string) => !k.startsWith('step.')),
    ['created', 'deploying', 'running'],
  );
  t.true(history.includes('step.started') && history.includes('step.succeeded'));
  const audit = (await s.cp.admin.get('/api/audit?action=deployments.create&outcome=success')).body.items;
  t.true(audit.some((a: { actorName: string }) => a.actorName === 'fuller'));
});

test.serial('read access: sees deployments and logs, cannot create, extend, cancel or delete', async (t) => {
  const demo = await shared('demo');
  const d = (await s.reader.get('/api/deployments')).body.items.find((x: { id: string }) => x.id === demo.id);
  t.truthy(d, 'the reader sees it');
  t.is((await s.reader.get(`/api/deployments/${d.id}`)).status, 200);
  t.is((await create('sneaky', { web: 'v1.0' }, s.reader)).status, 403);
  t.is((await s.reader.post(`/api/deployments/${d.id}/extend`)).status, 403);
  t.is((await s.reader.post(`/api/deployments/${d.id}/cancel`)).status, 403);
  t.is((await s.reader.delete(`/api/deployments/${d.id}`)).status, 403);
  // Logs arrive as server-sent events.
  const controller = new AbortController();
  const res = await fetch(`${s.cp.url}/api/deployments/${d.id}/logs?service=web&follow=false`, {
    headers: (s.reader as unknown as { auth: { cookie: string } }).auth.cookie
      ? { cookie: (s.reader as unknown as { auth: { cookie: string } }).auth.cookie }
      : {},
    signal: controller.signal,
  });
  t.is(res.status, 200);
  t.regex(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const text = await res.text();
  t.regex(text, /event: log\ndata: .*serving web v1\.1/, 'the line the service printed on start');
  t.regex(text, /event: end/);
});

test.serial('a second deployment runs side by side, with its own URLs and its own network', async (t) => {
  const first = await shared('demo');
  const second = await shared('other');
  t.is((await viaIngress(s.ingressPort, host('web', 'other'))).body.trim(), 'web v1.0');
  t.is(
    (await viaIngress(s.ingressPort, host('web', 'demo'))).body.trim(),
    'web v1.1',
    'the first one is untouched',
  );
  const [other] = (await containersOf(second.id)).filter((c) => c.Labels['dev.nullops.service'] === 'web');
  const [mine] = (await containersOf(first.id)).filter((c) => c.Labels['dev.nullops.service'] === 'web');
  const otherIp = Object.values(
    (await docker.getContainer(other?.Id as string).inspect()).NetworkSettings.Networks,
  )[0]?.IPAddress;
  t.not(
    Object.keys((await docker.getContainer(mine?.Id as string).inspect()).NetworkSettings.Networks)[0],
    Object.keys((await docker.getContainer(other?.Id as string).inspect()).NetworkSettings.Networks)[0],
  );
  t.truthy(otherIp, "the other deployment's container has an address, so the probe means something");
  const run = async (command: string) => {
    const exec = await docker.getContainer(mine?.Id as string).exec({
      Cmd: ['sh', '-c', command],
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = await exec.start({ hijack: true, stdin: false });
    return Promise.race([
      new Promise<string>((resolve) => {
        let out = '';
        stream.on('data', (c: Buffer) => (out += c.toString()));
        stream.on('end', () => resolve(out));
      }),
      new Promise<string>((resolve) => setTimeout(() => resolve('timed out'), 5000)),
    ]);
  };
  // Positive control: the same probe reaches this deployment's own sibling by name.
  t.regex(await run('wget -qO- http://api/ || echo unreachable'), /api stable/);
  const output = await run(`wget -qO- http://${otherIp}/ || echo unreachable`);
  t.regex(output, /unreachable|timed out/, `one deployment reached the other: ${output}`);
  t.false(output.includes('web v1.0'));

  // The list comes a page at a time, newest first.
  const all = (await s.fuller.get('/api/deployments')).body.items;
  t.true(all.length >= 2);
  const [page1] = (await s.fuller.get('/api/deployments?limit=1')).body.items;
  const [page2] = (await s.fuller.get('/api/deployments?limit=1&offset=1')).body.items;
  t.deepEqual([page1.id, page2.id], [all[0].id, all[1].id]);
  const tooMany = await s.fuller.get('/api/deployments?limit=501');
  t.is(tooMany.status, 400);
  t.regex(tooMany.body.error.message, /query\.limit/);
});

test.serial(
  'the ingress routes only exact hosts: case and a trailing dot are fine, anything else is 404',
  async (t) => {
    await Promise.all([shared('demo'), shared('other')]);
    t.is((await viaIngress(s.ingressPort, host('web', 'demo').toUpperCase())).body.trim(), 'web v1.1');
    t.is((await viaIngress(s.ingressPort, `${host('web', 'demo')}.`)).body.trim(), 'web v1.1');
    t.is(
      (await viaIngress(s.ingressPort, `${host('web', 'demo')}:${s.ingressPort}`)).body.trim(),
      'web v1.1',
    );
    t.is((await viaIngress(s.ingressPort, `x.${host('web', 'demo')}`)).status, 404, 'an extra label');
    t.is((await viaIngress(s.ingressPort, host('web', 'nosuch'))).status, 404, 'an unknown deployment');
    t.is((await viaIngress(s.ingressPort, host('db', 'demo'))).status, 404, 'an unknown service');
    t.is((await viaIngress(s.ingressPort, 'qa.nullops.test')).status, 404);
    t.is((await viaIngress(s.ingressPort, 'web.demo.qa.nullops.test.evil.com')).status, 404);
    t.is((await viaIngress(s.ingressPort, '127.0.0.1')).status, 404);
    t.is(
      (await viaIngress(s.ingressPort, host('web', 'other'))).body.trim(),
      'web v1.0',
      "another deployment's name reaches only its own service",
    );
  },
);

test.serial('a budget no node can hold fails at once, creating nothing', async (t) => {
  const before = await s.cp.database.db('deployments').count('* as n').first();
  await s.cp.admin.expect(200, 'PATCH', `/api/projects/${s.project.id}`, { cpuMillicores: 1_000_000 });
  const res = await create('too-big');
  await s.cp.admin.expect(200, 'PATCH', `/api/projects/${s.project.id}`, { cpuMillicores: 60 });
  t.is(res.status, 409);
  t.regex(res.body.error.message, /no node in environment "qa" has room for 1000000m CPU/);
  t.deepEqual(await s.cp.database.db('deployments').count('* as n').first(), before);
});

test.serial(
  'a health check that never passes: failed with the step and error shown, nothing left behind; retry uses the latest pipeline',
  async (t) => {
    await usePipeline(t, pipeline('/nope', 2));
    const res = await create('broken');
    const failed = await until(res.body.id, 'failed');
    t.is(failed.error.step, 'web');
    t.regex(
      failed.error.message,
      /did not pass its http health check within 2 s \(last: HTTP 404: 404 Not Found/,
    );
    t.is(
      (await s.reader.get(`/api/deployments/${res.body.id}`)).body.error.step,
      'web',
      'read-only users see the same error',
    );
    t.is((await containersOf(res.body.id)).length, 0, 'no container left');
    t.is((await networksOf(res.body.id)).length, 0, 'no network left');
    const history = (await s.fuller.get(`/api/deployments/${res.body.id}/history`)).body.items.map(
      (h: { kind: string }) => h.kind,
    );
    t.true(history.includes('step.rolled-back'), 'started services were rolled back');

    const fixed = await s.cp.admin.expect(201, 'POST', `/api/projects/${s.project.id}/pipeline/versions`, {
      graph: pipeline(),
    });
    const retried = await s.fuller.post(`/api/deployments/${res.body.id}/retry`);
    t.is(retried.status, 202);
    const running = await until(res.body.id, 'running');
    t.is(running.pipelineVersion, fixed.version, 'the retry ran the latest pipeline version');
    t.is(
      (await s.fuller.post(`/api/deployments/${res.body.id}/retry`)).status,
      409,
      'only failed deployments retry',
    );
  },
);

test.serial('cancel during the run removes everything; a second cancel is a harmless no-op', async (t) => {
  await usePipeline(t, pipeline('/nope', 120));
  const res = await create('cancel-me');
  await eventually('the web step running', async () => (await containersOf(res.body.id)).length >= 1);
  const cancelled = await s.fuller.post(`/api/deployments/${res.body.id}/cancel`);
  t.is(cancelled.status, 202);
  await until(res.body.id, 'deleted');
  t.is((await containersOf(res.body.id)).length, 0);
  t.is((await networksOf(res.body.id)).length, 0);
  const again = await s.fuller.post(`/api/deployments/${res.body.id}/cancel`);
  t.is(again.status, 202);
  t.is(again.body.state, 'deleted');
  const history = (await s.fuller.get(`/api/deployments/${res.body.id}/history`)).body.items.map(
    (h: { kind: string }) => h.kind,
  );
  t.true(history.includes('cancelled') && history.includes('removed'));
});

test.serial('clone: same tags unless changed, a new name, the latest pipeline', async (t) => {
  const demo = await shared('demo');
  const versions = (await s.cp.admin.get(`/api/projects/${s.project.id}/pipeline/versions`)).body.items;
  const latest = Math.max(...versions.map((v: { version: number }) => v.version));
  const res = await s.fuller.post(`/api/deployments/${demo.id}/clone`, {
    name: 'demo-copy',
    tags: { web: 'v1.0' },
  });
  t.is(res.status, 201, JSON.stringify(res.body));
  const running = await until(res.body.id, 'running');
  t.deepEqual(running.tags, { web: 'v1.0', api: 'stable' });
  t.is(running.pipelineVersion, latest);
  t.is((await viaIngress(s.ingressPort, host('web', 'demo-copy'))).body.trim(), 'web v1.0');
  t.is(
    (await s.fuller.post(`/api/deployments/${demo.id}/clone`, { name: 'demo' })).status,
    409,
    'names are unique per environment',
  );
});

test.serial('live progress streams as server-sent events, step by step, until running', async (t) => {
  const res = await create('watched', { web: 'v1.0' });
  const cookie = (s.fuller as unknown as { auth: { cookie: string } }).auth.cookie;
  const controller = new AbortController();
  const stream = await fetch(`${s.cp.url}/api/deployments/${res.body.id}/events`, {
    headers: { cookie },
    signal: controller.signal,
  });
  t.is(stream.status, 200);
  const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
  let text = '';
  const deadline = Date.now() + 60_000;
  while (!/"kind":"running","state":"running"/.test(text) && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString();
  }
  controller.abort();
  t.regex(text, /event: state/);
  t.regex(text, /"kind":"step.started"/);
  t.regex(text, /"kind":"step.succeeded"/);
  t.regex(text, /"kind":"running","state":"running"/);
  await s.fuller.delete(`/api/deployments/${res.body.id}`);
  await until(res.body.id, 'deleted');
});

test.serial(
  'the same Idempotency-Key twice creates one deployment; with another body it is refused',
  async (t) => {
    const first = await create('idem', { web: 'v1.1' }, s.fuller, 'key-123');
    const second = await create('idem', { web: 'v1.1' }, s.fuller, 'key-123');
    t.is(first.status, 201);
    t.is(second.status, 200);
    t.is(second.body.id, first.body.id);
    const other = await create('idem', { web: 'v1.0' }, s.fuller, 'key-123');
    t.is(other.status, 422);
    t.regex(other.body.error.message, /Idempotency-Key was used for another request .*tags/);
    t.deepEqual(
      other.body.error.details.issues.map((i: { path: string }) => i.path),
      ['body.tags'],
    );
    t.is((await s.cp.database.db('deployments').where('name', 'idem')).length, 1);
    await until(first.body.id, 'running');
  },
);

test.serial('extend postpones auto-cleanup; an expired deployment is removed', async (t) => {
  const created = await create('short-lived', { web: 'v1.0' });
  const d = await until(created.body.id, 'running');
  const expiring = new Date(Date.now() + 1500);
  await s.cp.database.db('deployments').where('id', d.id).update({ expiresAt: expiring });
  const extended = await s.fuller.post(`/api/deployments/${d.id}/extend`);
  t.is(extended.status, 200);
  t.true(
    new Date(extended.body.expiresAt).getTime() > Date.now() + 3000_000,
    'the timer was reset to the full TTL',
  );
  // A sweep after the time it would have expired leaves it alone.
  await eventually('its former expiry passed', async () => Date.now() > expiring.getTime());
  await s.cp.cp.container.resolve(Sweeper).sweep();
  t.is((await get(d.id)).state, 'running', 'extended, so still there');

  await s.cp.database
    .db('deployments')
    .where('id', d.id)
    .update({ expiresAt: new Date(Date.now() - 1000) });
  await until(d.id, 'deleted');
  t.is((await containersOf(d.id)).length, 0);
  t.is((await viaIngress(s.ingressPort, host('web', 'short-lived'))).status, 404);
  const history = (await s.fuller.get(`/api/deployments/${d.id}/history`)).body.items.map(
    (h: { kind: string }) => h.kind,
  );
  t.true(history.includes('expired'));
});

test.serial(
  'node offline: deployments offline and routes removed; node back: running and routes restored',
  async (t) => {
    const demo = await shared('demo');
    await s.agent.kill('SIGKILL');
    await eventually('offline', async () => (await get(demo.id)).state === 'offline');
    await eventually(
      'routes to the offline node removed',
      async () => (await viaIngress(s.ingressPort, host('web', 'demo'))).status === 404,
    );
    await s.agent.start();
    await until(demo.id, 'running');
    await eventually(
      'route restored',
      async () => (await viaIngress(s.ingressPort, host('web', 'demo'))).status === 200,
    );
    t.is((await viaIngress(s.ingressPort, host('web', 'demo'))).body.trim(), 'web v1.1');
  },
);

test.serial('delete removes every container and network; the URL then answers 404', async (t) => {
  const created = await create('doomed', { web: 'v1.0' });
  const other = await until(created.body.id, 'running');
  t.true((await containersOf(other.id)).length > 0 && (await networksOf(other.id)).length > 0);
  t.is((await viaIngress(s.ingressPort, host('web', 'doomed'))).status, 200);
  t.is((await s.fuller.delete(`/api/deployments/${other.id}`)).status, 202);
  await until(other.id, 'deleted');
  t.is((await containersOf(other.id)).length, 0);
  t.is((await networksOf(other.id)).length, 0);
  t.is((await viaIngress(s.ingressPort, host('web', 'doomed'))).status, 404);
  t.false(
    (await s.fuller.get('/api/deployments')).body.items.some((x: { name: string }) => x.name === 'doomed'),
    'deleted ones are hidden by default',
  );
});

test.serial(
  'the list agrees with the live stream: a page read before a change is not answered after it',
  async (t) => {
    const watch = await openEvents(s.fuller, '/api/live/deployments');
    t.teardown(() => watch.close());
    const created = await create('listed', { web: 'v1.0' });
    const listed = async () =>
      ((await s.fuller.get('/api/deployments')).body.items as { id: string; state: string }[]).find(
        (x) => x.id === created.body.id,
      );
    // Read (and so kept for a moment) while it is still on its way.
    t.not((await listed())?.state, 'running');
    await eventually('watchers told it runs', async () =>
      watch.events.some((e) => e.data?.deploymentId === created.body.id && e.data?.state === 'running'),
    );
    t.is((await listed())?.state, 'running', 'the page read before is not answered again');
    await s.fuller.delete(`/api/deployments/${created.body.id}`);
    await until(created.body.id, 'deleted');
  },
);
