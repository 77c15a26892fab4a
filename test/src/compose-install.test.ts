import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request } from 'node:https';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { GenericContainer } from 'testcontainers';
import { freePort } from './helpers/agent-process.js';
import { ApiClient } from './helpers/api-client.js';
import { deploymentReaches } from './helpers/deployment-state.js';
import { docker, ensureTestImages, removeLabelled } from './helpers/docker.js';
import { viaIngress } from './helpers/ingress.js';
import { POSTGRES_IMAGE } from './helpers/postgres.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { DEADLINE_MS, eventually } from './helpers/time.js';
import { webProject } from './helpers/web-project.js';

process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';

const run = promisify(execFile);

/**
 * deploy/compose as a platform team runs it (docker-compose v1.29 from Debian), from images built
 * out of this repository, with Caddy's own CA standing in for Let's Encrypt (nothing here is
 * reachable from the Internet): HTTPS for the web UI and for every service URL.
 */
const PROJECT = `nullops-compose-${randomBytes(4).toString('hex')}`;
const PUBLIC_HOST = 'nullops.compose.test';
const ADMIN_PASSWORD = `admin-${randomBytes(9).toString('hex')}`;
const BASE_IMAGE = 'nullops-test/node:20';

let registry: TestRegistry;
let environment: NodeJS.ProcessEnv;
let httpPort = 0;
let httpsPort = 0;
const deployments: string[] = [];
const forwarders: string[] = [];

function compose(...args: string[]) {
  return run('docker-compose', ['-p', PROJECT, '-f', resolve('deploy/compose/docker-compose.yml'), ...args], {
    env: environment,
    timeout: DEADLINE_MS * 2,
  });
}

/** The API of the control-plane container, at its address on the compose network (not published). */
async function controlPlaneUrl(): Promise<string> {
  const { stdout } = await compose('ps', '-q', 'control-plane');
  const info = await docker.getContainer(stdout.trim()).inspect();
  const address = Object.values(info.NetworkSettings.Networks)[0]?.IPAddress;
  return `http://${address}:8080`;
}

