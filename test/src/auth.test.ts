import test from 'ava';
import { ApiClient } from './helpers/api-client.js';
import { startTestControlPlane } from './helpers/test-control-plane.js';

const PASSWORD = 'a-long-enough-password';

test('session cookie is HttpOnly, SameSite and Secure; logout ends the session', async (t) => {
  const cp = await startTestControlPlane();
  t.teardown(cp.close);
  const res = await fetch(`${cp.url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: cp.adminPassword }),
  });
  t.is(res.status, 200);
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('nullops_session=')) ?? '';
  t.regex(cookie, /httponly/i);
  t.regex(cookie, /samesite=lax/i);
  t.regex(cookie, /secure/i, '127.0.0.1 counts as a secure context, so the cookie is Secure');
  const body = (await res.json()) as { csrfToken: string };
  const session = new ApiClient(cp.url, { cookie: cookie.split(';')[0], csrf: body.csrfToken });
  t.is((await session.get('/api/auth/me')).status, 200);
  t.is((await session.post('/api/auth/logout')).status, 204);
  t.is((await session.get('/api/auth/me')).status, 401);
});

test('cookie-authenticated mutations need the CSRF token; bearer tokens do not', async (t) => {
  const cp = await startTestControlPlane();
  t.teardown(cp.close);
  const noCsrf = cp.admin.withoutCsrf();
  const refused = await noCsrf.post('/api/teams', { name: 'csrf-victim' });
  t.is(refused.status, 403);
  t.regex(refused.body.error.message, /X-CSRF-Token/);
  t.is((await noCsrf.get('/api/teams')).status, 200, 'reads need no CSRF token');
  t.is((await cp.admin.post('/api/teams', { name: 'with-token' })).status, 201);
  const { token } = await cp.admin.expect(201, 'POST', '/api/auth/tokens', { name: 'cli' });
  t.is((await ApiClient.withToken(cp.url, token).post('/api/teams', { name: 'via-bearer' })).status, 201);
  const teams = (await cp.admin.get('/api/teams')).body.items.map((x: { name: string }) => x.name);
  t.deepEqual(teams.sort(), ['via-bearer', 'with-token']);
});

test('disabling a user ends their sessions and API tokens at once', async (t) => {
  const cp = await startTestControlPlane();
  t.teardown(cp.close);
  const user = await cp.admin.expect(201, 'POST', '/api/users', { username: 'carol', password: PASSWORD });
  const session = await ApiClient.login(cp.url, 'carol', PASSWORD);
  const { token } = await session.expect(201, 'POST', '/api/auth/tokens', { name: 'laptop' });
  const bearer = ApiClient.withToken(cp.url, token);
  t.is((await session.get('/api/auth/me')).status, 200);
  t.is((await bearer.get('/api/projects')).status, 200);

  await cp.admin.expect(200, 'PATCH', `/api/users/${user.id}`, { disabled: true });
  t.is((await session.get('/api/auth/me')).status, 401);
  t.is((await bearer.get('/api/projects')).status, 401);
  const relogin = await ApiClient.anonymous(cp.url).post('/api/auth/login', {
    username: 'carol',
    password: PASSWORD,
  });
  t.is(relogin.status, 401);
  t.regex(relogin.body.error.message, /disabled/);

  // Re-enabling does not bring the old credentials back.
  await cp.admin.expect(200, 'PATCH', `/api/users/${user.id}`, { disabled: false });
  t.is((await session.get('/api/auth/me')).status, 401);
  t.is((await bearer.get('/api/projects')).status, 401);
  t.is((await ApiClient.login(cp.url, 'carol', PASSWORD).then((c) => c.get('/api/auth/me'))).status, 200);
});

test('API tokens: stored hashed, listed without values, revocable, expiring', async (t) => {
  const cp = await startTestControlPlane();
  t.teardown(cp.close);
  const created = await cp.admin.expect(201, 'POST', '/api/auth/tokens', { name: 'ci', expiresInDays: 30 });
  t.regex(created.token, /^nop_[A-Za-z0-9_-]{43}$/);
  const list = await cp.admin.get('/api/auth/tokens');
  t.is(list.body.items.length, 1);
  t.false(JSON.stringify(list.body).includes(created.token));
  const stored = await cp.database.db('api_tokens').first();
  t.not(stored.tokenHash, created.token);
  t.regex(stored.tokenHash, /^[0-9a-f]{64}$/);

  const bearer = ApiClient.withToken(cp.url, created.token);
  t.is((await bearer.get('/api/auth/me')).body.authenticatedVia, 'token');
  await cp.admin.expect(204, 'DELETE', `/api/auth/tokens/${created.id}`);
  t.is((await bearer.get('/api/auth/me')).status, 401);
  t.is(
    (await cp.admin.delete(`/api/auth/tokens/${created.id}`)).status,
    404,
    'a second revoke says it is gone',
  );

  const expiring = await cp.admin.expect(201, 'POST', '/api/auth/tokens', { name: 'old' });
  await cp.database
    .db('api_tokens')
    .where('id', expiring.id)
    .update({ expiresAt: new Date(Date.now() - 1000) });
  t.is((await ApiClient.withToken(cp.url, expiring.token).get('/api/auth/me')).status, 401);
  t.is((await ApiClient.withToken(cp.url, 'nop_forged').get('/api/auth/me')).status, 401);
  t.is(
    (
      await new ApiClient(cp.url, { bearer: '' }).request('GET', '/api/auth/me', undefined, {
        authorization: 'Basic abc',
      })
    ).status,
    401,
  );
});

test('changing your password needs the current one and ends your other sessions', async (t) => {
  const cp = await startTestControlPlane();
  t.teardown(cp.close);
  await cp.admin.expect(201, 'POST', '/api/users', { username: 'dave', password: PASSWORD });
  const first = await ApiClient.login(cp.url, 'dave', PASSWORD);
  const second = await ApiClient.login(cp.url, 'dave', PASSWORD);
  const wrong = await first.post('/api/auth/password', {
    currentPassword: 'nope',
    newPassword: 'another-long-password',
  });
  t.is(wrong.status, 400);
  t.regex(wrong.body.error.message, /currentPassword/);
  const weak = await first.post('/api/auth/password', { currentPassword: PASSWORD, newPassword: 'short' });
  t.is(weak.status, 400);
  t.regex(weak.body.error.message, /newPassword: must be at least 12 characters/);
  t.is(
    (
      await first.post('/api/auth/password', {
        currentPassword: PASSWORD,
        newPassword: 'another-long-password',
      })
    ).status,
    204,
  );
  t.is((await second.get('/api/auth/me')).status, 401);
  await t.throwsAsync(ApiClient.login(cp.url, 'dave', PASSWORD));
  t.truthy(await ApiClient.login(cp.url, 'dave', 'another-long-password'));
});

test('the stored password is an argon2id hash', async (t) => {
  const cp = await startTestControlPlane();
  t.teardown(cp.close);
  const row = await cp.database.db('users').where('username', 'admin').first();
  t.regex(row.passwordHash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  t.false(row.passwordHash.includes(cp.adminPassword));
});

test('a burst of parallel guesses is charged before any password is checked', async (t) => {
  const cp = await startTestControlPlane({ NULLOPS_LOGIN_MAX_FAILURES: '5' });
  t.teardown(cp.close);
  await cp.admin.expect(201, 'POST', '/api/users', { username: 'carol', password: PASSWORD });
  const anon = ApiClient.anonymous(cp.url);
  const statuses = await Promise.all(
    Array.from({ length: 40 }, async (_, i) => {
      const res = await anon.post('/api/auth/login', { username: 'carol', password: `guess-${i}` });
      return res.status;
    }),
  );
  t.is(statuses.filter((s) => s === 401).length, 5, 'only the budget was checked');
  t.is(statuses.filter((s) => s === 429).length, 35);
});

test('behind N trusted proxies, the address is the one the outermost saw: a forged X-Forwarded-For dodges nothing', async (t) => {
  const cp = await startTestControlPlane({ NULLOPS_LOGIN_MAX_FAILURES: '1', NULLOPS_TRUST_PROXY_HOPS: '1' });
  t.teardown(cp.close);
  const anon = ApiClient.anonymous(cp.url);
  const login = (i: number, forwardedFor: string) =>
    anon.request(
      'POST',
      '/api/auth/login',
      { username: `user${i}`, password: 'x' },
      { 'x-forwarded-for': forwardedFor },
    );
  // The same client (10.0.0.7, as our proxy appends it) forging a new left-hand address each time.
  // Past its budget (4 × 1) the client's attempts wait their turn; a burst finds the queue full.
  for (let i = 0; i < 4; i++) t.is((await login(i, `203.0.113.${i}, 10.0.0.7`)).status, 401);
  const burst = await Promise.all(
    Array.from({ length: 15 }, (_, i) => login(10 + i, `198.51.100.${i}, 10.0.0.7`)),
  );
  t.true(
    burst.some((r) => r.status === 429),
    'the forged addresses were not each a budget of their own',
  );
  // Another client behind the same proxy has its own budget: its burst within it is answered.
  const other = await Promise.all(Array.from({ length: 4 }, (_, i) => login(40 + i, '10.0.0.8')));
  t.deepEqual(
    other.map((r) => r.status),
    [401, 401, 401, 401],
  );
});

test('changing the password is throttled like a login', async (t) => {
  const cp = await startTestControlPlane({ NULLOPS_LOGIN_MAX_FAILURES: '2' });
  t.teardown(cp.close);
  await cp.admin.expect(201, 'POST', '/api/users', { username: 'dave', password: PASSWORD });
  const dave = await ApiClient.login(cp.url, 'dave', PASSWORD);
  const attempt = (currentPassword: string) =>
    dave.post('/api/auth/password', { currentPassword, newPassword: 'another-long-password' });
  t.is((await attempt('wrong-1')).status, 400);
  t.is((await attempt('wrong-2')).status, 400);
  const blocked = await attempt(PASSWORD);
  t.is(blocked.status, 429, 'even the right one, while the budget is spent');
});

test('scoped API tokens: read-only, limited to projects, always expiring, and unable to mint tokens', async (t) => {
  const cp = await startTestControlPlane();
  t.teardown(cp.close);
  const { admin } = cp;
  const a = await admin.expect(201, 'POST', '/api/projects', {
    name: 'alpha',
    cpuMillicores: 100,
    memoryMb: 64,
  });
  const b = await admin.expect(201, 'POST', '/api/projects', {
    name: 'beta',
    cpuMillicores: 100,
    memoryMb: 64,
  });

  const embed = await admin.expect(201, 'POST', '/api/auth/tokens', {
    name: 'portal',
    access: 'read',
    projectIds: [a.id],
  });
  t.like(embed, { access: 'read', projectIds: [a.id] });
  t.truthy(embed.expiresAt, 'every token expires (90 days unless asked)');
  const reader = ApiClient.withToken(cp.url, embed.token);
  t.deepEqual(
    (await reader.get('/api/projects')).body.items.map((p: { name: string }) => p.name),
    ['alpha'],
  );
  t.is((await reader.get(`/api/projects/${a.id}`)).status, 200);
  t.is((await reader.get(`/api/projects/${b.id}`)).status, 404, 'another project does not exist for it');
  const write = await reader.request('PATCH', `/api/projects/${a.id}`, { description: 'changed' });
  t.is(write.status, 403);
  t.regex(write.body.error.message, /read-only/);
  t.is(
    (await reader.get('/api/users')).status,
    403,
    'no administrative actions, though its owner is an admin',
  );
  t.like((await reader.get('/api/auth/access')).body, { admin: false, projects: { [a.id]: 'read' } });

  // Even a full token cannot mint another (a leaked one must not outlive its revocation).
  const ci = await admin.expect(201, 'POST', '/api/auth/tokens', { name: 'ci', projectIds: [a.id] });
  const minted = await ApiClient.withToken(cp.url, ci.token).request('POST', '/api/auth/tokens', {
    name: 'more',
  });
  t.is(minted.status, 403);
  t.regex(minted.body.error.message, /API tokens cannot create tokens/);
  const administrative = await ApiClient.withToken(cp.url, ci.token).request(
    'PATCH',
    `/api/projects/${a.id}`,
    {
      description: 'no',
    },
  );
  t.is(administrative.status, 403);
  t.regex(administrative.body.error.message, /project-scoped API token cannot do administrative actions/);

  const forever = await admin.request('POST', '/api/auth/tokens', { name: 'forever', expiresInDays: 3650 });
  t.is(forever.status, 400);
  t.regex(forever.body.error.message, /body\.expiresInDays/);
  const ghost = await admin.request('POST', '/api/auth/tokens', {
    name: 'ghost',
    projectIds: ['00000000-0000-4000-8000-000000000000'],
  });
  t.is(ghost.status, 400);
  t.regex(ghost.body.error.message, /body\.projectIds\.0: names no project you can see/);
});
