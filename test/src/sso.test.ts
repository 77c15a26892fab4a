import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import test from 'ava';
import type { Browser, Page } from 'playwright-core';
import { tempDir } from './helpers/agent-process.js';
import { ApiClient } from './helpers/api-client.js';
import { launchBrowser, screenshot, signIn } from './helpers/browser.js';
import {
  startIdentityProvider,
  type Tamper,
  type TestIdentityProvider,
} from './helpers/identity-provider.js';
import { startTestControlPlane, type TestControlPlane, troubleIn } from './helpers/test-control-plane.js';
import { DEADLINE_MS, eventually } from './helpers/time.js';

// Single sign-on against a real OpenID Provider (oidc-provider): Chromium signs in through it,
// groups become teams, losing a group loses its access at the next sign-in, the provider's say
// ends sessions and API tokens, and every kind of bad answer is refused in words.

const SLUG = 'idp';
let cp: TestControlPlane;
let idp: TestIdentityProvider;
let browser: Browser;
let provider: { id: string };
const teams: Record<string, string> = {};
const projects: Record<string, string> = {};

test.before(async () => {
  // Sessions nobody uses are renewed with the provider every second.
  cp = await startTestControlPlane({ NULLOPS_SWEEP_INTERVAL_SECONDS: '1' });
  idp = await startIdentityProvider({ redirectUris: [`${cp.url}/api/auth/sso/${SLUG}/callback`] });
  browser = await launchBrowser();
  const { admin } = cp;
  for (const name of ['qa', 'dev', 'ops'])
    teams[name] = (await admin.expect(201, 'POST', '/api/teams', { name })).id;
  for (const [name, team] of [
    ['shop', 'qa'],
    ['api', 'dev'],
    ['infra', 'ops'],
  ] as const)
    projects[name] = (
      await admin.expect(201, 'POST', '/api/projects', {
        name,
        cpuMillicores: 100,
        memoryMb: 128,
        teams: [{ teamId: teams[team], access: 'read' }],
      })
    ).id;
  // A deployment in shop (already failed: its node is offline, so no agent is involved), which
  // alice sees while a group gives her shop's team.
  const environmentId = (
    await admin.expect(201, 'POST', '/api/environments', {
      name: 'qa',
      baseDomain: 'qa.example.test',
      runtime: 'docker',
      defaultTtlSeconds: 86400,
    })
  ).id;
  const nodeId = (
    await admin.expect(201, 'POST', '/api/nodes', {
      environmentId,
      name: 'n1',
      host: '127.0.0.1',
      port: 5000,
    })
  ).id;
  const pipeline = await admin.expect(201, 'POST', `/api/projects/${projects.shop}/pipeline/versions`, {
    graph: { nodes: [], edges: [] },
  });
  await cp.database.db('deployments').insert({
    id: '2f0c6a4e-9d1b-4c3e-8f7a-5b6c7d8e9f01',
    name: 'shop-demo',
    projectId: projects.shop,
    environmentId,
    nodeId,
    pipelineVersionId: pipeline.id,
    state: 'failed',
    tags: JSON.stringify({}),
    cpuMillicores: 100,
    memoryMb: 128,
  });
  idp.people.set('alice', { groups: ['qa-engineers', 'developers', 'marketing'], name: 'Alice Doe' });
  idp.people.set('bob', { groups: ['marketing'] });
  idp.people.set('carol', { groups: ['nullops-admins'] });
});

test.afterEach.always((t) => {
  // A failed test reports what the control plane complained about meanwhile.
  if (!t.passed) for (const line of troubleIn(cp.logs)) t.log(line);
});

test.after.always(async () => {
  await browser?.close();
  await idp?.stop();
  await cp?.close();
});

