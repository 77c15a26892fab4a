import { execFile, execFileSync } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { type AgentProcess, freePort, registerLocalNode, waitNodeReady } from '../helpers/agent-process.js';
import { docker, ensureTestImages } from '../helpers/docker.js';
import { viaIngress } from '../helpers/ingress.js';
import { type Stack, startStack } from '../helpers/stack.js';
import { startTestControlPlane } from '../helpers/test-control-plane.js';

// The security suite, part two: what a deployment's own containers and the network can reach.
// The host runs a plain HTTP server on all addresses (standing for whatever else a host serves);
// node-1's agent isolates its deployments (NULLOPS_HOST_ISOLATION=auto, as root here), node-2's is
// told not to (off): the positive control that shows the rule is what blocks.

const exec = promisify(execFile);
let s: Stack;
let hostServer: Server;
let hostPort: number;
let openAgent: AgentProcess;
let openEnv: { id: string };

const canChangeFirewall = (() => {
  try {
    execFileSync('iptables', ['-w', '5', '-S', 'INPUT'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

test.before(async () => {
  ensureTestImages();
  hostServer = createServer((_req, res) => res.end('host service\n'));
  await new Promise<void>((ok) => hostServer.listen(0, '0.0.0.0', ok));
  hostPort = (hostServer.address() as AddressInfo).port;
  s = await startStack({
    prepare: (registry) => registry.pushWeb('team/web', 'v1', 'web v1'),
    services: [{ name: 'web', image: 'team/web', tag: 'v1' }],
  });
  await s.savePipeline({
    nodes: [
      {
        id: 'web',
        type: 'container.service',
        params: { service: 'web', port: 80, healthCheck: { kind: 'http', path: '/' } },
      },
    ],
    edges: [],
  });
  openEnv = await s.admin.expect(201, 'POST', '/api/environments', {
    name: 'open',
    baseDomain: 'open.nullops.test',
    runtime: 'docker',
    defaultTtlSeconds: 3600,
  });
  const registered = await registerLocalNode(s.admin, openEnv.id, 'open-1', {
    env: { NULLOPS_HOST_ISOLATION: 'off' },
  });
  openAgent = registered.agent;
  await openAgent.start();
  await waitNodeReady(s.admin, registered.node.id);
});

test.after.always(async () => {
  await openAgent?.kill();
  await s?.stop();
  hostServer?.close();
});

/** Runs `script` with Node inside deployment `id`'s network, as one of its containers would; its JSON output. */
async function probeFrom(
  id: string,
  script: string,
): Promise<Record<string, { status?: number; error?: string }>> {
  const container = await docker.createContainer({
    Image: 'nullops-test/node:20',
    Cmd: ['node', '-e', script],
    HostConfig: { NetworkMode: `nullops-${id}` },
  });
  await container.start();
  await container.wait();
  const logs = (await container.logs({ stdout: true, stderr: true })) as unknown as Buffer;
  await container.remove({ force: true });
  const text = logs.toString('utf8');
  return JSON.parse(text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1));
}

const probes = (targets: Record<string, string>) => `
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
  const out = {};
  (async () => {
    for (const [key, url] of Object.entries(${JSON.stringify(targets)})) {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
        out[key] = { status: res.status };
      } catch (e) { out[key] = { error: String(e.cause?.code ?? e.name) }; }
    }
    console.log(JSON.stringify(out));
  })();`;

const deployIn = async (environmentId: string, name: string) => {
  const { id } = await s.admin.expect(201, 'POST', `/api/projects/${s.project.id}/deployments`, {
    environmentId,
    name,
    tags: {},
  });
  await s.until(id, 'running');
  return id as string;
};

test.serial(
  "container reach: a deployment's containers cannot open connections to the host's ports, and still reach each other; without the rule they could",
  async (t) => {
    if (!canChangeFirewall) return t.log('this test needs to change the host firewall (root): skipped');
    const id = await deployIn(s.env.id, 'walled');
    const gateway = (await docker.getNetwork(`nullops-${id}`).inspect()).IPAM?.Config?.[0]?.Gateway;
    const cpPort = new URL(s.cp.url).port;
    // The control plane and agent listen on loopback in tests; the host server stands for whatever
    // listens on all addresses (a control plane with NULLOPS_LISTEN_HOST=0.0.0.0, an ingress).
    const walled = await probeFrom(
      id,
      probes({
        sibling: 'http://web/',
        hostService: `http://${gateway}:${hostPort}/`,
        hostServiceAgain: `http://${gateway}:${hostPort}/`,
        controlPlanePort: `http://${gateway}:${cpPort}/healthz`,
      }),
    );
    t.deepEqual(walled.sibling, { status: 200 }, 'positive control: its own sibling answers');
    t.deepEqual(walled.hostService, { error: 'ECONNREFUSED' }, 'the host refuses it at once');
    t.deepEqual(walled.hostServiceAgain, { error: 'ECONNREFUSED' });
    t.falsy(walled.controlPlanePort?.status);
    // The host still opens connections to it: the edge serves its URL, health checks pass.
    t.is((await viaIngress(s.ingressPort, s.host('web', 'walled'))).status, 200);

    const open = await deployIn(openEnv.id, 'open');
    const gatewayOpen = (await docker.getNetwork(`nullops-${open}`).inspect()).IPAM?.Config?.[0]?.Gateway;
    const unguarded = await probeFrom(open, probes({ hostService: `http://${gatewayOpen}:${hostPort}/` }));
    t.deepEqual(unguarded.hostService, { status: 200 }, 'on the node without isolation the host answers');

    // The rule goes with its deployment; nothing of it is left behind.
    const rulesOf = async (deploymentId: string) =>
      (await exec('iptables', ['-w', '5', '-S', 'INPUT'])).stdout
        .split('\n')
        .filter((l) => l.includes(deploymentId));
    t.is((await rulesOf(id)).length, 1);
    t.is((await rulesOf(open)).length, 0);
    await s.admin.expect(202, 'DELETE', `/api/deployments/${id}`);
    await s.until(id, 'deleted').catch(() => undefined);
    const { eventually } = await import('../helpers/time.js');
    await eventually('the rule is removed', async () => (await rulesOf(id)).length === 0);
    await s.admin.expect(202, 'DELETE', `/api/deployments/${open}`);
  },
);

/** A raw HTTP/1.1 GET with `count` extra headers, to `port` with Host `host`. */
function manyHeaders(port: number, host: string, count: number): Promise<number> {
  const headers: Record<string, string> = { host };
  for (let i = 0; i < count; i++) headers[`x-pad-${i}`] = 'x';
  return new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers, agent: false }, (res) => {
      res.resume();
      ok(res.statusCode ?? 0);
    });
    req.on('error', fail);
    req.end();
  });
}