/** A GET over HTTPS through Caddy for `host`, trusting only Caddy's own root certificate. */
function viaCaddy(host: string, ca: string, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((ok, fail) => {
    const req = request(
      { host: '127.0.0.1', port: httpsPort, path, servername: host, headers: { host }, ca, agent: false },
      (res) => {
        let body = '';
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => ok({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', fail);
    req.end();
  });
}

/**
 * A registry has one URL for everyone; the test registry's is on this machine's loopback (where the
 * engine pulls from it without TLS). Inside the control-plane container that address is its own,
 * so a forwarder in the container's network takes it to the registry on the host.
 */
async function reachRegistryFromControlPlane(): Promise<void> {
  const { stdout } = await compose('ps', '-q', 'control-plane');
  const id = stdout.trim();
  const info = await docker.getContainer(id).inspect();
  const gateway = Object.values(info.NetworkSettings.Networks)[0]?.Gateway;
  const port = new URL(registry.url).port;
  const forwarder = await docker.createContainer({
    Image: 'nullops-test/node:20',
    Cmd: [
      'node',
      '-e',
      `const net = require('node:net'); net.createServer((c) => { const u = net.connect(${port}, '${gateway}'); c.pipe(u).pipe(c); u.on('error', () => c.destroy()); c.on('error', () => u.destroy()); }).listen(${port}, '127.0.0.1');`,
    ],
    HostConfig: { NetworkMode: `container:${id}`, AutoRemove: true },
  });
  await forwarder.start();
  forwarders.push(forwarder.id);
  await eventually('the registry from the control plane', () =>
    run('docker', [
      'exec',
      id,
      'node',
      '-e',
      `fetch('${registry.url}/v2/').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`,
    ]).then(
      () => true,
      () => false,
    ),
  );
}

async function caddyRoot(): Promise<string> {
  return eventually('Caddy’s own CA', async () => {
    const { stdout } = await compose(
      'exec',
      '-T',
      'caddy',
      'cat',
      '/data/caddy/pki/authorities/local/root.crt',
    ).catch(() => ({ stdout: '' }));
    return stdout.includes('BEGIN CERTIFICATE') ? stdout : undefined;
  });
}

test.before(async () => {
  ensureTestImages();
  // The images (cached when the image tests built them already).
  await GenericContainer.fromDockerfile(resolve('.'), 'core/Dockerfile')
    .withBuildArgs({ BASE_IMAGE })
    .build('nullops/control-plane:test', { deleteOnExit: false });
  await GenericContainer.fromDockerfile(resolve('.'), 'agent-host/Dockerfile')
    .withBuildArgs({ BASE_IMAGE, AGENT: 'agent-docker' })
    .build('nullops/agent-docker:test', { deleteOnExit: false });
  registry = await startRegistry({ everyInterface: true });
  registry.pushWeb('team/web', 'v1', 'web from compose');
  httpPort = await freePort();
  httpsPort = await freePort();
  environment = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NULLOPS_POSTGRES_IMAGE: POSTGRES_IMAGE,
    NULLOPS_CONTROL_PLANE_IMAGE: 'nullops/control-plane:test',
    NULLOPS_AGENT_IMAGE: 'nullops/agent-docker:test',
    NULLOPS_CADDY_IMAGE: 'nullops-test/caddy:2',
    NULLOPS_HTTP_PORT: String(httpPort),
    NULLOPS_HTTPS_PORT: String(httpsPort),
    NULLOPS_AGENT_PORT: String(await freePort()),
    NULLOPS_PUBLIC_URL: `https://${PUBLIC_HOST}`,
    NULLOPS_LOCAL_DOMAIN: 'compose.test',
    NULLOPS_CADDY_TLS_ISSUER: 'internal',
    NULLOPS_SECRET_KEY: randomBytes(32).toString('base64'),
    NULLOPS_ADMIN_PASSWORD: ADMIN_PASSWORD,
    POSTGRES_PASSWORD: randomBytes(12).toString('hex'),
    NULLOPS_AGENT_TOKEN: randomBytes(32).toString('hex'),
  };
});

test.after.always(async () => {
  for (const id of forwarders)
    await docker
      .getContainer(id)
      .remove({ force: true })
      .catch(() => {});
  await compose('down', '-v', '--remove-orphans').catch(() => {});
  await removeLabelled(docker, deployments);
  await registry?.stop();
});

test.serial(
  'the compose install comes up and serves the web UI and a deployment over HTTPS; its data outlives the containers',
  async (t) => {
    await compose('up', '-d');
    const api = await controlPlaneUrl();
    const admin = await eventually('the control plane answering', () =>
      ApiClient.login(api, 'admin', ADMIN_PASSWORD).catch(() => undefined),
    );
    const ca = await caddyRoot();

    // The web UI at the public host, over HTTPS; plain HTTP only redirects there.
    const page = await eventually('the web UI through Caddy', async () => {
      const res = await viaCaddy(PUBLIC_HOST, ca).catch(() => undefined);
      return res?.status === 200 ? res : undefined;
    });
    t.regex(page.body, /<script type="module"/);
    const plain = await viaIngress(httpPort, PUBLIC_HOST);
    t.is(plain.status, 308);

    // The agent beside it is node "local" of environment "local", online.
    const node = await eventually('node "local" online', async () => {
      const nodes = (await admin.get('/api/nodes')).body.items as {
        name: string;
        status: string;
        environmentId: string;
      }[];
      return nodes.find((n) => n.name === 'local' && n.status === 'online');
    });
    await reachRegistryFromControlPlane();
    const project = await webProject(admin, registry.url, {
      name: 'shop',
      cpuMillicores: 100,
      memoryMb: 128,
    });
    const created = await admin.expect(201, 'POST', `/api/projects/${project.id}/deployments`, {
      environmentId: node.environmentId,
      name: 'one',
    });
    deployments.push(created.id);
    await deploymentReaches(admin, created.id, 'running');
    const host = 'web.one.local.compose.test';
    const answer = await eventually('the service over HTTPS', async () => {
      const res = await viaCaddy(host, ca).catch(() => undefined);
      return res?.status === 200 ? res : undefined;
    });
    t.is(answer.body.trim(), 'web from compose');

    // Down and up again (the volumes stay): the same deployment, answering at the same URL.
    await compose('down');
    await compose('up', '-d');
    const again = await eventually('the control plane back', async () =>
      ApiClient.login(await controlPlaneUrl(), 'admin', ADMIN_PASSWORD).catch(() => undefined),
    );
    t.is((await again.get(`/api/deployments/${created.id}`)).body.name, 'one');
    const back = await eventually('the service over HTTPS again', async () => {
      const res = await viaCaddy(host, await caddyRoot()).catch(() => undefined);
      return res?.status === 200 ? res : undefined;
    });
    t.is(back.body.trim(), 'web from compose');
  },
);
