import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadOrCreateCertificate } from '@nullops/agent-host';
import { defaultTag, RegistryClient, selectTags, sortTags } from '@nullops/core';
import test from 'ava';
import { freePort, tempDir } from './helpers/agent-process.js';
import { ensureTestImages } from './helpers/docker.js';
import { startRegistry } from './helpers/registry.js';
import { eventually } from './helpers/time.js';

test('tags sort newest version first (semver-aware), then the rest newest first; globs filter', (t) => {
  const tags = [
    'v1.0',
    'latest',
    'v1.10.0',
    'v1.2',
    'feature-x',
    '2.0.0-rc.1',
    '2.0.0',
    'v1.1',
    '2024-05-01',
    '2024-06-01',
  ];
  t.deepEqual(sortTags(tags), [
    '2.0.0',
    '2.0.0-rc.1',
    'v1.10.0',
    'v1.2',
    'v1.1',
    'v1.0',
    'latest',
    'feature-x',
    '2024-06-01',
    '2024-05-01',
  ]);
  t.deepEqual(selectTags(tags, 'v*'), ['v1.10.0', 'v1.2', 'v1.1', 'v1.0']);
  t.deepEqual(selectTags(tags, 'feature-*'), ['feature-x']);
  // A new deployment starts with the newest stable version, not a release candidate.
  t.is(defaultTag(sortTags(tags)), '2.0.0');
  t.is(defaultTag(sortTags(['v2.0-rc1', 'v1.9', 'v1.10-beta.1'])), 'v1.9');
  t.is(defaultTag(sortTags(['v2.0-rc1'])), 'v2.0-rc1', 'only pre-releases: the newest of them');
  t.is(defaultTag(sortTags(['2024-06-01', '2024-05-01'])), '2024-06-01', 'dates are not pre-releases');
  t.deepEqual(selectTags(tags, '{latest,2.*}'), ['2.0.0', '2.0.0-rc.1', 'latest']);
});

test('Basic auth, paging over Link headers, and a clear error for an unreachable registry', async (t) => {
  ensureTestImages();
  const registry = await startRegistry({ auth: true });
  t.teardown(() => registry.stop());
  for (const tag of ['v1', 'v2', 'v3']) registry.push('team/paged', tag);
  const client = new RegistryClient({ cacheMs: 0 });
  const access = {
    id: 'r',
    name: 'private',
    url: registry.url,
    username: 'ci',
    password: 'registry-secret-pw',
  };
  t.deepEqual((await client.listTags(access, 'team/paged')).sort(), ['v1', 'v2', 'v3']);
  await t.throwsAsync(client.listTags({ ...access, password: 'wrong' }, 'team/paged'), {
    message: /refused access to team\/paged: check its username and password/,
  });
  await t.throwsAsync(client.listTags(access, 'team/missing'), { message: /has no image team\/missing/ });
  await t.throwsAsync(client.listTags({ ...access, url: 'http://127.0.0.1:9' }, 'team/paged'), {
    message: /is unreachable .*check its URL/,
  });

  // Paging: a server that hands out one tag per page with a Link to the next (as Docker Hub does).
  const pages: Server = createServer((req, res) => {
    const last = new URL(req.url ?? '/', 'http://x').searchParams.get('last');
    const all = ['a', 'b', 'c'];
    const next = all[last ? all.indexOf(last) + 1 : 0];
    if (next && next !== 'c') res.setHeader('link', `</v2/team/app/tags/list?n=1&last=${next}>; rel="next"`);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ name: 'team/app', tags: next ? [next] : [] }));
  }).listen(0, '127.0.0.1');
  t.teardown(() => pages.close());
  if (!pages.listening) await new Promise((resolve) => pages.once('listening', resolve));
  const port = (pages.address() as { port: number }).port;
  t.deepEqual(
    await client.listTags(
      { id: 'p', name: 'paged', url: `http://127.0.0.1:${port}`, username: null, password: null },
      'team/app',
    ),
    ['a', 'b', 'c'],
  );
});

