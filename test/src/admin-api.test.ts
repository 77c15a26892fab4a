import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import test from 'ava';
import { seedAccessFixture } from './helpers/access-fixture.js';
import { ApiClient } from './helpers/api-client.js';
import { startRegistry } from './helpers/registry.js';
import { startTestControlPlane } from './helpers/test-control-plane.js';

test('a unique-name clash is a 409 naming the field, never a 500', async (t) => {
  const cp = await startTestControlPlane();
  t.teardown(cp.close);
  const { admin } = cp;
  await admin.expect(201, 'POST', '/api/teams', { name: 'qa' });
  const team = await admin.post('/api/teams', { name: 'qa' });
  t.is(team.status, 409);
  t.is(team.body.error.message, 'name: is already taken');
  await admin.expect(201, 'POST', '/api/users', { username: 'Erin', password: 'long-enough-password' });
  const user = await admin.post('/api/users', { username: 'erin', password: 'long-enough-password' });
  t.is(user.status, 409, 'usernames are unique regardless of case');
  t.regex(user.body.error.message, /username/);
  const env = await admin.expect(201, 'POST', '/api/environments', {
    name: 'qa',
    baseDomain: 'qa.test',
    runtime: 'docker',
    defaultTtlSeconds: 600,
  });
  await admin.expect(201, 'POST', '/api/nodes', { environmentId: env.id, name: 'n1', host: 'h1' });
  const node = await admin.post('/api/nodes', { environmentId: env.id, name: 'n1', host: 'h2' });
  t.is(node.status, 409);
  t.is(node.body.error.message, 'name: is already taken');
  t.is((await admin.get('/api/nodes')).body.items.length, 1, 'nothing half-written');
});

test('a registry is checked when saved: wrong credentials or an unreachable URL are a 400 naming the field (saved with a warning if the admin insists); a pattern previews its tags', async (t) => {
  const cp = await startTestControlPlane();
  t.teardown(cp.close);
  const registry = await startRegistry({ auth: true });
  t.teardown(() => registry.stop());
  registry.push('team/web', 'v1.0');
  registry.push('team/web', 'v1.1');
  registry.push('team/web', 'v2.0');
  const { admin } = cp;
  const { username, password } = registry.credentials as { username: string; password: string };
  const count = async () => (await admin.get('/api/registries')).body.items.length;
  const before = await count();

  const wrong = await admin.post('/api/registries', {
    name: 'r',
    url: registry.url,
    username,
    password: 'not-it',
  });
  t.is(wrong.status, 400);
  t.regex(
    wrong.body.error.message,
    /^password: registry "r" refused access to its API: check its username and password/,
  );
  t.false(JSON.stringify(wrong.body).includes('not-it'));
  const nowhere = await admin.post('/api/registries', { name: 'r', url: 'http://127.0.0.1:9' });
  t.is(nowhere.status, 400);
  t.regex(nowhere.body.error.message, /^url: registry "r" at http:\/\/127\.0\.0\.1:9 is unreachable/);
  t.is(await count(), before, 'nothing saved');

  const insisted = await admin.expect(201, 'POST', '/api/registries', {
    name: 'r',
    url: 'http://127.0.0.1:9',
    unchecked: true,
  });
  t.regex(insisted.warning, /is unreachable/);
  // Mended: the right URL and credentials pass the check; a wrong password later is refused and
  // changes nothing.
  const mended = await admin.expect(200, 'PATCH', `/api/registries/${insisted.id}`, {
    url: registry.url,
    username,
    password,
  });
  t.is(mended.warning, undefined);
  const refused = await admin.request('PATCH', `/api/registries/${insisted.id}`, { password: 'not-it' });
  t.is(refused.status, 400);
  t.regex(refused.body.error.message, /^password: /);
  const preview = await admin.expect(
    200,
    'GET',
    `/api/registries/${insisted.id}/tags?image=team/web&pattern=v1.*`,
  );
  t.deepEqual(
    preview,
    { total: 3, matching: 2, tags: ['v1.1', 'v1.0'] },
    'the right password is still the one',
  );
});

