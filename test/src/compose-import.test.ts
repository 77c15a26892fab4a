import test from 'ava';
import { ensureTestImages } from './helpers/docker.js';
import { viaIngress } from './helpers/ingress.js';
import { type Stack, startStack } from './helpers/stack.js';
import { eventually } from './helpers/time.js';

// docker-compose import: realistic files of several shapes through POST /api/projects/import, a
// report that names every key left behind, nothing written on any error, and an imported file
// deployed until its URL answers.

let s: Stack;

test.before(async () => {
  ensureTestImages();
  s = await startStack({
    prepare: (registry) => {
      registry.pushWeb('team/web', 'v1', 'web v1');
      registry.pushWeb('team/api', 'v3', 'api v3');
    },
    services: [{ name: 'web', image: 'team/web', tag: 'v1' }],
  });
});

test.after.always(async () => {
  await s?.stop();
});

const catalog = async () => ({
  services: (await s.admin.get('/api/services')).body.items.length,
  projects: (await s.admin.get('/api/projects')).body.items.length,
});

const shop = (host: string) => `
name: Shop_App
x-common: &common
  restart: unless-stopped
  logging: { driver: json-file }
services:
  db:
    <<: *common
    image: postgres:16
    environment:
      - POSTGRES_PASSWORD=\${DB_PASSWORD:?set the database password}
      - POSTGRES_DB=shop
      - FROM_SHELL
    volumes:
      - pgdata:/var/lib/postgresql/data
      - ./init.sql:/docker-entrypoint-initdb.d/init.sql
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U postgres"]
      interval: 5s
      timeout: 3s
      retries: 5
      start_period: 10s
  shop_api:
    <<: *common
    build: ./api
    image: ${host}/team/api:v3
    command: node server.js --port 3000 "two words"
    ports: ["8080:3000", "9229:9229"]
    environment:
      DATABASE_URL: postgres://postgres@db/shop
      WORKERS: 4
      DEBUG: "$$NOT_A_VARIABLE"
    depends_on:
      db: { condition: service_healthy }
    deploy:
      replicas: 2
      resources:
        limits: { cpus: "0.5", memory: 512M }
    container_name: shop-api
    networks: [backend]
networks:
  backend: {}
volumes:
  pgdata: {}
`;

test.serial(
  'a compose file with anchors, variables, limits and health checks: the dry-run report says what maps and what not, and writes nothing',
  async (t) => {
    const before = await catalog();
    const res = await s.admin.expect(200, 'POST', '/api/projects/import', {
      compose: shop(s.registry.host),
      variables: { DB_PASSWORD: 'pw-from-ci' },
      dryRun: true,
    });
    t.is(res.project, null);
    const r = res.report;
    t.is(r.projectName, 'shop-app');
    const db = r.services.find((x: { name: string }) => x.name === 'db');
    const api = r.services.find((x: { name: string }) => x.name === 'shop-api');
    // Official images come from the Docker Hub registry every install has.
    t.like(db, { registryName: 'Docker Hub', image: 'postgres', tagMode: 'pinned', tag: '16' });
    t.like(api, { composeName: 'shop_api', registryName: 'local', image: 'team/api', tag: 'v3' });
    t.true(api.notes.some((n: string) => /renamed from "shop_api"/.test(n)));

    const nodes = Object.fromEntries(
      r.graph.nodes.map((n: { id: string; params: unknown }) => [n.id, n.params]),
    );
    t.deepEqual(nodes.db.env, { POSTGRES_PASSWORD: 'pw-from-ci', POSTGRES_DB: 'shop' });
    t.deepEqual(nodes.db.volumes, { pgdata: '/var/lib/postgresql/data' });
    t.deepEqual(nodes.db.healthCheck, { kind: 'command', command: ['sh', '-c', 'pg_isready -U postgres'] });
    // start_period + retries × (interval + timeout)
    t.is(nodes.db.healthTimeoutSeconds, 10 + 5 * (5 + 3));
    t.deepEqual(nodes['shop-api'].command, ['node', 'server.js', '--port', '3000', 'two words']);
    t.is(nodes['shop-api'].port, 3000);
    t.deepEqual(nodes['shop-api'].env, {
      DATABASE_URL: 'postgres://postgres@db/shop',
      WORKERS: '4',
      DEBUG: '$NOT_A_VARIABLE',
    });
    t.like(nodes['shop-api'], { cpuMillicores: 500, memoryMb: 512 });
    t.deepEqual(r.graph.edges, [{ from: 'db', to: 'shop-api' }]);
    // db has no limits: the default share for it, plus shop-api's limits.
    t.like(r.budget, { cpuMillicores: 500 + 250, memoryMb: 512 + 256 });

    const unmapped = Object.fromEntries(
      r.unmapped.map((u: { path: string; reason: string }) => [u.path, u.reason]),
    );
    for (const path of [
      'networks',
      'services.db.restart',
      'services.db.logging',
      'services.db.environment.FROM_SHELL',
      'services.db.volumes.1',
      'services.shop_api.build',
      'services.shop_api.container_name',
      'services.shop_api.networks',
      'services.shop_api.deploy.replicas',
      'services.shop_api.ports',
    ])
      t.truthy(unmapped[path], `${path} is reported: ${JSON.stringify(r.unmapped)}`);
    t.regex(unmapped['services.db.volumes.1'] as string, /bind mount/);
    t.regex(unmapped['services.shop_api.ports'] as string, /one port per service is routed \(3000\)/);
    t.false(JSON.stringify(r.unmapped).includes('pgdata'), 'the named volume is mapped');
    t.deepEqual(await catalog(), before, 'a dry run writes nothing');
  },
);