test.serial(
  "the edge cannot be confused: a pile of headers is refused at the ingress, and the agent's port answers nothing but the edge",
  async (t) => {
    const id = await deployIn(s.env.id, 'edge');
    t.is(await manyHeaders(s.ingressPort, s.host('web', 'edge'), 10), 200, 'positive control');
    t.is(await manyHeaders(s.ingressPort, s.host('web', 'edge'), 2000), 431);
    const agentPort = s.agent.options.port;
    for (const path of ['/', '/healthz', '/metrics']) {
      const status = await new Promise<number>((ok, fail) =>
        httpsRequest({ host: '127.0.0.1', port: agentPort, path, rejectUnauthorized: false }, (res) => {
          res.resume();
          ok(res.statusCode ?? 0);
        })
          .on('error', fail)
          .end(),
      );
      t.is(status, 401, `GET ${path} on the agent port without the edge key`);
    }
    await s.admin.expect(202, 'DELETE', `/api/deployments/${id}`);
  },
);

test('/metrics: with a metrics token, only for it; without one, only from this machine and not through a proxy', async (t) => {
  const token = 'scrape-token-0123456789';
  const cp = await startTestControlPlane({ NULLOPS_METRICS_TOKEN: token });
  t.teardown(cp.close);
  t.is((await fetch(`${cp.url}/metrics`)).status, 401, 'loopback alone is not enough when a token is set');
  t.is(
    (await fetch(`${cp.url}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456' } })).status,
    401,
  );
  const scraped = await fetch(`${cp.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  t.is(scraped.status, 200);
  t.regex(await scraped.text(), /nullops_/);

  const local = await startTestControlPlane();
  t.teardown(local.close);
  t.is((await fetch(`${local.url}/metrics`)).status, 200, 'from this machine');
  t.is(
    (await fetch(`${local.url}/metrics`, { headers: { 'x-forwarded-for': '203.0.113.9' } })).status,
    403,
    'through a proxy on this machine',
  );
});

test('the CLI reads the password without echoing it on a terminal', async (t) => {
  const password = 'never-on-screen-4242';
  const port = await freePort();
  // `script` gives the CLI a real terminal; the password is typed into it.
  const cli = resolve('cli/bin/nullops.js');
  const typed = `sleep 1; printf '%s\\r' '${password}'`;
  const { stdout } = await exec(
    'sh',
    ['-c', `(${typed}) | script -qec "node ${cli} login http://127.0.0.1:${port} -u someone" /dev/null`],
    { env: { PATH: process.env.PATH, HOME: process.env.HOME } },
  ).catch((err) => err as { stdout: string });
  t.regex(stdout, /password:/, 'it asked');
  t.false(stdout.includes(password), `the terminal showed: ${JSON.stringify(stdout)}`);
});
