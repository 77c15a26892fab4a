import { resolve } from 'node:path';
import test from 'ava';
import { eventually } from './helpers/agent-process.js';
import { docker, ensureTestImages } from './helpers/docker.js';
import { viaIngress } from './helpers/ingress.js';
import { type Stack, startStack } from './helpers/stack.js';
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
  type: 'docker.service',
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

    // Both hosts are still up and the node still online.
    t.is((await s.admin.get('/healthz')).status, 200);
    t.is((await s.admin.get(`/api/nodes/${s.node.id}`)).body.status, 'online');
    t.is(s.agent.logged(/agent failed|uncaught/i).length, 0);
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

    // Removing the greeter: running deployments keep running; the catalogue loses its components.
    t.is((await s.admin.request('DELETE', `/api/plugins/${enc(GREETER)}`)).status, 204);
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