test('the bearer-token flow Docker Hub uses, against a real registry in token mode', async (t) => {
  ensureTestImages();
  const dir = await tempDir('nullops-token-registry-');
  const cert = await loadOrCreateCertificate(dir);
  const key = createPrivateKey(cert.key);
  const der = cert.cert.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const tokenPort = await freePort();
  const registryPort = await freePort();
  const issued: string[] = [];
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

  // The token service: checks Basic credentials, grants the requested scope, signs an ES256 JWT.
  const tokens = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const basic = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString();
    if (basic !== 'robot:token-secret') {
      res.writeHead(401).end('{"details":"bad credentials"}');
      return;
    }
    const access = (url.searchParams.getAll('scope') ?? []).map((scope) => {
      const [type, name, actions] = scope.split(':');
      return { type, name, actions: (actions ?? '').split(',') };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = b64({ alg: 'ES256', typ: 'JWT', x5c: [der] });
    const claims = b64({
      iss: 'nullops-test',
      sub: 'robot',
      aud: url.searchParams.get('service'),
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    });
    const signature = sign('sha256', Buffer.from(`${header}.${claims}`), {
      key,
      dsaEncoding: 'ieee-p1363',
    }).toString('base64url');
    issued.push(url.searchParams.get('scope') ?? '');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ token: `${header}.${claims}.${signature}`, expires_in: 300 }));
  }).listen(tokenPort, '127.0.0.1');

  await writeFile(join(dir, 'root.crt'), cert.cert);
  await writeFile(
    join(dir, 'config.yml'),
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: 127.0.0.1:${registryPort}\nauth:\n  token:\n    realm: http://127.0.0.1:${tokenPort}/token\n    service: nullops-registry\n    issuer: nullops-test\n    rootcertbundle: ${join(dir, 'root.crt')}\n`,
  );
  const registry: ChildProcess = spawn('docker-registry', ['serve', join(dir, 'config.yml')], {
    stdio: 'ignore',
  });
  t.teardown(async () => {
    registry.kill();
    tokens.close();
    await rm(dir, { recursive: true, force: true });
  });
  await eventually(
    'registry',
    async () => (await fetch(`http://127.0.0.1:${registryPort}/v2/`).catch(() => undefined))?.status === 401,
  );

  // Push with the docker CLI, which speaks the same flow.
  const host = `127.0.0.1:${registryPort}`;
  // Asynchronously: the token service runs in this process and must keep answering meanwhile.
  const run = promisify(execFile);
  await run('docker', ['tag', 'nullops-test/busybox:1', `${host}/team/app:v7`]);
  await run('docker', ['login', host, '-u', 'robot', '--password', 'token-secret']);
  let pushed = '';
  try {
    pushed = (await run('docker', ['push', `${host}/team/app:v7`])).stdout;
  } finally {
    await run('docker', ['logout', host]);
    await run('docker', ['rmi', `${host}/team/app:v7`]);
  }

  const client = new RegistryClient({ cacheMs: 0 });
  const access = {
    id: 't',
    name: 'token',
    url: `http://${host}`,
    username: 'robot',
    password: 'token-secret',
  };
  t.deepEqual(await client.listTags(access, 'team/app'), ['v7']);
  t.true(issued.includes('repository:team/app:pull'), 'a pull-scoped token was requested');
  // The digest a deployment then runs: the one the registry itself names for the tag.
  const digest = await client.resolveDigest(access, 'team/app', 'v7');
  t.is(
    digest,
    /digest: (sha256:[0-9a-f]{64})/.exec(pushed)?.[1] ?? 'not reported',
    'the digest docker push reported',
  );
  await t.throwsAsync(client.resolveDigest(access, 'team/app', 'v8'), {
    message: /has no tag v8 of team\/app/,
  });
  await t.throwsAsync(client.listTags({ ...access, password: 'nope' }, 'team/app'), {
    message: /refused a token \(HTTP 401\)/,
  });
  // The check on save: GET /v2/ with a token asked for without a repository scope.
  await client.check(access);
  await t.throwsAsync(client.check({ ...access, password: 'nope' }), {
    message: /refused a token \(HTTP 401\): check its username and password/,
  });
});

test('concurrent lists of one image share one walk of the registry; a failure is not cached', async (t) => {
  let asked = 0;
  let fail = true;
  const slow: Server = createServer((_req, res) => {
    asked++;
    setTimeout(() => {
      if (fail) res.writeHead(503).end();
      else res.setHeader('content-type', 'application/json').end('{"name":"team/app","tags":["v1","v2"]}');
    }, 300);
  }).listen(0, '127.0.0.1');
  t.teardown(() => slow.close());
  if (!slow.listening) await new Promise((resolve) => slow.once('listening', resolve));
  const registry = {
    id: 'slow',
    name: 'slow',
    url: `http://127.0.0.1:${(slow.address() as { port: number }).port}`,
    username: null,
    password: null,
  };
  const client = new RegistryClient();
  const failed = await Promise.allSettled(
    Array.from({ length: 20 }, () => client.listTags(registry, 'team/app')),
  );
  t.true(failed.every((r) => r.status === 'rejected'));
  t.is(asked, 1);
  fail = false;
  const lists = await Promise.all(Array.from({ length: 20 }, () => client.listTags(registry, 'team/app')));
  t.true(lists.every((tags) => tags.join() === 'v1,v2'));
  t.is(asked, 2, 'the failure was not cached and the 20 askers shared one request');
});