test('references: unknown ids are 400s naming the field; deleting something in use is a 409', async (t) => {
  const cp = await startTestControlPlane();
  t.teardown(cp.close);
  const { admin } = cp;
  const ghost = '5b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b';
  const badService = await admin.post('/api/services', {
    name: 'api',
    registryId: ghost,
    image: 'team/api',
    tagMode: 'pinned',
    tag: 'v1',
  });
  t.is(badService.status, 400);
  t.is(badService.body.error.message, 'registryId: refers to something that does not exist');

  const registry = await admin.expect(201, 'POST', '/api/registries', {
    name: 'local',
    url: 'http://127.0.0.1:5000/',
    unchecked: true,
  });
  t.is(registry.url, 'http://127.0.0.1:5000');
  const service = await admin.expect(201, 'POST', '/api/services', {
    name: 'api',
    registryId: registry.id,
    image: 'team/api',
    tagMode: 'pinned',
    tag: 'v1',
  });
  const project = await admin.post('/api/projects', {
    name: 'shop',
    cpuMillicores: 500,
    memoryMb: 256,
    serviceIds: [service.id, ghost],
  });
  t.is(project.status, 400);
  t.regex(project.body.error.message, /serviceId/);
  t.is((await admin.get('/api/projects')).body.items.length, 0, 'the failed create left no project behind');

  await admin.expect(201, 'POST', '/api/projects', {
    name: 'shop',
    cpuMillicores: 500,
    memoryMb: 256,
    serviceIds: [service.id],
  });
  const inUse = await admin.delete(`/api/services/${service.id}`);
  t.is(inUse.status, 409);
  t.regex(inUse.body.error.message, /still used by project services/);
  t.is((await admin.delete(`/api/registries/${registry.id}`)).status, 409);
  const env = await admin.expect(201, 'POST', '/api/environments', {
    name: 'qa',
    baseDomain: 'qa.test',
    runtime: 'docker',
    defaultTtlSeconds: 600,
  });
  await admin.expect(201, 'POST', '/api/nodes', { environmentId: env.id, name: 'n1', host: 'h1' });
  t.is((await admin.delete(`/api/environments/${env.id}`)).status, 409);
  t.is((await admin.get(`/api/services/${ghost}`)).status, 404);
  t.is((await admin.get('/api/services/not-a-uuid')).status, 400);
});

test('services: pinned needs a tag, selectable a pattern; names are DNS labels', async (t) => {
  const cp = await startTestControlPlane();
  t.teardown(cp.close);
  const { admin } = cp;
  const registryId = '00000000-0000-4000-8000-000000000001';
  const noTag = await admin.post('/api/services', {
    name: 'db',
    registryId,
    image: 'postgres',
    tagMode: 'pinned',
  });
  t.is(noTag.status, 400);
  t.is(noTag.body.error.details.issues[0].path, 'body.tag');
  const slash = await admin.post('/api/services', {
    name: 'db',
    registryId,
    image: 'postgres',
    tagMode: 'pinned',
    tag: 'features/x',
  });
  t.is(slash.body.error.details.issues[0].path, 'body.tag');
  const upper = await admin.post('/api/services', {
    name: 'Web_App',
    registryId,
    image: 'web',
    tagMode: 'selectable',
    tagPattern: 'v*',
  });
  t.is(upper.status, 400);
  t.regex(upper.body.error.message, /body\.name: must be a DNS label/);
  // Both a pinned tag and a pattern: refused, naming the field, not silently half-taken.
  const both = await admin.post('/api/services', {
    name: 'web',
    registryId,
    image: 'team/web',
    tagMode: 'selectable',
    tagPattern: 'v*',
    tag: 'v1',
  });
  t.is(both.status, 400);
  t.regex(both.body.error.message, /^body\.tag: must be empty for a service with selectable tags/);
  const ok = await admin.expect(201, 'POST', '/api/services', {
    name: 'web',
    registryId,
    image: 'team/web',
    tagMode: 'selectable',
    tagPattern: 'v*',
  });
  t.is(ok.tag, null, 'a selectable service keeps no pinned tag');
  const switched = await admin.patch(`/api/services/${ok.id}`, { tagMode: 'pinned' });
  t.is(switched.status, 400, 'switching to pinned without a tag is refused');
  const pinned = await admin.expect(200, 'PATCH', `/api/services/${ok.id}`, {
    tagMode: 'pinned',
    tag: '1.4.2',
  });
  t.like(pinned, { tagMode: 'pinned', tag: '1.4.2', tagPattern: null });
});

