import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import test from 'ava';
import { GenericContainer, type StartedTestContainer, Wait } from 'testcontainers';
import { freePort, registerLocalNode, waitNodeReady } from './helpers/agent-process.js';
import { ApiClient } from './helpers/api-client.js';
import { deploymentReaches } from './helpers/deployment-state.js';
import { docker, ensureTestImages, removeLabelled } from './helpers/docker.js';
import { viaIngress } from './helpers/ingress.js';
import { POSTGRES_IMAGE } from './helpers/postgres.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { DEADLINE_MS } from './helpers/time.js';
import { webProject } from './helpers/web-project.js';

/**
 * The control plane as a platform team installs it: the image built from core/Dockerfile (FROM a
 * Node base built offline), run against a PostgreSQL container with its own URL and key, serving
 * the API, the web UI and a deployment's URL through its ingress, with a Docker agent beside it.
 */

process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';

const IMAGE = 'nullops/control-plane:test';
const BASE_IMAGE = 'nullops-test/node:20';
const ADMIN_PASSWORD = `admin-${randomBytes(9).toString('hex')}`;

let postgres: StartedTestContainer;
let controlPlane: StartedTestContainer;
let registry: TestRegistry;
let url = '';
let ingressPort = 0;
const cleanup: (() => Promise<unknown>)[] = [];
const deployments: string[] = [];

test.before(async () => {
  ensureTestImages();
  const built = Date.now();
  await GenericContainer.fromDockerfile(resolve('.'), 'core/Dockerfile')
    .withBuildArgs({ BASE_IMAGE })
    .build(IMAGE, { deleteOnExit: false });
  const image = await docker.getImage(IMAGE).inspect();
  console.log(
    `control-plane image built in ${Math.round((Date.now() - built) / 1000)} s, ${Math.round(image.Size / 1e6)} MB`,
  );
  postgres = await new GenericContainer(POSTGRES_IMAGE)
    .withEnvironment({
      POSTGRES_USER: 'nullops',
      POSTGRES_PASSWORD: 'a-database-password',
      POSTGRES_DB: 'nullops',
    })
    .withExposedPorts(5432)
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/))
    .withStartupTimeout(DEADLINE_MS)
    .start();
  const port = await freePort();
  ingressPort = await freePort();
  url = `http://127.0.0.1:${port}`;
  controlPlane = await new GenericContainer(IMAGE)
    .withNetworkMode('host')
    .withEnvironment({
      DATABASE_URL: `postgres://nullops:a-database-password@127.0.0.1:${postgres.getMappedPort(5432)}/nullops`,
      PORT: String(port),
      NULLOPS_LISTEN_HOST: '127.0.0.1',
      NULLOPS_INGRESS_PORT: String(ingressPort),
      NULLOPS_ADMIN_PASSWORD: ADMIN_PASSWORD,
      NULLOPS_SECRET_KEY: randomBytes(32).toString('hex'),
      NULLOPS_AGENT_RECONNECT_BASE_MS: '100',
      NULLOPS_AGENT_RECONNECT_MAX_MS: '400',
    })
    .withWaitStrategy(Wait.forLogMessage(/NullOps control plane is listening/))
    .withStartupTimeout(DEADLINE_MS)
    .start();
  registry = await startRegistry();
  registry.pushWeb('team/web', 'v1', 'web v1');
});

test.after.always(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => {});
  await controlPlane?.stop({ timeout: 5 }).catch(() => {});
  await postgres?.stop({ timeout: 5 }).catch(() => {});
  await removeLabelled(docker, deployments);
  await registry?.stop();
});

test.serial('the image runs as non-root, has a health check, and holds no agent', async (t) => {
  const { Config } = await docker.getImage(IMAGE).inspect();
  t.is(Config.User, '10001:10001');
  t.truthy(Config.Healthcheck?.Test?.join(' ').includes('/healthz'));
  const listing = await controlPlane.exec([
    'sh',
    '-c',
    'ls /app /app/node_modules/@nullops; ls /app/node_modules | grep -c . ; id -u',
  ]);
  t.is(listing.exitCode, 0, listing.output);
  t.notRegex(
    listing.output,
    /agent-docker|agent-k8s|agent-host|all-in-one/,
    'no agent package, no agent code',
  );
  t.regex(listing.output, /\b10001\b/);
});

test.serial(
  'the control plane from its image: API, web UI, and a deployment served through its ingress with an agent beside it',
  async (t) => {
    t.is((await fetch(`${url}/healthz`)).status, 200);
    const page = await fetch(`${url}/`);
    t.is(page.status, 200);
    t.regex(await page.text(), /<nullops-app|<script type="module"/, 'the web UI is served');
    const admin = await ApiClient.login(url, 'admin', ADMIN_PASSWORD);
    const project = await webProject(admin, registry.url, {
      name: 'shop',
      cpuMillicores: 200,
      memoryMb: 128,
    });
    const env = await admin.expect(201, 'POST', '/api/environments', {
      name: 'qa',
      baseDomain: 'nullops.test',
      runtime: 'docker',
      defaultTtlSeconds: 3600,
    });
    const { node, agent } = await registerLocalNode(admin, env.id);
    cleanup.push(() => agent.kill());
    await agent.start();
    await waitNodeReady(admin, node.id);
    const created = await admin.expect(201, 'POST', `/api/projects/${project.id}/deployments`, {
      environmentId: env.id,
      name: 'one',
      tags: {},
    });
    deployments.push(created.id);
    await deploymentReaches(admin, created.id, 'running');
    const answer = await viaIngress(ingressPort, 'web.one.qa.nullops.test');
    t.is(answer.status, 200);
    t.is(answer.body.trim(), 'web v1');
  },
);