/** Goes through the provider's own login form (any password, as its development login page takes). */
async function throughProvider(page: Page, person: string): Promise<void> {
  await page.goto(cp.url);
  await page.getByRole('button', { name: 'Sign in with Acme ID' }).click();
  await page.locator('input[name="login"]').fill(person);
  await page.locator('input[name="password"]').fill('whatever-the-provider-checks');
  await page.locator('button[type="submit"]').click();
}

/** Signs in through the provider in a fresh browser context; answers the page it ends on. */
async function ssoSignIn(person: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await throughProvider(page, person);
  await page.waitForURL((url) => url.origin === cp.url);
  return page;
}

const signedIn = (page: Page) => page.getByRole('heading', { name: 'Deployments' }).waitFor();
/** The login page's alert; a sign-in that went through instead fails at once, saying so. */
const refusedWith = async (page: Page, words: RegExp) => {
  const alert = page.getByRole('alert');
  await alert
    .or(page.getByRole('heading', { name: 'Deployments' }))
    .first()
    .waitFor();
  if (!(await alert.count())) throw new Error(`signed in, where ${words} was expected`);
  const text = (await alert.textContent()) ?? '';
  if (!words.test(text)) throw new Error(`the login page says: ${text}`);
  return text;
};
const userNamed = async (username: string) =>
  (await cp.admin.get(`/api/users?q=${username}`)).body.items.find(
    (u: { username: string }) => u.username === username,
  );
const visible = (page: Page, what: 'projects' | 'deployments'): Promise<{ name: string }[]> =>
  page.evaluate(
    async (path) => ((await (await fetch(path)).json()) as { items: { name: string }[] }).items,
    `/api/${what}`,
  );
const visibleProjects = (page: Page) => visible(page, 'projects');

test.serial(
  'an admin sets single sign-on up in the UI: the provider, its redirect URI, its groups',
  async (t) => {
    const page = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
    page.on('dialog', (dialog) => void dialog.accept());
    await signIn(page, cp.url, 'admin', cp.adminPassword);
    await page.goto(`${cp.url}/admin/sso`);
    const form = page.getByRole('form', { name: 'New Single sign-on' });
    await form.getByLabel('Short name (in the callback URL)').fill(SLUG);
    await form.getByLabel('Name on the sign-in button').fill('Acme ID');
    await form.getByLabel('Issuer URL').fill(idp.issuer);
    await form.getByLabel('Client id').fill(idp.clientId);
    await form.getByLabel('Client secret').fill(idp.clientSecret);
    await form.getByLabel('Scopes').fill('openid profile groups offline_access');
    await form.getByRole('button', { name: 'Create' }).click();
    // The redirect URI to register at the provider is shown, exactly.
    await page
      .locator('tr[data-row="Acme ID"]', { hasText: `${cp.url}/api/auth/sso/${SLUG}/callback` })
      .waitFor();
    const groups = page.getByRole('form', { name: 'Map a group of Acme ID' });
    for (const [group, gives, team] of [
      ['qa-engineers', 'member', 'qa'],
      ['developers', 'member', 'dev'],
      ['nullops-admins', 'admin', undefined],
    ] as const) {
      await groups.getByLabel('Provider group').fill(group);
      await groups.getByLabel('Gives').selectOption(gives);
      if (team) await groups.getByLabel('Team').selectOption({ label: team });
      await groups.getByRole('button', { name: 'Map group' }).click();
      await page.locator(`li[data-mapping="${group}"]`).waitFor();
    }
    await screenshot(page, '28-sso-admin');
    [provider] = (await cp.admin.get('/api/sso/providers')).body.items;
    t.like(provider, { slug: SLUG, hasClientSecret: true, managedByEnv: false });
    const mappings = (await cp.admin.get(`/api/sso/providers/${provider.id}/mappings`)).body.items;
    t.deepEqual(
      mappings.map((m: { group: string; role: string; teamId: string | null }) => [
        m.group,
        m.role,
        m.teamId,
      ]),
      [
        ['developers', 'member', teams.dev],
        ['nullops-admins', 'admin', null],
        ['qa-engineers', 'member', teams.qa],
      ],
    );
  },
);