test('pipelines: every save is a new immutable version; invalid graphs are refused with the field named', async (t) => {
  const cp = await startTestControlPlane();
  t.teardown(cp.close);
  const { admin } = cp;
  const project = await admin.expect(201, 'POST', '/api/projects', {
    name: 'shop',
    cpuMillicores: 500,
    memoryMb: 256,
  });
  const base = `/api/projects/${project.id}/pipeline`;
  t.is((await admin.get(base)).status, 404);
  const v1Graph = {
    nodes: [{ id: 'db', type: 'postgres.database', params: { database: 'shop' } }],
    edges: [],
  };
  const v1 = await admin.expect(201, 'POST', `${base}/versions`, { graph: v1Graph, comment: 'first' });
  t.is(v1.version, 1);
  const postgres = JSON.parse(readFileSync(resolve('plugins/postgres/package.json'), 'utf8')) as {
    version: string;
  };
  t.deepEqual(v1.plugins, { '@nullops/plugin-postgres': postgres.version }, 'the plugin release is pinned');
  // Checked against the installed plugins: unknown components and bad params are named.
  const unknown = await admin.post(`${base}/versions`, {
    graph: { nodes: [{ id: 'x', type: 'acme.nothing', params: {} }], edges: [] },
  });
  t.is(unknown.status, 400);
  t.is(unknown.body.error.details.issues[0].path, 'body.graph.nodes.0.type');
  t.regex(unknown.body.error.message, /no installed plugin provides "acme\.nothing"/);
  const badParam = await admin.post(`${base}/versions`, {
    graph: {
      nodes: [{ id: 'db', type: 'postgres.database', params: { database: 'Not A Name' } }],
      edges: [],
    },
  });
  t.is(badParam.body.error.details.issues[0].path, 'body.graph.nodes.0.params.database');
  const badReference = await admin.post(`${base}/versions`, {
    graph: {
      nodes: [
        { id: 'db', type: 'postgres.database', params: {} },
        {
          id: 'sql',
          type: 'postgres.sql',
          params: { connectionString: '${output:db.connectionString}', sql: 'select 1' },
        },
      ],
      edges: [],
    },
  });
  t.regex(badReference.body.error.message, /names a node that does not run before sql/);
  const v2Graph = {
    nodes: [
      ...v1Graph.nodes,
      {
        id: 'web',
        type: 'container.service',
        params: { service: 'web', env: { DB: '${secret:DB_PASSWORD}' } },
        position: [200, 40],
      },
    ],
    edges: [{ from: 'db', to: 'web' }],
  };
  // A service node must run one of the project's services: a typo is refused at save.
  const notOurs = await admin.post(`${base}/versions`, { graph: v2Graph });
  t.is(notOurs.status, 400);
  t.regex(
    notOurs.body.error.message,
    /body\.graph\.nodes\.1\.params\.service: "web" is not a service of this project/,
  );
  const registry = await admin.expect(201, 'POST', '/api/registries', {
    name: 'r',
    url: 'http://127.0.0.1:5999',
    unchecked: true,
  });
  const web = await admin.expect(201, 'POST', '/api/services', {
    name: 'web',
    registryId: registry.id,
    image: 'team/web',
    tagMode: 'pinned',
    tag: 'v1',
  });
  await admin.expect(200, 'PATCH', `/api/projects/${project.id}`, { serviceIds: [web.id] });
  const v2 = await admin.expect(201, 'POST', `${base}/versions`, { graph: v2Graph });
  t.is(v2.version, 2);
  t.is((await admin.get(base)).body.version, 2);
  t.deepEqual(
    (await admin.get(`${base}/versions`)).body.items.map((v: { version: number }) => v.version),
    [2, 1],
  );
  const old = await admin.get(`${base}/versions/1`);
  t.deepEqual(
    old.body.graph.nodes.map((n: { id: string }) => n.id),
    ['db'],
    'version 1 is unchanged',
  );
  t.is((await admin.get(`${base}/versions/9`)).status, 404);

  const cycle = await admin.post(`${base}/versions`, {
    graph: {
      nodes: [
        { id: 'a', type: 'x.y' },
        { id: 'b', type: 'x.y' },
      ],
      edges: [
        { from: 'a', to: 'b' },
        { from: 'b', to: 'a' },
      ],
    },
  });
  t.is(cycle.status, 400);
  t.regex(cycle.body.error.message, /body\.graph\.edges: form a cycle: a → b → a/);
  const dangling = await admin.post(`${base}/versions`, {
    graph: { nodes: [{ id: 'a', type: 'x.y' }], edges: [{ from: 'a', to: 'zzz' }] },
  });
  t.is(dangling.body.error.details.issues[0].path, 'body.graph.edges.0.to');
  const dup = await admin.post(`${base}/versions`, {
    graph: {
      nodes: [
        { id: 'a', type: 'x.y' },
        { id: 'a', type: 'x.y' },
      ],
    },
  });
  t.is(dup.body.error.details.issues[0].path, 'body.graph.nodes.1.id');
  t.is((await admin.get(`${base}/versions`)).body.items.length, 2, 'refused saves create no version');
});

