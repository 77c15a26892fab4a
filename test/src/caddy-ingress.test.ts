import { type ChildProcess, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CaddyDriver } from '@nullops/core';
import test from 'ava';
import { eventually, freePort, tempDir } from './helpers/agent-process.js';
import { viaIngress } from './helpers/ingress.js';

test('the Caddy driver routes exact hosts to services through a real Caddy, and 404s the rest', async (t) => {
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
  const upstream = createServer((req, res) =>
    res.end(`hello from ${req.headers['x-forwarded-host'] ?? req.headers.host}`),
  ).listen(0, '127.0.0.1');
  t.teardown(() => {
    caddy.kill();
    upstream.close();
  });
  await eventually(
    'caddy admin API',
    async () => (await fetch(`http://127.0.0.1:${adminPort}/config/`).catch(() => undefined))?.ok,
  );
  const port = (upstream.address() as AddressInfo).port;

  const driver = new CaddyDriver(`http://127.0.0.1:${adminPort}`, `127.0.0.1:${httpPort}`);
  await driver.apply([
    {
      host: 'web.demo.qa.example.test',
      target: { host: '127.0.0.1', port },
      deploymentId: 'd',
      service: 'web',
    },
  ]);
  await eventually(
    'route live',
    async () => (await viaIngress(httpPort, 'web.demo.qa.example.test')).status === 200,
  );
  t.regex((await viaIngress(httpPort, 'WEB.demo.qa.example.test')).body, /hello from/);
  t.is((await viaIngress(httpPort, 'api.demo.qa.example.test')).status, 404);
  t.is((await viaIngress(httpPort, 'x.web.demo.qa.example.test')).status, 404);

  await driver.apply([]);
  await eventually(
    'route removed',
    async () => (await viaIngress(httpPort, 'web.demo.qa.example.test')).status === 404,
  );
  t.pass();
});
