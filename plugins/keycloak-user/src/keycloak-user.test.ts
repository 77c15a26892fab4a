import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ComponentContext, Runtime } from '@nullops/plugin-sdk';
import test from 'ava';
import { keycloakUser, keycloakUserParams } from './keycloak-user.js';

/**
 * An in-process server speaking the Keycloak admin REST endpoints this component uses (Keycloak
 * itself cannot run here): the admin-cli password grant, users (query, create, reset-password,
 * delete), realm roles and realm role mappings, with bearer-token checks and Keycloak's statuses.
 */
function fakeKeycloak() {
  const admins = { admin: 'admin-pw' };
  const tokens = new Set<string>();
  const users = new Map<
    string,
    { id: string; username: string; email?: string; password?: string; roles: string[] }
  >();
  const roles = new Map([['tester', { id: randomUUID(), name: 'tester' }]]);
  const body = async (req: IncomingMessage) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    return text;
  };
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://kc');
    const send = (status: number, json?: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { ...(json ? { 'content-type': 'application/json' } : {}), ...headers });
      res.end(json ? JSON.stringify(json) : undefined);
    };
    if (req.method === 'POST' && url.pathname === '/realms/master/protocol/openid-connect/token') {
      const form = new URLSearchParams(await body(req));
      if (form.get('client_id') !== 'admin-cli' || form.get('grant_type') !== 'password')
        return send(400, { error: 'invalid_request' });
      if (admins[form.get('username') as keyof typeof admins] !== form.get('password'))
        return send(401, { error: 'invalid_grant' });
      const token = randomUUID();
      tokens.add(token);
      return send(200, { access_token: token, token_type: 'Bearer', expires_in: 60 });
    }
    const m = /^\/admin\/realms\/([^/]+)(\/.*)$/.exec(url.pathname);
    if (!m) return send(404, { error: 'Not Found' });
    if (!tokens.has((req.headers.authorization ?? '').replace(/^Bearer /, '')))
      return send(401, { error: 'HTTP 401 Unauthorized' });
    if (m[1] !== 'shop') return send(404, { error: 'Realm not found.' });
    const path = m[2] as string;
    // The id (or role name) captured from the path, when method and path match.
    const on = (method: string, pattern: RegExp) =>
      req.method === method ? (pattern.exec(path)?.[1] as string | undefined) : undefined;
    if (req.method === 'GET' && path === '/users') {
      const name = url.searchParams.get('username')?.toLowerCase();
      return send(
        200,
        [...users.values()].filter((x) => x.username === name).map(({ password: _, ...x }) => x),
      );
    }
    if (req.method === 'POST' && path === '/users') {
      const rep = JSON.parse(await body(req));
      const username = String(rep.username).toLowerCase();
      if ([...users.values()].some((x) => x.username === username))
        return send(409, { errorMessage: 'User exists with same username' });
      const id = randomUUID();
      users.set(id, { id, username, email: rep.email, roles: [] });
      return send(201, undefined, { location: `http://kc/admin/realms/shop/users/${id}` });
    }
    const resetId = on('PUT', /^\/users\/([^/]+)\/reset-password$/);
    if (resetId) {
      const user = users.get(resetId);
      if (!user) return send(404, { error: 'User not found' });
      user.password = JSON.parse(await body(req)).value;
      return send(204);
    }
    const roleName = on('GET', /^\/roles\/([^/]+)$/);
    if (roleName) {
      const role = roles.get(decodeURIComponent(roleName));
      return role ? send(200, role) : send(404, { error: 'Could not find role' });
    }
    const mappedId = on('POST', /^\/users\/([^/]+)\/role-mappings\/realm$/);
    if (mappedId) {
      const user = users.get(mappedId);
      if (!user) return send(404, { error: 'User not found' });
      user.roles.push(...(JSON.parse(await body(req)) as { name: string }[]).map((r) => r.name));
      return send(204);
    }
    const deletedId = on('DELETE', /^\/users\/([^/]+)$/);
    if (deletedId) return users.delete(deletedId) ? send(204) : send(404, { error: 'User not found' });
    return send(404, { error: 'Not Found' });
  });
  return { server, users };
}

async function start() {
  const kc = fakeKeycloak();
  await new Promise<void>((resolve) => kc.server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(kc.server.address() as AddressInfo).port}`;
  return { ...kc, baseUrl, close: () => new Promise<void>((resolve) => kc.server.close(() => resolve())) };
}

function context(lines: string[]): ComponentContext {
  return {
    deployment: { id: randomUUID(), name: 'demo' },
    nodeId: 'login',
    runtime: {} as Runtime, // this component talks HTTP to Keycloak only
    signal: new AbortController().signal,
    log: (line) => lines.push(line),
    outputs: {},
    registryAuth: () => undefined,
    recordService: () => {},
    isSecret: () => false,
  };
}

const params = (baseUrl: string, extra: Record<string, unknown> = {}) =>
  keycloakUserParams.parse({
    baseUrl,
    realm: 'shop',
    adminUser: 'admin',
    adminPassword: 'admin-pw',
    username: 'QA-Tester',
    password: 'tester-pw',
    email: 'qa@example.com',
    realmRoles: ['tester'],
    ...extra,
  });

test('creates the user with its password and realm roles; a second run reuses it; rollback deletes it', async (t) => {
  const kc = await start();
  t.teardown(kc.close);
  const lines: string[] = [];
  const out = await keycloakUser.run(context(lines), params(kc.baseUrl));
  const user = kc.users.get(out.userId as string);
  t.like(user, { username: 'qa-tester', email: 'qa@example.com', password: 'tester-pw', roles: ['tester'] });
  t.true(lines.some((l) => l.includes('created Keycloak user QA-Tester')));
  t.false(lines.join('\n').includes('tester-pw'), 'passwords are never logged');

  const again = await keycloakUser.run(
    context(lines),
    params(kc.baseUrl, { password: 'changed-pw', realmRoles: [] }),
  );
  t.is(again.userId, out.userId, 'idempotent: the same user');
  t.is(kc.users.get(out.userId as string)?.password, 'changed-pw');
  t.is(kc.users.size, 1);

  await keycloakUser.rollback?.(context(lines), params(kc.baseUrl), out);
  t.is(kc.users.size, 0);
});

test('clear errors: wrong admin password, unknown realm role', async (t) => {
  const kc = await start();
  t.teardown(kc.close);
  const wrong = await t.throwsAsync(
    keycloakUser.run(context([]), params(kc.baseUrl, { adminPassword: 'nope' })),
  );
  t.regex(wrong?.message ?? '', /refused the admin login \(HTTP 401\); check adminUser and adminPassword/);
  t.false((wrong?.message ?? '').includes('nope'));
  const role = await t.throwsAsync(
    keycloakUser.run(context([]), params(kc.baseUrl, { realmRoles: ['superuser'] })),
  );
  t.regex(role?.message ?? '', /realm shop has no role "superuser"/);
});