test.serial('signing in through the provider makes the account and its teams from its groups', async (t) => {
  const page = await ssoSignIn('alice');
  await signedIn(page);
  await screenshot(page, '25-sso-signed-in');
  const alice = await userNamed('alice');
  t.like(alice, { role: 'user', ssoProviderId: provider.id, displayName: 'Alice Doe' });
  t.deepEqual((await visibleProjects(page)).map((p) => p.name).sort(), ['api', 'shop']);
  const qa = (await cp.admin.get(`/api/teams/${teams.qa}`)).body;
  t.true(qa.members.some((m: { username: string }) => m.username === 'alice'));
  // The audit says the provider did it.
  const added = (await cp.admin.get('/api/audit?action=teams.members.add')).body.items;
  t.true(
    added.some(
      (e: { actorName: string; targetId: string }) =>
        e.actorName === `sso:${SLUG}` && e.targetId === teams.qa,
    ),
  );
  // A group mapped to the administrator role makes an administrator.
  const admin = await ssoSignIn('carol');
  await signedIn(admin);
  t.is((await userNamed('carol')).role, 'admin');
});

test.serial('a lost group loses its team at the next sign-in; a manual membership stays', async (t) => {
  const alice = await userNamed('alice');
  await cp.admin.expect(204, 'PUT', `/api/teams/${teams.ops}/members/${alice.id}`);
  const before = await ssoSignIn('alice');
  await signedIn(before);
  t.deepEqual(
    (await visible(before, 'deployments')).map((d) => d.name),
    ['shop-demo'],
  );
  idp.people.set('alice', { groups: ['developers'], name: 'Alice Doe' });
  const page = await ssoSignIn('alice');
  await signedIn(page);
  t.deepEqual((await visibleProjects(page)).map((p) => p.name).sort(), ['api', 'infra']);
  // Not even for a moment from a list kept from before the sign-in.
  t.deepEqual(await visible(page, 'deployments'), []);
  await before.reload();
  await signedIn(before);
  t.deepEqual(await visible(before, 'deployments'), [], 'her other session lost it too');
  const removed = (await cp.admin.get('/api/audit?action=teams.members.remove')).body.items;
  t.like(removed[0], { actorName: `sso:${SLUG}`, targetId: teams.qa });
  t.regex(JSON.stringify(removed[0].details), /no longer in a group mapped to it/);
});

test.serial('someone in no mapped group is refused in plain words, and no account is made', async (t) => {
  const page = await ssoSignIn('bob');
  t.regex(
    await refusedWith(page, /not in any group/),
    /your account is not in any group that may use NullOps/,
  );
  await screenshot(page, '26-sso-refused');
  t.is(await userNamed('bob'), undefined);
  const denied = (await cp.admin.get('/api/audit?action=auth.sso.login&outcome=denied')).body.items;
  t.regex(JSON.stringify(denied[0].details), /not in any group/);
});

test.serial(
  'bad answers are refused: a tampered state, a wrong issuer, an expired ID token, a key the provider does not publish',
  async (t) => {
    // The answer comes back with another state than the one this browser's sign-in sent.
    idp.tamperState = true;
    const tamperedState = await ssoSignIn('alice');
    idp.tamperState = false;
    await refusedWith(tamperedState, /its state differs/);

    const refusals: [string, Tamper, RegExp][] = [
      [
        'wrong issuer',
        (claims) => ({ claims: { ...claims, iss: 'https://evil.example' } }),
        /was not issued by/,
      ],
      [
        'expired ID token',
        (claims) => {
          const now = Math.floor(Date.now() / 1000);
          return { claims: { ...claims, iat: now - 7200, exp: now - 3600 } };
        },
        /has expired or is not valid yet/,
      ],
    ];
    for (const [what, tamper, words] of refusals) {
      idp.tamper = tamper;
      const page = await ssoSignIn('alice');
      t.regex(await refusedWith(page, words), words, what);
    }
    // A key the provider rotated in is fetched and taken; one it does not publish is refused.
    idp.publishRotatedKey();
    idp.tamper = (claims) => ({ claims, key: 'rotated' });
    await signedIn(await ssoSignIn('alice'));
    idp.tamper = (claims) => ({ claims, key: 'retired' });
    await refusedWith(await ssoSignIn('alice'), /not signed by a key Acme ID publishes/);
    idp.tamper = undefined;
    const denied = (await cp.admin.get('/api/audit?action=auth.sso.login&outcome=denied')).body.items;
    t.true(denied.length >= 4, 'each refusal is audited');
  },
);

