import test from 'ava';
import { ApiClient } from '../helpers/api-client.js';
import { startTestControlPlane } from '../helpers/test-control-plane.js';

// The security suite, part four: signing in. Guessing is throttled per account (only the attacked
// account waits out its window) and slowed, never locked, per address — so people behind one
// proxy or NAT are not shut out by someone else's guesses.

const PASSWORD = 'a-long-enough-password';

test('brute-force login is throttled per user, before the password is checked', async (t) => {
  const cp = await startTestControlPlane({ NULLOPS_LOGIN_MAX_FAILURES: '3' });
  t.teardown(cp.close);
  await cp.admin.expect(201, 'POST', '/api/users', { username: 'bob', password: PASSWORD });
  const anon = ApiClient.anonymous(cp.url);
  for (let i = 0; i < 3; i++) {
    const res = await anon.post('/api/auth/login', { username: 'bob', password: `guess-${i}` });
    t.is(res.status, 401);
    t.is(res.body.error.message, 'wrong username or password');
  }
  const blocked = await anon.post('/api/auth/login', { username: 'BOB', password: PASSWORD });
  t.is(
    blocked.status,
    429,
    'even the right password is refused while throttled (and case does not dodge it)',
  );
  t.truthy(Number(blocked.headers.get('retry-after')) > 0);
  t.regex(blocked.body.error.message, /try again in \d+ seconds/);
  // Unknown users get the same answer as wrong passwords: no username enumeration.
  const unknown = await anon.post('/api/auth/login', { username: 'nobody', password: PASSWORD });
  t.is(unknown.status, 401);
  t.is(unknown.body.error.message, 'wrong username or password');
  const audit = await cp.admin.get('/api/audit?action=auth.login&outcome=denied');
  t.true(audit.body.total >= 4, 'failed logins are audited');
});

test('an address guessing many users is slowed, while a correct password from it still signs in', async (t) => {
  const cp = await startTestControlPlane({ NULLOPS_LOGIN_MAX_FAILURES: '2' });
  t.teardown(cp.close);
  await cp.admin.expect(201, 'POST', '/api/users', { username: 'neighbour', password: PASSWORD });
  const anon = ApiClient.anonymous(cp.url);
  // 4 × the per-user budget from one address, one guess per user: nobody's budget is spent.
  for (let i = 0; i < 8; i++)
    t.is((await anon.post('/api/auth/login', { username: `user${i}`, password: 'x' })).status, 401);
  // Beyond it the address's attempts wait, each longer than the last: still answered, never locked.
  const waits: number[] = [];
  for (let i = 8; i < 11; i++) {
    const started = performance.now();
    t.is((await anon.post('/api/auth/login', { username: `user${i}`, password: 'x' })).status, 401);
    waits.push(performance.now() - started);
  }
  t.true((waits[2] as number) >= 750, `the third attempt past the budget waited ${waits[2]} ms`);
  // Someone else behind the same address, with the right password, gets in.
  const neighbour = await anon.post('/api/auth/login', { username: 'neighbour', password: PASSWORD });
  t.is(neighbour.status, 200);
  // A burst in parallel from the address is refused beyond a few waiting ones, not queued forever.
  const burst = await Promise.all(
    Array.from({ length: 15 }, (_, i) =>
      anon.post('/api/auth/login', { username: `burst${i}`, password: 'x' }),
    ),
  );
  t.true(
    burst.some((r) => r.status === 429),
    burst.map((r) => r.status).join(),
  );
});
