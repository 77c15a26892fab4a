import { type ChildProcess, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { loadOrCreateCertificate } from '@nullops/agent-host';
import { CaddyDriver } from '@nullops/core';
import test from 'ava';
import { freePort, tempDir } from './helpers/agent-process.js';
import { viaIngress } from './helpers/ingress.js';
import { eventually } from './helpers/time.js';

test('the Caddy driver routes exact hosts to the node edge over pinned TLS with the edge headers, and 404s the rest', async (t) => {
  const dir = await tempDir('nullops-caddy-');
  const adminPort = await freePort();
  const httpPort = await freePort();
  await writeFile(
    join(dir, 'init.json'),
    JSON.stringify({ admin: { listen: `127.0.0.1:${adminPort}`, config: { persist: false } } }),
  );
  const caddy: ChildProcess = spawn('caddy', ['run', '--config', join(dir, 'init.json')], {
    stdio: 'ignore',
    env: { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
  });
  // The node's edge, as an agent serves it: its own certificate, and only requests with the edge key.
  const cert = await loadOrCreateCertificate(join(dir, 'agent'));
  const impostor = await loadOrCreateCertificate(join(dir, 'impostor'));
  const edge = (identity: { cert: string; key: string }) =>
    createServer({ cert: identity.cert, key: identity.key }, (req, res) => {
      if (req.headers['x-nullops-edge-key'] !== 'the-edge-key') return void res.writeHead(401).end();
      res.end(`hello from ${req.headers.host} for ${req.headers['x-nullops-edge-target']}`);
    }).listen(0, '127.0.0.1');
  const upstream = edge(cert);
  const other = edge(impostor);
  t.teardown(() => {
    caddy.kill();
    upstream.close();
    other.close();
  });
  await eventually(
    'caddy admin API',
    async () => (await fetch(`http://127.0.0.1:${adminPort}/config/`).catch(() => undefined))?.ok,
  );
  const port = (upstream.address() as AddressInfo).port;
  const otherPort = (other.address() as AddressInfo).port;
  const route = (host: string, edgePort: number) => ({
    host,
    deploymentId: 'dep-1',
    service: 'web',
    edge: {
      nodeId: 'n',
      host: '127.0.0.1',
      port: edgePort,
      thumbprint: cert.thumbprint,
      certificate: cert.cert,
      key: 'the-edge-key',
    },
  });

  const driver = new CaddyDriver({
    adminUrl: `http://127.0.0.1:${adminPort}`,
    listen: `127.0.0.1:${httpPort}`,
  });
  // The second host points at a server with another certificate: pinning must refuse it.
  await driver.apply([route('web.demo.qa.example.test', port), route('api.demo.qa.example.test', otherPort)]);
  await eventually(
    'route live',
    async () => (await viaIngress(httpPort, 'web.demo.qa.example.test')).status === 200,
  );
  const answer = await viaIngress(httpPort, 'WEB.demo.qa.example.test');
  t.regex(answer.body, /hello from web\.demo\.qa\.example\.test for dep-1\/web/i);
  t.is(
    (await viaIngress(httpPort, 'api.demo.qa.example.test')).status,
    502,
    'an unpinned certificate is refused',
  );
  await driver.apply([route('web.demo.qa.example.test', port)]);
  t.is((await viaIngress(httpPort, 'api.demo.qa.example.test')).status, 404);
  t.is((await viaIngress(httpPort, 'x.web.demo.qa.example.test')).status, 404);

  await driver.apply([]);
  await eventually(
    'route removed',
    async () => (await viaIngress(httpPort, 'web.demo.qa.example.test')).status === 404,
  );
  t.pass();
});