test.serial(
  'the provider has the last word: a refresh it refuses ends the sessions and stops the API tokens; the CLI uses a token an admin made',
  async (t) => {
    const alice = await userNamed('alice');
    const { token } = await cp.admin.expect(201, 'POST', `/api/users/${alice.id}/tokens`, {
      name: 'alice-cli',
    });
    const config = await tempDir('nullops-cli-sso-');
    const cli = (args: string[]) =>
      new Promise<{ code: number; out: string }>((done) =>
        execFile(
          resolve('node_modules/.bin/nullops'),
          args,
          { env: { PATH: process.env.PATH, XDG_CONFIG_HOME: config }, timeout: DEADLINE_MS },
          (err, stdout, stderr) =>
            done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
        ),
      );
    const login = await cli(['login', cp.url, '--token', token]);
    t.is(login.code, 0, login.out);
    t.regex(login.out, /as alice/);
    t.is((await cli(['ls'])).code, 0);

    const page = await ssoSignIn('alice');
    await signedIn(page);
    const status = () => page.evaluate(async () => (await fetch('/api/auth/me')).status);
    // The session's ID token expires: the provider's refresh token renews it.
    const due = () =>
      cp.database
        .db('sessions')
        .where({ userId: alice.id })
        .update({ refreshAt: new Date(0) });
    await due();
    t.is(await status(), 200);
    // (Her newest session is this browser's; earlier tests left others, also due, not asked about.)
    const renewed = await cp.database
      .db('sessions')
      .where({ userId: alice.id })
      .orderBy('createdAt', 'desc')
      .first('refreshAt');
    t.true(new Date(renewed.refreshAt).getTime() > Date.now(), 'renewed until the new ID token expires');

    // Disabled at the provider: the next refresh is refused. (A renewal asked before she was
    // disabled — the sweep's, every second here — may still come back renewed: she is made due
    // again until a refresh asked since is refused.)
    idp.people.set('alice', { groups: ['developers'], disabled: true });
    await eventually('a refresh refused', async () => {
      await due();
      return (await status()) === 401;
    });
    t.is(
      (await cp.database.db('sessions').where({ userId: alice.id })).length,
      0,
      'every session of hers ended',
    );
    const after = await eventually('the token stops', async () => {
      const run = await cli(['ls']);
      return run.code !== 0 ? run : undefined;
    });
    t.regex(after.out, /invalid, expired or revoked/);
    const ended = (await cp.admin.get('/api/audit?action=users.access-ended')).body.items;
    t.like(ended[0], { actorName: `sso:${SLUG}`, targetId: alice.id });
  },
);

