import { readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import test from 'ava';
import { registerLocalNode } from './helpers/agent-process.js';
import { ApiClient } from './helpers/api-client.js';
import { docker, ensureTestImages } from './helpers/docker.js';
import { viaIngress } from './helpers/ingress.js';
import { type Stack, startStack } from './helpers/stack.js';
import { eventually } from './helpers/time.js';
import { startVerdaccio, type TestNpmRegistry } from './helpers/verdaccio.js';

// The acceptance of the plugin system: fixture plugins published to a real Verdaccio, installed
// through the API into the control plane and a real Docker agent, run by real deployments.

const fixture = (name: string) => resolve('test/fixtures/plugins', name);
const GREETER = '@fixtures/nullops-greeter';
const enc = encodeURIComponent;

let s: Stack;
let npm: TestNpmRegistry;

test.before(async () => {
  ensureTestImages();
  npm = await startVerdaccio();
  await npm.publish(fixture('shout'));
  await npm.publish(fixture('greeter'));
  await npm.publish(fixture('greeter'), { version: '1.1.0' });
  await npm.publish(fixture('throws-on-import'));
  await npm.publish(fixture('wrong-sdk'));
  await npm.publish(fixture('missing-dependency'));
  s = await startStack({
    prepare: (registry) => registry.pushWeb('team/web', 'v1', 'web v1'),
    services: [{ name: 'web', image: 'team/web', tag: 'v1' }],
  });
});

test.after.always(async () => {
  await s?.stop();
  await npm?.stop();
});

const install = (spec: string, extra: Record<string, unknown> = {}) =>
  s.admin.post('/api/plugins', { package: spec, registry: { url: npm.url, token: npm.token }, ...extra });
const plugin = async (name: string) => (await s.admin.get(`/api/plugins/${enc(name)}`)).body;
/** The status a host reports for a plugin, once it has reported one. */
const statusOn = (name: string, host: string, version?: string) =>
  eventually(`${name} status on ${host}`, async () =>
    (await plugin(name)).statuses?.find(
      (x: { host: string; version: string }) => x.host === host && (!version || x.version === version),
    ),
  );

const webNode = {
  id: 'web',
  type: 'container.service',
  params: { service: 'web', port: 80, healthCheck: { kind: 'http', path: '/' } },
};
const greetPipeline = (name: string) => ({
  nodes: [webNode, { id: 'greet', type: 'fixture.greet', params: { name } }],
  edges: [{ from: 'web', to: 'greet' }],
});
const stepLogs = async (id: string) =>
  (await s.admin.get(`/api/deployments/${id}/history`)).body.items
    .filter((h: { kind: string }) => h.kind.startsWith('step.'))
    .map((h: { message: string | null }) => h.message ?? '');

test.serial(
  'install from Verdaccio: each host reports every plugin; broken ones are reported and nothing goes down',
  async (t) => {
    const ok = await install(`${GREETER}@~1.0.0`);
    t.is(ok.status, 201, JSON.stringify(ok.body));
    t.like(ok.body, {
      name: GREETER,
      version: '1.0.0',
      range: '~1.0.0',
      source: 'registry',
      hasRegistryToken: true,
    });
    t.regex(ok.body.integrity, /^sha512-/);
    t.false(JSON.stringify(ok.body).includes(npm.token), 'the registry token is never shown');
    for (const spec of [
      '@fixtures/nullops-throws@1',
      '@fixtures/nullops-wrong-sdk@1',
      '@fixtures/nullops-missing-dep@1',
    ])
      t.is((await install(spec)).status, 201, spec);

    // Bad specs and registries are named, and nothing is recorded.
    const absent = await install('@fixtures/nothing-here@1');
    t.is(absent.status, 400);
    t.regex(absent.body.error.message, /body\.package: @fixtures\/nothing-here is not in the registry/);
    const noMatch = await install('@fixtures/shout@^7');
    t.regex(noMatch.body.error.message, /body\.package: no release of @fixtures\/shout matches "\^7"/);
    t.is((await install(`${GREETER}@1`)).status, 409, 'already installed: upgrade instead');
    const down = await s.admin.post('/api/plugins', {
      package: 'x@1',
      registry: { url: 'http://127.0.0.1:9/' },
    });
    t.is(down.status, 503);
    t.regex(down.body.error.message, /cannot reach the npm registry/);

    const expectations: [string, 'loaded' | 'failed', RegExp | null][] = [
      [GREETER, 'loaded', null],
      ['@fixtures/nullops-throws', 'failed', /import failed: this fixture plugin explodes on import/],
      [
        '@fixtures/nullops-wrong-sdk',
        'failed',
        /needs plugin SDK \^2\.0\.0, but this host provides 1\.\d+\.\d+/,
      ],
      ['@fixtures/nullops-missing-dep', 'failed', /download failed: .*@fixtures\/not-published/],
    ];
    for (const host of ['control-plane', s.node.id]) {
      for (const [name, status, error] of expectations) {
        const got = await statusOn(name, host);
        t.is(got.status, status, `${name} on ${host}: ${got.error}`);
        if (error) t.regex(got.error, error, `${name} on ${host}`);
      }
    }
    t.falsy(
      (globalThis as { __nullopsWrongSdkImported?: boolean }).__nullopsWrongSdkImported,
      'the control plane (this process) never ran the code of a plugin built for another SDK',
    );
    t.deepEqual((await plugin(GREETER)).components.sort(), [
      'fixture.greet',
      'fixture.hang',
      'fixture.throw',
    ]);
    const catalog = (await s.admin.get('/api/plugins/components')).body.items;
    const greet = catalog.find((c: { type: string }) => c.type === 'fixture.greet');
    t.like(greet, {
      title: 'Greet',
      category: 'Fixtures',
      plugin: { name: GREETER, version: '1.0.0', source: 'registry' },
    });
    t.deepEqual(greet.paramsSchema.required, ['name'], 'the params schema reaches the editor as JSON Schema');
    t.truthy(
      catalog.find((c: { type: string }) => c.type === 'postgres.database'),
      'first-party plugins too',
    );

    // Its control-plane part: a registry provider lists tags for a registry URL it serves.
    const reg = await s.admin.expect(201, 'POST', '/api/registries', {
      name: 'provided',
      url: 'http://tags.fixture.invalid',
    });
    const svc = await s.admin.expect(201, 'POST', '/api/services', {
      name: 'tagged',
      registryId: reg.id,
      image: 'team/app',
      tagMode: 'selectable',
      tagPattern: 'v*',
    });
    const proj = await s.admin.expect(201, 'POST', '/api/projects', {
      name: 'provided',
      cpuMillicores: 100,
      memoryMb: 64,
      serviceIds: [svc.id],
    });
    t.deepEqual((await s.admin.get(`/api/projects/${proj.id}/tags`)).body.services[0].tags, [
      'v1.10.0',
      'v1.2.0',
    ]);

    // Both hosts are still up and the node still online.
    t.is((await s.admin.get('/healthz')).status, 200);
    t.is((await s.admin.get(`/api/nodes/${s.node.id}`)).body.status, 'online');
    t.is(s.agent.logged(/agent failed|uncaught/i).length, 0);
  },
);

test.serial(
  'every host installs the dependency tree the control plane installed, not what the registry serves today',
  async (t) => {
    // After the install above, a new release of the greeter's dependency appears (any ^1 would take it).
    await npm.publish(fixture('shout'), { version: '1.0.1' });
    const tree = await s.cp.database
      .db('plugin_release_trees')
      .where({ name: GREETER, version: '1.0.0' })
      .first();
    t.truthy(tree, 'the tree was recorded at install');
    const lock = JSON.parse(tree.lockfile);
    t.like(lock.packages['node_modules/@fixtures/shout'], { version: '1.0.0' });
    t.regex(lock.packages['node_modules/@fixtures/shout'].integrity, /^sha512-/);

    // A node that joins now installs the greeter from scratch: it gets the recorded shout 1.0.0.
    const fresh = await registerLocalNode(s.admin, s.env.id, 'node-late');
    t.teardown(async () => {
      await fresh.agent.kill();
      await s.admin.request('DELETE', `/api/nodes/${fresh.node.id}`);
      await rm(fresh.dataDir, { recursive: true, force: true });
    });
    // Disabled: it syncs plugins like any node, but takes none of the other tests' deployments.
    await s.admin.expect(200, 'PATCH', `/api/nodes/${fresh.node.id}`, { enabled: false });
    await fresh.agent.start();
    t.is((await statusOn(GREETER, fresh.node.id, '1.0.0')).status, 'loaded');
    const installed = JSON.parse(
      await readFile(
        join(
          fresh.dataDir,
          'plugins',
          '@fixtures+nullops-greeter@1.0.0',
          'node_modules',
          '@fixtures',
          'shout',
          'package.json',
        ),
        'utf8',
      ),
    );
    t.is(installed.version, '1.0.0', 'exactly the recorded tree');
  },
);

test.serial(
  'a running deployment keeps its plugin release across an upgrade; a re-saved pipeline uses the new one',
  async (t) => {
    const v1 = await s.savePipeline(greetPipeline('world'));
    t.is(v1.plugins[GREETER], '1.0.0');
    const first = await s.deploy('first');
    const running = await s.until(first, 'running');
    t.is(running.plugins[GREETER], '1.0.0');
    t.true(
      (await stepLogs(first)).some((m: string) => m === 'HELLO WORLD! (greeter 1.0.0)'),
      'the dependency ran too',
    );
    const state = await readFile(join(s.agent.options.dataDir, 'state.json'), 'utf8');
    t.false(state.includes(npm.token), "the agent's state file keeps no registry token");

    const upgraded = await s.admin.request('PUT', `/api/plugins/${enc(GREETER)}`, { range: '^1.1.0' });
    t.is(upgraded.status, 200, JSON.stringify(upgraded.body));
    t.is(upgraded.body.version, '1.1.0');
    const onNode = await statusOn(GREETER, s.node.id, '1.1.0');
    t.is(onNode.status, 'loaded', onNode.error ?? '');
    // The running deployment is untouched and still pinned to 1.0.0.
    const still = await s.get(first);
    t.is(still.state, 'running');
    t.is(still.plugins[GREETER], '1.0.0');
    t.is((await viaIngress(s.ingressPort, s.host('web', 'first'))).body.trim(), 'web v1');

    const v2 = await s.savePipeline(greetPipeline('again'));
    t.is(v2.plugins[GREETER], '1.1.0');
    const second = await s.deploy('second');
    const next = await s.until(second, 'running');
    t.is(next.plugins[GREETER], '1.1.0');
    t.true((await stepLogs(second)).includes('HELLO AGAIN! (greeter 1.1.0)'));

    // Retrying the old deployment's version on the agent: 1.0.0 and 1.1.0 coexist there.
    const agentLines = s.agent.logged(/plugin loaded/).map((l) => l.plugin);
    t.true(
      agentLines.includes(`${GREETER}@1.0.0`) && agentLines.includes(`${GREETER}@1.1.0`),
      agentLines.join(', '),
    );
  },
);

test.serial(
  'a hanging component is abandoned at its timeout and rolled back; a throwing one fails only its deployment',
  async (t) => {
    await s.savePipeline({
      nodes: [
        webNode,
        { id: 'greet', type: 'fixture.greet', params: { name: 'x' } },
        { id: 'stuck', type: 'fixture.hang', params: {} },
      ],
      edges: [
        { from: 'web', to: 'greet' },
        { from: 'greet', to: 'stuck' },
      ],
    });
    const hung = await s.deploy('hung');
    const failed = await s.until(hung, 'failed');
    t.is(failed.error.step, 'stuck');
    t.regex(failed.error.message, /timed out after 1\.5 s|1500 ms|timeout/i);
    const logs = await stepLogs(hung);
    t.true(logs.includes('greeter 1.1.0 rolled back'), 'earlier steps were rolled back');
    t.deepEqual(
      await docker.listContainers({ all: true, filters: { label: [`dev.nullops.deployment=${hung}`] } }),
      [],
    );

    await s.savePipeline({
      nodes: [webNode, { id: 'boom', type: 'fixture.throw', params: {} }],
      edges: [{ from: 'web', to: 'boom' }],
    });
    const thrown = await s.deploy('thrown');
    const broken = await s.until(thrown, 'failed');
    t.deepEqual(broken.error, { step: 'boom', message: 'fixture component exploded' });
    // Everything else keeps running.
    for (const name of ['first', 'second'])
      t.is((await viaIngress(s.ingressPort, s.host('web', name))).status, 200);
    t.is((await s.admin.get(`/api/nodes/${s.node.id}`)).body.status, 'online');
  },
);

test.serial(
  'removing plugins: their types are refused at save; running deployments keep running',
  async (t) => {
    const removed = await s.admin.request('DELETE', `/api/plugins/${enc('@fixtures/nullops-throws')}`);
    t.is(removed.status, 204);
    t.is((await s.admin.get(`/api/plugins/${enc('@fixtures/nullops-throws')}`)).status, 404);
    const saved = await s.admin.post(`/api/projects/${s.project.id}/pipeline/versions`, {
      graph: { nodes: [{ id: 'x', type: 'fixture.nothing', params: {} }], edges: [] },
    });
    t.is(saved.status, 400);
    t.regex(saved.body.error.message, /no installed plugin provides "fixture\.nothing"/);

    // The greeter is in the project's latest pipeline: removing it is refused, saying where, until
    // forced. Then running deployments keep running; the catalogue loses its components.
    t.truthy((await s.admin.get(`/api/projects/${s.project.id}/pipeline`)).body.plugins[GREETER]);
    const refused = await s.admin.request('DELETE', `/api/plugins/${enc(GREETER)}`);
    t.is(refused.status, 409);
    t.regex(
      refused.body.error.message,
      /the latest pipeline of "plugins" uses @fixtures\/nullops-greeter: .*force=true/,
    );
    t.is((await s.admin.get(`/api/plugins/${enc(GREETER)}`)).status, 200, 'still installed');
    t.is((await s.admin.request('DELETE', `/api/plugins/${enc(GREETER)}?force=true`)).status, 204);
    await eventually(
      'catalogue updated',
      async () =>
        !(await s.admin.get('/api/plugins/components')).body.items.some(
          (c: { type: string }) => c.type === 'fixture.greet',
        ),
    );
    t.is(
      (
        await s.get(
          (await s.admin.get('/api/deployments')).body.items.find((d: { name: string }) => d.name === 'first')
            .id,
        )
      ).state,
      'running',
    );
  },
);

test.serial(
  'webhook notifier: a control-plane plugin posts Teams cards for deployment events and adds an admin route',
  async (t) => {
    const received: any[] = [];
    const receiver = createServer(async (req, res) => {
      let body = '';
      for await (const chunk of req) body += chunk;
      received.push({ path: req.url, body: JSON.parse(body) });
      res.writeHead(200).end('1');
    });
    await new Promise<void>((ok) => receiver.listen(0, '127.0.0.1', ok));
    t.teardown(() => new Promise<void>((ok) => receiver.close(() => ok())));
    const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook/secret-path`;

    await npm.publish(resolve('plugins/webhook-notifier'));
    await s.admin.expect(201, 'POST', '/api/secrets', { name: 'TEAMS_WEBHOOK', value: hook });
    const missing = await install('@nullops/plugin-webhook-notifier@^1', {
      settings: { url: '${secret:NOPE}' },
    });
    t.is(missing.status, 400);
    t.regex(missing.body.error.message, /body\.settings: unknown secret\(s\): NOPE/);
    const installed = await install('@nullops/plugin-webhook-notifier@^1', {
      settings: {
        url: '${secret:TEAMS_WEBHOOK}',
        format: 'teams',
        events: ['created', 'running', 'deleted', 'test', 'node.offline', 'node.online'],
      },
    });
    t.is(installed.status, 201, JSON.stringify(installed.body));
    t.is(
      installed.body.settings.url,
      '${secret:TEAMS_WEBHOOK}',
      'settings keep the reference, never the value',
    );
    t.is((await statusOn('@nullops/plugin-webhook-notifier', 'control-plane')).status, 'loaded');

    // The project has a webhook of its own: its deployment events go there too, as JSON.
    await s.admin.expect(201, 'POST', '/api/secrets', { name: 'SHOP_WEBHOOK', value: `${hook}-shop` });
    const projectSettings = `/api/projects/${s.project.id}/plugins/${enc('@nullops/plugin-webhook-notifier')}/settings`;
    const unknownSecret = await s.admin.request('PUT', projectSettings, {
      settings: { url: '${secret:NOPE}' },
    });
    t.is(unknownSecret.status, 400);
    await s.admin.expect(200, 'PUT', projectSettings, {
      settings: { url: '${secret:SHOP_WEBHOOK}', events: ['running'] },
    });
    t.deepEqual((await s.admin.get(projectSettings)).body.settings.url, '${secret:SHOP_WEBHOOK}');

    await s.savePipeline({ nodes: [webNode], edges: [] });
    const id = await s.deploy('notified');
    await s.until(id, 'running');
    const cards = await eventually('created and running cards', async () => {
      const titles = received.map((r) => (r.body.title ?? '') as string);
      return (
        titles.some((x) => x.endsWith('— running')) && titles.some((x) => x.endsWith('— created')) && received
      );
    });
    const running = cards.find((r) => r.body.title?.endsWith('— running'));
    t.is(running.path, '/hook/secret-path');
    t.like(running.body, { '@type': 'MessageCard', title: 'Deployment notified (plugins) — running' });
    t.deepEqual(
      running.body.potentialAction[0].targets[0].uri,
      `http://${s.host('web', 'notified')}:${s.ingressPort}`,
    );

    // The plugin's route: admins only, checked by the core before the plugin sees the request.
    const route = `/api/ext/@nullops/plugin-webhook-notifier/test`;
    t.is((await s.admin.post(route, {})).status, 200);
    await eventually('test message', async () => received.some((r) => r.body.title?.endsWith('— test')));
    await s.admin.expect(201, 'POST', '/api/users', {
      username: 'plain',
      password: 'a-long-enough-password',
    });
    const plain = await ApiClient.login(s.cp.url, 'plain', 'a-long-enough-password');
    t.is((await plain.post(route, {})).status, 403);
    t.is((await plain.get('/api/ext/@nullops/plugin-webhook-notifier/nothing')).status, 404);
    t.is((await ApiClient.anonymous(s.cp.url).post(route, {})).status, 401);

    const own = await eventually('the project webhook got its event', async () =>
      received.find((r) => r.path === '/hook/secret-path-shop'),
    );
    t.like(own.body, { event: 'running', deployment: { name: 'notified' } });

    await s.admin.expect(202, 'DELETE', `/api/deployments/${id}`);
    await eventually('deleted card', async () => received.some((r) => r.body.title?.endsWith('— deleted')));
    t.false(
      received.some((r) => r.path === '/hook/secret-path-shop' && r.body.event === 'deleted'),
      "the project's events filter applies to its webhook",
    );

    // A node that goes away is news for administrators (their webhook), and so is its return.
    await s.agent.kill();
    const offline = await eventually('node offline card', async () =>
      received.find((r) => r.body.title?.startsWith('Node node-1 (qa) — offline')),
    );
    t.like(offline.body, { '@type': 'MessageCard', themeColor: 'C62828' });
    await s.agent.start();
    await eventually('node back card', async () =>
      received.some((r) => r.body.title?.startsWith('Node node-1 (qa) — back online')),
    );
    t.false(s.cp.logs.join('').includes('secret-path'), 'the webhook URL (a secret) is never logged');

    // Settings the plugin refuses stop its control-plane part, with its reason; settings it takes
    // start it again (the same release).
    const notifier = `/api/plugins/${enc('@nullops/plugin-webhook-notifier')}`;
    await s.admin.expect(200, 'PUT', notifier, { settings: { url: 'not a url', format: 'teams' } });
    const refused = await statusOn('@nullops/plugin-webhook-notifier', 'control-plane');
    t.like(refused, { status: 'failed' });
    t.regex(refused.error, /url/);
    t.is((await s.admin.post(route, {})).status, 404, 'its route is gone');
    await s.admin.expect(200, 'PUT', notifier, {
      settings: { url: '${secret:TEAMS_WEBHOOK}', format: 'teams' },
    });
    t.like(await statusOn('@nullops/plugin-webhook-notifier', 'control-plane'), { status: 'loaded' });
    t.is((await s.admin.post(route, {})).status, 200, 'its route is back');
  },
);
