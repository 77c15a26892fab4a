import test from 'ava';
import fc from 'fast-check';
import { seedAccessFixture } from './helpers/access-fixture.js';
import { fingerprint } from './helpers/database-dump.js';
import { startTestControlPlane } from './helpers/test-control-plane.js';

interface BodyRoute {
  method: string;
  path: string;
  operationId: string;
  properties: string[];
}

/** Every route that takes a JSON body, with its path parameters filled from the fixture. */
function bodyRoutes(document: any, params: Record<string, string>): BodyRoute[] {
  const routes: BodyRoute[] = [];
  for (const [path, methods] of Object.entries<Record<string, any>>(document.paths)) {
    for (const [method, op] of Object.entries<any>(methods)) {
      const schema = op.requestBody?.content?.['application/json']?.schema;
      if (!schema) continue;
      routes.push({
        method: method.toUpperCase(),
        path: path.replace(/\{(\w+)\}/g, (_, n: string) => params[n] ?? 'missing'),
        operationId: op.operationId,
        properties: Object.keys(schema.properties ?? {}),
      });
    }
  }
  return routes;
}

// Hostile values: any JSON, binary strings (NUL bytes, lone surrogates), huge numbers, deep nesting.
const hostileValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 300 }),
  fc.constantFrom(
    null,
    '',
    ' ',
    'nul\u0000byte',
    '\ud800',
    -1,
    0,
    1e308,
    -1e308,
    2 ** 53,
    1.5,
    true,
    [],
    {},
    '../../etc/passwd',
    "'; drop table users; --",
  ),
  fc.uuid(),
);

function bodyFor(route: BodyRoute) {
  const known = fc.record(Object.fromEntries(route.properties.map((p) => [p, hostileValue])), {
    requiredKeys: [],
  });
  return fc.oneof(
    { weight: 6, arbitrary: known },
    {
      weight: 1,
      arbitrary: fc
        .tuple(known, fc.string({ minLength: 1, maxLength: 10 }), hostileValue)
        .map(([b, k, v]) => ({ ...b, [`x${k}`]: v })),
    },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  );
}

/** Sends one request and throws (so fast-check can shrink the input) when the API misbehaved. */
async function check(
  logs: string[],
  db: any,
  route: BodyRoute,
  send: () => Promise<{ status: number; body: any }>,
  state: { print: string },
) {
  const lastEffect = await newestEffect(db);
  const res = await send();
  // 503 "unavailable" is the fixture's registry being down (valid input got that far), not a crash;
  // it is still held to "no partial write" below.
  if (res.status >= 500 && !(res.status === 503 && res.body?.error?.code === 'unavailable')) {
    const id = /request ([0-9a-f-]+)/.exec(res.body?.error?.message ?? '')?.[1];
    const line = logs.find((l) => id && l.includes(id) && l.includes('unhandled')) ?? '';
    throw new Error(`${route.operationId}: ${res.status} ${JSON.stringify(res.body)}\n${line.slice(0, 600)}`);
  }
  if (res.status >= 400) {
    if ((await fingerprint(db)) !== state.print)
      throw new Error(`${route.operationId}: a rejected request (${res.status}) changed data`);
    if ((await newestEffect(db)) !== lastEffect)
      throw new Error(`${route.operationId}: a rejected request (${res.status}) queued an effect`);
    if (!res.body?.error?.code || !res.body?.error?.message)
      throw new Error(`${route.operationId}: error body lacks code/message`);
    if (res.status === 400 && !/(body|params|query)[.:]/.test(res.body.error.message))
      throw new Error(`${route.operationId}: 400 without naming the field: ${res.body.error.message}`);
    if (JSON.stringify(res.body).match(/at .*\.js:\d+|node_modules|SELECT |INSERT /i))
      throw new Error(`${route.operationId}: error leaks internals: ${JSON.stringify(res.body)}`);
  } else {
    state.print = await fingerprint(db);
  }
}

/** The newest outbox entry ever queued (ids only grow; done effects are deleted, so use the sequence). */
async function newestEffect(db: any): Promise<string> {
  const { rows } = await db.raw(`select last_value, is_called from outbox_id_seq`);
  return `${rows[0].last_value}:${rows[0].is_called}`;
}

test('malformed bodies on every create/update route: never a 5xx, never a partial write', async (t) => {
  const cp = await startTestControlPlane({ NULLOPS_LOGIN_MAX_FAILURES: '1000' });
  t.teardown(cp.close);
  const fixture = await seedAccessFixture(cp);
  const client = fixture.clients.admin;
  const db = cp.database.db;
  const routes = bodyRoutes(cp.cp.openapi(), fixture.params);
  t.true(routes.length >= 20, `expected every create/update route, found ${routes.length}`);
  const state = { print: await fingerprint(db) };
  let requests = 0;
  for (const route of routes) {
    await fc.assert(
      fc.asyncProperty(bodyFor(route), async (body) => {
        requests++;
        await check(cp.logs, db, route, () => client.request(route.method, route.path, body), state);
      }),
      { numRuns: 40, seed: 20261122 },
    );
    // Bodies that are not JSON objects at all.
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 60 }),
          fc.constantFrom('{', '[1,', '"str"', '42', 'null', '{"a":}'),
        ),
        async (raw) => {
          requests++;
          await check(cp.logs, db, route, () => client.request(route.method, route.path, raw), state);
        },
      ),
      { numRuns: 10, seed: 7 },
    );
  }
  // Wrong content type, and a body over the size limit.
  const target = routes.find((r) => r.operationId === 'teams.create') as BodyRoute;
  await check(
    cp.logs,
    db,
    target,
    () =>
      client.request('POST', target.path, 'name=x', { 'content-type': 'application/x-www-form-urlencoded' }),
    state,
  );
  const huge = await client.request('POST', target.path, { name: 'x'.repeat(2_000_000) });
  t.is(huge.status, 413);
  // Nesting thousands deep (an 18 KB body) in the first field of every route: 400 naming the body.
  const deep = `${'['.repeat(3000)}${']'.repeat(3000)}`;
  for (const route of routes) {
    const field = route.properties[0] ?? 'x';
    const raw = `{"${field}":${deep}}`;
    await check(cp.logs, db, route, () => client.request(route.method, route.path, raw), state);
    const res = await client.request(route.method, route.path, raw);
    t.is(res.status, 400, route.operationId);
    t.regex(res.body.error.message, /^body: is nested deeper than 64 levels/, route.operationId);
  }
  t.log(`${requests} requests over ${routes.length} routes`);
});