test.serial(
  'a user the provider disabled loses their API tokens at the next sweep, though no session of theirs is used',
  async (t) => {
    idp.people.set('erin', { groups: ['qa-engineers'], name: 'Erin Roe' });
    const page = await ssoSignIn('erin');
    await signedIn(page);
    await page.context().close();
    const erin = await userNamed('erin');
    const { token } = await cp.admin.expect(201, 'POST', `/api/users/${erin.id}/tokens`, { name: 'erin-ci' });
    const withToken = ApiClient.withToken(cp.url, token);
    t.is((await withToken.get('/api/auth/me')).status, 200);

    // Disabled at the provider while her session sits unused; its ID token expires.
    idp.people.set('erin', { groups: ['qa-engineers'], disabled: true });
    await cp.database
      .db('sessions')
      .where({ userId: erin.id })
      .update({ refreshAt: new Date(0) });
    await eventually('the token stops', async () => (await withToken.get('/api/auth/me')).status === 401);
    t.is((await cp.database.db('sessions').where({ userId: erin.id })).length, 0, 'her session ended');
    const ended = (await cp.admin.get('/api/audit?action=users.access-ended')).body.items;
    t.like(ended[0], { actorName: `sso:${SLUG}`, targetId: erin.id });
  },
);

test.serial(
  'password sign-in can be limited to break-glass administrators, never locking everyone out',
  async (t) => {
    const { admin } = cp;
    // In the admin UI: refused while no administrator is marked break-glass.
    const settings = await (await browser.newContext()).newPage();
    await signIn(settings, cp.url, 'admin', cp.adminPassword);
    await settings.goto(`${cp.url}/admin/sso`);
    const passwords = settings.getByRole('group', { name: 'Password sign-in' });
    await passwords.getByLabel('Password sign-in').selectOption('break-glass');
    await passwords
      .getByRole('alert')
      .filter({ hasText: /mark one first/ })
      .waitFor();
    const me = (await admin.get('/api/auth/me')).body.user;
    await admin.expect(200, 'PATCH', `/api/users/${me.id}`, { breakGlass: true });
    await admin.expect(201, 'POST', '/api/users', { username: 'dave', password: 'a-long-enough-password' });
    await settings.reload();
    await passwords.getByLabel('Password sign-in').selectOption('break-glass');
    await passwords.getByRole('status').filter({ hasText: 'Only break-glass administrators' }).waitFor();
    t.is((await admin.get('/api/auth/sso')).body.passwordLogin, 'break-glass');

    const page = await (await browser.newContext()).newPage();
    await page.goto(cp.url);
    await page.getByRole('button', { name: 'Sign in with Acme ID' }).waitFor();
    t.false(await page.getByLabel('Password').isVisible(), 'the password form is folded away');
    await page.getByText('Administrator sign-in (break-glass)').click();
    await page.getByLabel('User name').fill('dave');
    await page.getByLabel('Password').fill('a-long-enough-password');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await refusedWith(page, /limited to break-glass administrators/);
    await screenshot(page, '27-sso-break-glass');
    await page.getByLabel('User name').fill(me.username);
    await page.getByLabel('Password').fill(cp.adminPassword);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await signedIn(page);
    await admin.expect(200, 'PUT', '/api/auth/password-login', { mode: 'on' });
  },
);

test('providers from NULLOPS_SSO_PROVIDERS are managed there: shown, not changeable in the UI', async (t) => {
  const managed = await startTestControlPlane({
    NULLOPS_SSO_PROVIDERS: JSON.stringify([
      {
        slug: 'corp',
        name: 'Corp SSO',
        issuer: 'https://sso.corp.example/realms/corp',
        clientId: 'nullops',
        clientSecret: 's3cret-value',
      },
    ]),
  });
  t.teardown(() => managed.close());
  const [corp] = (await managed.admin.get('/api/sso/providers')).body.items;
  t.like(corp, { slug: 'corp', managedByEnv: true, hasClientSecret: true });
  t.false(JSON.stringify(corp).includes('s3cret-value'));
  const change = await managed.admin.request('PATCH', `/api/sso/providers/${corp.id}`, { name: 'Other' });
  t.is(change.status, 409);
  t.regex(change.body.error.message, /NULLOPS_SSO_PROVIDERS/);
  t.deepEqual((await managed.admin.get('/api/auth/sso')).body.providers, [
    { slug: 'corp', name: 'Corp SSO' },
  ]);
});
