import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import test from 'ava';
import { ApiClient } from '../helpers/api-client.js';
import { ownEnvironment, start, stop } from '../helpers/control-plane-process.js';
import { ensureTestImages } from '../helpers/docker.js';
import { STACK_PASSWORD, type Stack, startStack } from '../helpers/stack.js';
import { createTestDatabase } from '../helpers/test-database.js';
import { eventually } from '../helpers/time.js';
import { startVerdaccio, type TestNpmRegistry } from '../helpers/verdaccio.js';

// The security suite, part three: plugins. A plugin is trusted code (README: Plugins), but what it
// is handed is bounded — the caller's scope travels with every plugin route — and installing one
// runs nothing of its dependencies.

const fixture = (name: string) => resolve('test/fixtures/plugins', name);
const GREETER = '@fixtures/nullops-greeter';
const PROBER = '@fixtures/nullops-prober';
const ext = `/api/ext/${PROBER}`;

let s: Stack;
let npm: TestNpmRegistry;

test.before(async () => {
  ensureTestImages();
  npm = await startVerdaccio();
  for (const name of ['shout', 'greeter', 'prober', 'missing-dependency']) await npm.publish(fixture(name));
  s = await startStack({
    prepare: (registry) => registry.pushWeb('team/web', 'v1', 'web v1'),
    services: [{ name: 'web', image: 'team/web', tag: 'v1' }],
    users: [{ name: 'builder', access: 'full' }],
  });
});

test.after.always(async () => {
  await s?.stop();
  await npm?.stop();
});

const installOn = (client: ApiClient, spec: string) =>
  client.post('/api/plugins', { package: spec, registry: { url: npm.url, token: npm.token } });
const statusOn = (name: string, host: string, version?: string) =>
  eventually(`${name} status on ${host}`, async () =>
    (await s.admin.get(`/api/plugins/${encodeURIComponent(name)}`)).body.statuses?.find(
      (x: { host: string; version: string }) => x.host === host && (!version || x.version === version),
    ),
  );
const stores = async () => {
  const { PluginService } = await import('@nullops/core');
  return [
    (s.cp.cp.container.resolve(PluginService) as { storeDir: string }).storeDir,
    join(s.agent.options.dataDir, 'plugins'),
  ];
};

test.serial(
  'a plugin dependency’s install scripts never run, on the control plane or on an agent',
  async (t) => {
    // A dependency that would leave a file behind if any of its install scripts ran.
    const ran = "node -e \"require('fs').writeFileSync('script-ran', process.getuid?.() + '')\"";
    await npm.publish(fixture('shout'), {
      version: '2.0.0',
      scripts: { preinstall: ran, install: ran, postinstall: ran },
    });
    await npm.publish(fixture('greeter'), {
      version: '1.3.0',
      dependencies: { '@fixtures/shout': '^2.0.0' },
    });
    const installed = await installOn(s.admin, `${GREETER}@1.3.0`);
    t.is(installed.status, 201, JSON.stringify(installed.body));
    t.is((await statusOn(GREETER, 'control-plane', '1.3.0')).status, 'loaded');
    t.is((await statusOn(GREETER, s.node.id, '1.3.0')).status, 'loaded');

    for (const store of await stores()) {
      const shout = join(store, '@fixtures+nullops-greeter@1.3.0', 'node_modules', '@fixtures', 'shout');
      t.is(JSON.parse(await readFile(join(shout, 'package.json'), 'utf8')).version, '2.0.0', store);
      await t.throwsAsync(
        readFile(join(shout, 'script-ran')),
        { code: 'ENOENT' },
        `no script ran in ${store}`,
      );
    }
  },
);

test.serial('a failed install reports its own error and leaves nothing half-installed behind', async (t) => {
  const failed = await installOn(s.admin, '@fixtures/nullops-missing-dep@1');
  t.is(failed.status, 201, 'recorded: each host reports how it went');
  for (const host of ['control-plane', s.node.id]) {
    const status = await statusOn('@fixtures/nullops-missing-dep', host);
    t.is(status.status, 'failed');
    t.regex(status.error, /@fixtures\/not-published/, `${host} names what was missing`);
    t.notRegex(status.error, /ENOTEMPTY/);
  }
  for (const store of await stores())
    t.deepEqual(
      (await readdir(store)).filter((f) => f.startsWith('.installing-')),
      [],
      `no partial install left in ${store}`,
    );
});