test.serial('bad files get a 400 that names where the problem is, and nothing is written', async (t) => {
  const before = await catalog();
  const cases: [string, Record<string, unknown>, RegExp][] = [
    [
      'not YAML',
      { compose: 'services:\n  web:\n    image: [unclosed\n', name: 'x' },
      /^body\.compose: is not valid YAML \(line 4, column 1\): Flow sequence/,
    ],
    [
      'a typo in a key',
      { compose: 'services:\n  web:\n    imag: nginx\n', name: 'x' },
      /^body\.compose\.services\.web: .*"imag"/,
    ],
    [
      'a wrong type',
      { compose: 'services:\n  web:\n    image: nginx\n    ports: 80\n', name: 'x' },
      /^body\.compose\.services\.web\.ports: /,
    ],
    [
      'a build without an image',
      { compose: 'services:\n  app:\n    build: .\n', name: 'x' },
      /^body\.compose\.services\.app\.image: is required: NullOps deploys images from a registry/,
    ],
    [
      'an unknown registry host',
      { compose: 'services:\n  app:\n    image: ghcr.io/acme/app:1\n', name: 'x' },
      /^body\.compose\.services\.app\.image: comes from ghcr\.io, which is not a registry here/,
    ],
    [
      'a missing required variable',
      { compose: 'services:\n  app:\n    image: "app:${TAG:?give the tag}"\n', name: 'x' },
      /^body\.variables\.TAG: give the tag/,
    ],
    [
      'depends_on a service that is not there',
      { compose: 'services:\n  app:\n    image: app:1\n    depends_on: [db]\n', name: 'x' },
      /^body\.compose\.services\.app\.depends_on: names "db"/,
    ],
    [
      'a dependency cycle',
      {
        compose:
          'services:\n  a:\n    image: a:1\n    depends_on: [b]\n  b:\n    image: b:1\n    depends_on: [a]\n',
        name: 'x',
      },
      /^body\.compose\.services: depends_on cannot be imported: .*cycle/,
    ],
    ['no project name', { compose: 'services:\n  app:\n    image: app:1\n' }, /^body\.name: is required/],
    [
      'a selectable service that is not in the file',
      { compose: 'services:\n  app:\n    image: app:1\n', name: 'x', selectable: { ghost: 'v*' } },
      /^body\.selectable\.ghost: /,
    ],
  ];
  for (const [what, body, message] of cases) {
    const res = await s.admin.request('POST', '/api/projects/import', body);
    t.is(res.status, 400, `${what}: ${JSON.stringify(res.body)}`);
    t.regex(res.body.error.message, message, what);
  }
  t.deepEqual(await catalog(), before);
});