test('team assignments decide what users see; environments without teams are open to all', async (t) => {
  const cp = await startTestControlPlane();
  t.teardown(cp.close);
  const fixture = await seedAccessFixture(cp);
  const { reader, fuller, noTeam } = fixture.clients;
  const names = async (c: ApiClient, path: string) =>
    (await c.get(path)).body.items.map((x: { name: string }) => x.name);
  t.deepEqual(await names(reader, '/api/projects'), ['shop']);
  t.deepEqual(await names(noTeam, '/api/projects'), []);
  t.deepEqual(await names(noTeam, '/api/environments'), []);
  const open = await cp.admin.expect(201, 'POST', '/api/environments', {
    name: 'sandbox',
    baseDomain: 'sb.test',
    runtime: 'docker',
    defaultTtlSeconds: 600,
  });
  t.deepEqual(await names(noTeam, '/api/environments'), ['sandbox']);
  t.is((await noTeam.get(`/api/environments/${open.id}`)).status, 200);
  t.is((await reader.get(`/api/projects/${fixture.ids.project}`)).body.myAccess, 'read');
  t.is((await fuller.get(`/api/projects/${fixture.ids.project}`)).body.myAccess, 'full');

  // The highest level across a user's teams wins.
  await cp.admin.expect(204, 'PUT', `/api/teams/${fixture.ids.fullTeam}/members/${fixture.ids.users.reader}`);
  t.is((await reader.get(`/api/projects/${fixture.ids.project}`)).body.myAccess, 'full');
  // Removing the project's assignments takes access away at once.
  await cp.admin.expect(200, 'PATCH', `/api/projects/${fixture.ids.project}`, { teams: [] });
  t.is((await reader.get(`/api/projects/${fixture.ids.project}`)).status, 403);
  t.deepEqual(await names(reader, '/api/projects'), []);
  const team = await cp.admin.get(`/api/teams/${fixture.ids.fullTeam}`);
  t.deepEqual(team.body.members.map((m: { username: string }) => m.username).sort(), ['fuller', 'reader']);
});

test('administrators cannot lock themselves or everyone out', async (t) => {
  const cp = await startTestControlPlane();
  t.teardown(cp.close);
  const me = (await cp.admin.get('/api/auth/me')).body.user;
  const self = await cp.admin.patch(`/api/users/${me.id}`, { disabled: true });
  t.is(self.status, 400);
  t.regex(self.body.error.message, /body\.disabled: you cannot lock yourself out/);
  t.is((await cp.admin.delete(`/api/users/${me.id}`)).status, 409);
  const other = await cp.admin.expect(201, 'POST', '/api/users', {
    username: 'ops',
    password: 'long-enough-password',
    role: 'admin',
  });
  const ops = await ApiClient.login(cp.url, 'ops', 'long-enough-password');
  await cp.admin.expect(200, 'PATCH', `/api/users/${other.id}`, { role: 'user' });
  t.is((await ops.get('/api/users')).status, 403, 'a demoted admin loses admin routes at once');
});