test.serial(
  "plugin routes: the caller's scope travels with the request — another project's deployment is not there for it, and a scoped token does no admin action",
  async (t) => {
    t.is((await installOn(s.admin, `${PROBER}@1`)).status, 201);
    await statusOn(PROBER, 'control-plane');
    await s.admin.expect(201, 'POST', '/api/secrets', { name: 'DB_PASSWORD', value: 'hunter2-prober' });
    await s.savePipeline({
      nodes: [
        {
          id: 'web',
          type: 'container.service',
          params: { service: 'web', port: 80, env: { DB_PASSWORD: '${secret:DB_PASSWORD}' } },
        },
      ],
      edges: [],
    });
    const victim = await s.deploy('victim');
    await s.until(victim, 'running');
    const elsewhere = await s.admin.expect(201, 'POST', '/api/projects', {
      name: 'shop',
      cpuMillicores: 100,
      memoryMb: 64,
    });

    // An admin's read-only token, limited to project shop: the plugin gets nothing of the victim.
    const embed = await s.admin.expect(201, 'POST', '/api/auth/tokens', {
      name: 'portal',
      access: 'read',
      projectIds: [elsewhere.id],
    });
    const portal = ApiClient.withToken(s.cp.url, embed.token);
    const read = await portal.request('GET', `${ext}/deployments/${victim}`);
    t.is(read.status, 404, JSON.stringify(read.body));
    t.false(JSON.stringify(read.body).includes('hunter2-prober'));
    // Full access: the plugin may hand it out, and that read is audited.
    const full = await s.admin.request('GET', `${ext}/deployments/${victim}`);
    t.is(full.status, 200);
    const audited = (await s.admin.get('/api/audit?action=plugins.ext.get')).body.items;
    t.like(audited[0], { actorName: 'admin', outcome: 'success', details: { plugin: PROBER } });
    t.true(
      audited.some((e: { outcome: string; status: number }) => e.status === 404),
      'the refused read is in the audit too',
    );

    // A project-scoped token of an administrator does no administrative plugin action.
    const ci = await s.admin.expect(201, 'POST', '/api/auth/tokens', {
      name: 'ci',
      projectIds: [s.project.id],
    });
    const purge = await ApiClient.withToken(s.cp.url, ci.token).request('POST', `${ext}/purge`, {});
    t.is(purge.status, 403);
    t.regex(purge.body.error.message, /project-scoped API token cannot call administrative plugin routes/);
    const builder = await ApiClient.login(s.cp.url, 'builder', STACK_PASSWORD);
    t.is(
      (await builder.request('POST', `${ext}/purge`, {})).status,
      403,
      'nor does a user who is not an admin',
    );
    t.is((await s.admin.request('POST', `${ext}/purge`, {})).status, 200, 'positive control: the admin does');
    await s.admin.expect(202, 'DELETE', `/api/deployments/${victim}`);
  },
);

test.serial(
  'a plugin reading the process environment finds neither the secret key, nor the admin password, nor the database URL',
  async (t) => {
    const database = await createTestDatabase({ migrate: false });
    const { env, dataDir } = await ownEnvironment('nullops-security-env-');
    const secrets = {
      NULLOPS_SECRET_KEY: randomBytes(32).toString('base64'),
      NULLOPS_ADMIN_PASSWORD: `admin-${randomBytes(9).toString('hex')}`,
      DATABASE_URL: database.url,
    };
    const { child } = await start({ ...env, ...secrets, NULLOPS_EMBEDDED_AGENT: 'off' });
    t.teardown(async () => {
      await stop(child);
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    });
    const url = `http://127.0.0.1:${env.PORT}`;
    const admin = await ApiClient.login(url, 'admin', secrets.NULLOPS_ADMIN_PASSWORD);
    t.is((await installOn(admin, `${PROBER}@1`)).status, 201);
    const seen = await eventually('the plugin answers', async () => {
      const res = await admin.request('GET', `${ext}/environment`);
      return res.status === 200 && (res.body.env as Record<string, string>);
    });
    t.truthy(seen.PATH, 'positive control: it does read the environment');
    for (const [name, value] of Object.entries(secrets)) {
      t.false(name in seen, `${name} is not in process.env`);
      t.false(JSON.stringify(seen).includes(value), `nor is its value anywhere in it`);
    }
  },
);