test.serial(
  'with every option (selectable patterns, variables, a registry) the report and the project agree; a project gets its own service where an existing one of its name differs',
  async (t) => {
    const registryId = (await s.admin.get('/api/registries')).body.items.find(
      (r: { name: string }) => r.name === 'local',
    ).id;
    const compose = `
services:
  web:
    image: team/web:v1
  api:
    image: team/api:\${API_TAG}
  db:
    image: postgres:16
  cache:
    image: team/web:v1
`;
    const input = {
      compose,
      name: 'every-option',
      variables: { API_TAG: 'v3' },
      registryId,
      selectable: { api: 'v3*', cache: 'v1*' },
    };
    const dry = await s.admin.expect(200, 'POST', '/api/projects/import', { ...input, dryRun: true });
    const done = await s.admin.expect(201, 'POST', '/api/projects/import', input);
    t.deepEqual(done.report, dry.report, 'the preview is what the import did');
    const project = (await s.admin.get(`/api/projects/${done.project.id}`)).body;
    const settings = (x: Record<string, unknown>) => ({
      name: x.name,
      registryId: x.registryId,
      image: x.image,
      tagMode: x.tagMode,
      tag: x.tag,
      tagPattern: x.tagPattern,
    });
    const byName = (items: { name: string }[]) => [...items].sort((a, b) => a.name.localeCompare(b.name));
    t.deepEqual(
      byName(project.services).map(settings),
      byName(done.report.services).map(settings),
      'each service is what the report said',
    );
    t.like(Object.fromEntries(done.report.services.map((x: { name: string }) => [x.name, settings(x)])), {
      web: { registryId, image: 'team/web', tagMode: 'pinned', tag: 'v1', tagPattern: null },
      api: { registryId, image: 'team/api', tagMode: 'selectable', tag: null, tagPattern: 'v3*' },
      cache: { registryId, image: 'team/web', tagMode: 'selectable', tagPattern: 'v1*' },
      // Every image without a registry host comes from the registry given, official ones too.
      db: { registryId, image: 'postgres', tagMode: 'pinned', tag: '16' },
    });
    // Reused only where identical: the stack's web (same registry, image, pinned v1); the api of
    // the earlier import is selectable by another pattern.
    const existing = (await s.admin.get('/api/services')).body.items as { id: string; name: string }[];
    const webBefore = existing.find((x) => x.name === 'web');
    const reported = Object.fromEntries(
      done.report.services.map((x: { name: string; existingId: string | null }) => [x.name, x.existingId]),
    );
    t.is(reported.web, webBefore?.id);
    t.is(project.services.find((x: { name: string }) => x.name === 'web').id, webBefore?.id);

    // Another project's web runs another image: it gets its own web; the first one is untouched.
    const other = await s.admin.expect(201, 'POST', '/api/projects/import', {
      compose: 'services:\n  web:\n    image: nginx:1.27\n',
      name: 'own-web',
    });
    const ownWeb = other.project.services[0];
    t.like(ownWeb, { name: 'web', image: 'nginx', tag: '1.27' });
    t.not(ownWeb.id, webBefore?.id);
    t.like((await s.admin.get(`/api/services/${webBefore?.id}`)).body, { image: 'team/web', tag: 'v1' });
    // One project cannot have two services of one name: they are its deployments' host names.
    const twoWebs = await s.admin.request('PATCH', `/api/projects/${other.project.id}`, {
      serviceIds: [ownWeb.id, webBefore?.id],
    });
    t.is(twoWebs.status, 409);
    t.regex(twoWebs.body.error.message, /project "own-web" would have two services named "web"/);
    t.deepEqual(
      (await s.admin.get(`/api/projects/${other.project.id}`)).body.services.map((x: { id: string }) => x.id),
      [ownWeb.id],
      'nothing changed',
    );
  },
);

test.serial(
  'an imported file deploys: the service it routes answers through the ingress, after the one it depends on is healthy',
  async (t) => {
    const compose = `
services:
  api:
    image: ${s.registry.host}/team/api:v3
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:80/"]
      interval: 1s
      retries: 20
  web:
    image: ${s.registry.host}/team/web:v1
    command: ["sh", "-c", "echo \\"$$GREETING from \${WHO}\\" > /www/index.html; exec httpd -f -p 8080 -h /www"]
    environment:
      GREETING: hello
    ports: ["8080"]
    depends_on:
      api: { condition: service_healthy }
`;
    const imported = await s.admin.expect(201, 'POST', '/api/projects/import', {
      compose,
      name: 'imported',
      variables: { WHO: 'compose' },
      selectable: { api: 'v*' },
      defaultCpuMillicores: 50,
      defaultMemoryMb: 64,
    });
    t.is(imported.pipelineVersion, 1);
    t.like(imported.project, { name: 'imported', cpuMillicores: 100, memoryMb: 128 });
    t.deepEqual(imported.project.services.map((x: { name: string }) => x.name).sort(), ['api', 'web']);
    const web = imported.report.services.find((x: { name: string }) => x.name === 'web');
    t.truthy(web.existingId, 'the existing web service (same registry and image) is reused');
    t.like(
      imported.report.services.find((x: { name: string }) => x.name === 'api'),
      { tagMode: 'selectable', tagPattern: 'v*', existingId: null },
    );

    const created = await s.admin.expect(201, 'POST', `/api/projects/${imported.project.id}/deployments`, {
      environmentId: s.env.id,
      name: 'from-compose',
      tags: { api: 'v3' },
    });
    await s.until(created.id, 'running');
    // No health check on web: running means started, and httpd may take a moment to listen.
    const res = await eventually('web answers', async () => {
      const r = await viaIngress(s.ingressPort, s.host('web', 'from-compose'));
      return r.status === 200 && r;
    });
    t.is(res.body.trim(), 'hello from compose');
    const history = (await s.admin.get(`/api/deployments/${created.id}/history`)).body.items as {
      kind: string;
      details: { step?: string } | null;
    }[];
    const at = (kind: string, step: string) =>
      history.findIndex((e) => e.kind === kind && e.details?.step === step);
    t.true(at('step.succeeded', 'api') < at('step.started', 'web'), 'web starts after api is healthy');
    await s.admin.expect(202, 'DELETE', `/api/deployments/${created.id}`);
    await s.until(created.id, 'deleted');
  },
);