test('nodes: token rotate and revoke, thumbprint approval needs the exact pending value', async (t) => {
  const cp = await startTestControlPlane();
  t.teardown(cp.close);
  const { admin } = cp;
  const env = await admin.expect(201, 'POST', '/api/environments', {
    name: 'qa',
    baseDomain: 'qa.test',
    runtime: 'kubernetes',
    defaultTtlSeconds: 600,
  });
  const node = await admin.expect(201, 'POST', '/api/nodes', {
    environmentId: env.id,
    name: 'n1',
    host: '10.0.0.5',
    labels: { zone: 'a' },
  });
  t.like(node, { port: 5000, enabled: true, hasToken: true, status: 'unknown', labels: { zone: 'a' } });
  await admin.expect(204, 'DELETE', `/api/nodes/${node.id}/token`);
  t.false((await admin.get(`/api/nodes/${node.id}`)).body.hasToken);
  const print = Array.from({ length: 32 }, (_, i) =>
    (i * 7).toString(16).padStart(2, '0').toUpperCase().slice(-2),
  ).join(':');
  t.is(
    (await admin.post(`/api/nodes/${node.id}/thumbprint/approve`, { thumbprint: print })).status,
    409,
    'nothing pending',
  );
  await cp.database
    .db('nodes')
    .where('id', node.id)
    .update({ pendingThumbprint: print, status: 'untrusted' });
  const approved = await admin.expect(200, 'POST', `/api/nodes/${node.id}/thumbprint/approve`, {
    thumbprint: print,
  });
  t.like(approved, { thumbprint: print, pendingThumbprint: null, status: 'unknown' });
  const disabled = await admin.expect(200, 'PATCH', `/api/nodes/${node.id}`, { enabled: false });
  t.false(disabled.enabled);
});

test('audit log: every mutation with actor, target and outcome; filters and paging', async (t) => {
  const cp = await startTestControlPlane();
  t.teardown(cp.close);
  const { admin } = cp;
  const team = await admin.expect(201, 'POST', '/api/teams', { name: 'auditors' });
  await admin.expect(200, 'PATCH', `/api/teams/${team.id}`, { description: 'checks things' });
  await admin.post('/api/teams', { name: 'auditors' });
  await admin.expect(201, 'POST', '/api/users', { username: 'frank', password: 'long-enough-password' });
  const frank = await ApiClient.login(cp.url, 'frank', 'long-enough-password');
  await frank.post('/api/teams', { name: 'sneaky' });

  const all = await admin.get('/api/audit?action=teams.*');
  t.deepEqual(
    all.body.items.map((e: any) => [e.action, e.outcome, e.actorName]),
    [
      ['teams.create', 'denied', 'frank'],
      ['teams.create', 'failure', 'admin'],
      ['teams.update', 'success', 'admin'],
      ['teams.create', 'success', 'admin'],
    ],
  );
  t.is(all.body.items[2].targetId, team.id);
  t.is(all.body.items[3].targetId, team.id, 'a create records the new object id');
  t.is(all.body.items[3].targetName, 'auditors', 'the log names its target, not just its id');
  t.is(all.body.items[3].status, 201);
  const page = await admin.get('/api/audit?action=teams.*&limit=2&offset=2');
  t.is(page.body.total, 4);
  t.deepEqual(
    page.body.items.map((e: any) => e.outcome),
    ['success', 'success'],
  );
  const denied = await admin.get('/api/audit?outcome=denied');
  t.deepEqual(
    denied.body.items.map((e: any) => [e.action, e.outcome, e.actorName]),
    [['teams.create', 'denied', 'frank']],
    'exactly the one refused request, and nothing else',
  );
  t.is((await admin.get('/api/audit?from=not-a-date')).status, 400);
});

test('OpenAPI document, Prometheus metrics and errors as JSON', async (t) => {
  const cp = await startTestControlPlane();
  t.teardown(cp.close);
  const doc = await ApiClient.anonymous(cp.url).get('/api/openapi.json');
  t.is(doc.body.openapi, '3.1.0');
  const ops = Object.values<any>(doc.body.paths).flatMap((m) => Object.values<any>(m));
  t.is(new Set(ops.map((o) => o.operationId)).size, ops.length, 'operationIds are unique');
  const create = doc.body.paths['/api/projects'].post;
  t.deepEqual(create.requestBody.content['application/json'].schema.required.sort(), [
    'cpuMillicores',
    'memoryMb',
    'name',
  ]);
  t.truthy(
    doc.body.paths['/api/projects/{projectId}'].get.parameters.find(
      (p: any) => p.name === 'projectId' && p.in === 'path',
    ),
  );
  await cp.admin.get('/api/projects');
  const metrics = await fetch(`${cp.url}/metrics`);
  t.regex(metrics.headers.get('content-type') ?? '', /text\/plain/);
  const text = await metrics.text();
  t.regex(text, /nullops_http_requests_total\{method="GET",route="projects.list",status="200"\} \d+/);
  t.regex(text, /nullops_process_cpu_user_seconds_total/);
  const unknown = await ApiClient.anonymous(cp.url).get('/api/nothing-here');
  t.is(unknown.status, 404);
  t.is(unknown.body.error.code, 'not_found');
});
