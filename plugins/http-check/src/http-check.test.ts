import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ComponentContext, Runtime } from '@nullops/plugin-sdk';
import test from 'ava';
import { httpCheck, httpCheckParams } from './http-check.js';

function context(lines: string[], signal = new AbortController().signal): ComponentContext {
  return {
    deployment: { id: randomUUID(), name: 'demo' },
    nodeId: 'ready',
    runtime: {} as Runtime, // url mode fetches from the agent itself
    signal,
    log: (line) => lines.push(line),
    outputs: {},
    registryAuth: () => undefined,
    recordService: () => {},
    isSecret: () => false,
  };
}

test('url mode: waits until the endpoint answers the expected status and text', async (t) => {
  let calls = 0;
  const server = createServer((_req, res) => {
    calls++;
    if (calls < 3) res.writeHead(503).end('warming up');
    else res.writeHead(200).end('ready: yes');
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  t.teardown(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
  const lines: string[] = [];
  const out = await httpCheck.run(
    context(lines),
    httpCheckParams.parse({ url, bodyContains: 'yes', intervalMs: 100 }),
  );
  t.deepEqual(out, { status: 200 });
  t.true(calls >= 3);
  t.true(lines.some((l) => l.includes('passed (HTTP 200)')));
});

test('url mode: fails at its deadline with the last answer; params need exactly one target', async (t) => {
  const server = createServer((_req, res) => res.writeHead(500).end());
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  t.teardown(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const err = await t.throwsAsync(
    httpCheck.run(context([]), httpCheckParams.parse({ url, timeoutSeconds: 1, intervalMs: 200 })),
  );
  t.regex(err?.message ?? '', /did not answer HTTP 200 within 1 s \(last: HTTP 500\)/);
  t.false(httpCheckParams.safeParse({ path: '/' }).success);
  t.false(httpCheckParams.safeParse({ url, service: 'web' }).success);
});
