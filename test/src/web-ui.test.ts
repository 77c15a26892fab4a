import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import test from 'ava';
import type { Browser } from 'playwright-core';
import { freePort } from './helpers/agent-process.js';
import { ApiClient } from './helpers/api-client.js';
import { launchBrowser, screenshot, signIn, statusSays } from './helpers/browser.js';
import { ensureTestImages } from './helpers/docker.js';
import { STACK_PASSWORD, type Stack, startStack } from './helpers/stack.js';
import { troubleIn } from './helpers/test-control-plane.js';
import { eventually } from './helpers/time.js';
import { startVerdaccio, type TestNpmRegistry } from './helpers/verdaccio.js';

// The web UI in a real Chromium against a running stack (control plane serving the built UI,
// a Docker agent, a registry).

let s: Stack;
let browser: Browser;
let portal: { url: string; close(): Promise<void> };
let stranger: { url: string; close(): Promise<void> };
let npm: TestNpmRegistry;

/** A web server on another origin serving the embed demo page (frontend/demo/embed.html). */
async function servePortal(port: number) {
  const page = await readFile(resolve('frontend/demo/embed.html'));
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(page));
  await new Promise<void>((ok) => server.listen(port, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}

test.before(async () => {
  ensureTestImages();
  npm = await startVerdaccio();
  await npm.publish(resolve('test/fixtures/plugins/shout'));
  await npm.publish(resolve('test/fixtures/plugins/greeter'));
  const portalPort = await freePort();
  portal = await servePortal(portalPort);
  stranger = await servePortal(await freePort());
  s = await startStack({
    env: { NULLOPS_CORS_ORIGINS: `http://127.0.0.1:${portalPort}` },
    prepare: (registry) => {
      // A web service that logs every request (httpd -v), so the page has live log lines to show.
      for (const tag of ['v1.0', 'v1.1'])
        registry.pushBuilt(
          'team/web',
          tag,
          `FROM nullops-test/busybox:1\nRUN mkdir -p /www && echo "web ${tag}" > /www/index.html\nCMD ["sh", "-c", "echo web ${tag} starting; exec httpd -f -v -p 80 -h /www"]\n`,
        );
    },
    services: [{ name: 'web', image: 'team/web', pattern: 'v*' }],
    users: [
      { name: 'fuller', access: 'full' },
      { name: 'reader', access: 'read' },
    ],
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
  browser = await launchBrowser();
});

test.afterEach.always((t) => {
  // A failed test reports what the control plane complained about meanwhile.
  if (!t.passed) for (const line of troubleIn(s.cp.logs)) t.log(line);
});

test.after.always(async () => {
  // The browser first: its open connections (event streams, keep-alive) would hold servers open.
  await browser?.close();
  await s?.stop();
  await npm?.stop();
  await portal?.close();
  await stranger?.close();
});

test.serial(
  'a full-access user creates a deployment, watches it run, opens it, reads its logs, extends and deletes it',
  async (t) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on('dialog', (dialog) => void dialog.accept());
    await page.goto(s.cp.url);
    await page.getByRole('heading', { name: 'Sign in to NullOps' }).waitFor();
    await screenshot(page, '01-login');
    await signIn(page, s.cp.url, 'fuller', STACK_PASSWORD);
    await page.getByText('No deployments yet.').waitFor();

    await page.getByRole('button', { name: 'New deployment' }).click();
    // A budget no node can hold: the form says so at once, and nothing is created.
    await s.admin.expect(200, 'PATCH', `/api/projects/${s.project.id}`, { cpuMillicores: 900_000 });
    await page.getByLabel('Name').fill('too-big');
    await page.getByRole('button', { name: 'Create' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: /no node in environment "qa" has room for 900000m CPU/ })
      .waitFor();
    await s.admin.expect(200, 'PATCH', `/api/projects/${s.project.id}`, { cpuMillicores: 100 });
    t.is((await s.admin.get('/api/deployments')).body.items.length, 0);
    const tag = page.getByLabel('web');
    await tag.locator('option', { hasText: 'v1.0' }).waitFor({ state: 'attached' });
    t.deepEqual(await tag.locator('option').allTextContents(), ['v1.1', 'v1.0'], 'newest tag first');
    await tag.selectOption('v1.0');
    await page.getByLabel('Name').fill('ui-demo');
    await screenshot(page, '02-create');
    await page.getByRole('button', { name: 'Create' }).click();

    // The deployment page: live progress until running.
    await page.getByRole('heading', { name: /ui-demo/ }).waitFor();
    await page.locator('h1 .state.running').waitFor();
    const steps = await page.locator('ol.progress li').allTextContents();
    t.true(
      steps.some((x) => /web\s+started/.test(x)),
      steps.join(' | '),
    );
    t.true(
      steps.some((x) => /web\s+succeeded/.test(x)),
      steps.join(' | '),
    );
    t.regex(await page.locator('nullops-countdown time').first().innerText(), /^(\d+h \d{2}m|\d+m \d{2}s)$/);

    // Open the service URL shown on the page.
    const link = page.locator('li[data-service="web"] a');
    const url = await link.getAttribute('href');
    t.is(url, `http://web.ui-demo.qa.nullops.test:${s.ingressPort}`);
    const service = await context.newPage();
    await service.goto(url as string);
    t.is((await service.textContent('body'))?.trim(), 'web v1.0');
    await service.close();
    // Live logs: the request just made shows up (httpd -v logs it).
    await page.locator('pre.logs', { hasText: 'web v1.0 starting' }).waitFor();
    await page.locator('pre.logs', { hasText: 'response:200' }).waitFor();
    // Real usage from the node's heartbeats.
    await page
      .locator('li[data-service="web"] .metrics')
      .filter({ hasText: /CPU [\d.]+% · RAM [\d.]+ \/ \d+ MiB/ })
      .waitFor();
    t.regex(
      await page.locator('pre.logs time').first().innerText(),
      /^\d{2}:\d{2}:\d{2}$/,
      'each line has its time',
    );
    await page.getByLabel('Search logs').fill('starting');
    t.false(
      (await page.locator('pre.logs').innerText()).includes('response:200'),
      'search filters the lines',
    );
    await screenshot(page, '03-deployment');

    // The progress list follows what happens while it is at its end, and stays put once scrolled up.
    const id = new URL(page.url()).pathname.split('/').pop() as string;
    const progress = page.locator('ol.progress');
    const items = () => progress.locator('li').count();
    const before = await items();
    for (let i = 0; i < 12; i++) await s.admin.expect(200, 'POST', `/api/deployments/${id}/extend`);
    await eventually('twelve more steps listed', async () => (await items()) >= before + 12);
    const atEnd = () =>
      progress.evaluate((el) => ({
        overflows: el.scrollHeight > el.clientHeight,
        atEnd: el.scrollTop + el.clientHeight >= el.scrollHeight - 8,
      }));
    await eventually('the list scrolled to its end', async () => (await atEnd()).atEnd);
    t.true((await atEnd()).overflows, 'more than the list shows at once');
    await progress.evaluate((el) => el.scrollTo({ top: 0 }));
    const scrolledUp = await items();
    await s.admin.expect(200, 'POST', `/api/deployments/${id}/extend`);
    await eventually('one more listed', async () => (await items()) > scrolledUp);
    t.is(await progress.evaluate((el) => el.scrollTop), 0, 'a reader scrolled up stays where they are');

    // Extend by a chosen time; the history says it in the reader's own time, not as ISO.
    const extended = page.locator('td', { hasText: /^extended/ });
    await page.getByLabel('Extend ui-demo').selectOption({ label: 'by 8 hours' });
    const extendedAt = Date.now();
    await page.getByRole('button', { name: 'Extend' }).click();
    const row = await eventually('the extend by 8 h in the history', async () =>
      (await extended.allInnerTexts()).find((text) => /^extended — by 8 h: expires /.test(text)),
    );
    t.notRegex(row, /\d{2}:\d{2}:\d{2}(\.\d+)?Z/, 'the time is the reader’s, not ISO');
    const expires = Date.parse((await s.admin.get(`/api/deployments/${id}`)).body.expiresAt);
    t.true(Math.abs(expires - (extendedAt + 8 * 3600_000)) < 120_000, `expires in 8 h: ${new Date(expires)}`);
    const tooLong = await s.admin.expect(400, 'POST', `/api/deployments/${id}/extend`, { hours: 1000 });
    t.regex(tooLong.error.message, /hours/);
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.locator('h1 .state', { hasText: /deleting|deleted/ }).waitFor();
    // Deleted, its last lines stay readable on its page: read by its node before it removed them.
    await page.locator('h1 .state', { hasText: 'deleted' }).waitFor();
    await page.locator('[data-kept="deleted"]', { hasText: 'The last' }).waitFor();
    await page.getByLabel('Search logs').fill('');
    await page.locator('pre.logs', { hasText: 'web v1.0 starting' }).waitFor();
    const [kept] = (await s.admin.get(`/api/deployments/${id}/kept-logs`)).body.items;
    t.is(kept.service, 'web');
    t.is(kept.reason, 'deleted');
    t.true(kept.lines.some((l: { line: string }) => l.line.includes('response:200')));
    await page.goto(s.cp.url);
    await context.close();
  },
);

test.serial(
  'a deployment whose health check fails shows the probe live while it waits, then its last answer and the lines its service printed',
  async (t) => {
    const project = await s.addProject('broken-check', {
      graph: {
        nodes: [
          {
            id: 'web',
            type: 'container.service',
            params: {
              service: 'web',
              port: 80,
              healthCheck: { kind: 'http', path: '/health' },
              healthTimeoutSeconds: 8,
            },
          },
        ],
        edges: [],
      },
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await signIn(page, s.cp.url, 'admin', s.cp.adminPassword);
    const created = await s.admin.expect(201, 'POST', `/api/projects/${project.id}/deployments`, {
      environmentId: s.env.id,
      name: 'no-health',
      tags: { web: 'v1.1' },
    });
    await page.goto(`${s.cp.url}/deployments/${created.id}`);
    // While it waits: the probe's latest answer, live, with how long ago it came.
    const waiting = page.locator('ol.progress li[data-kind="step.waiting"][data-step="web"]');
    await waiting.filter({ hasText: /GET \/health → HTTP 404: 404 Not Found[\s\S]*\(\d+ s ago\)/ }).waitFor();
    await screenshot(page, '20-waiting-for-health');
    // Failed: the error carries the check's last answer, the waiting line is gone, and the Logs
    // panel shows what the service printed before the rollback removed it.
    await page.locator('h1 .state.failed').waitFor();
    await page
      .getByText(/did not pass its http health check within 8 s \(last: HTTP 404: 404 Not Found/)
      .first()
      .waitFor();
    t.is(await waiting.count(), 0);
    await page.locator('[data-kept="failed"]', { hasText: 'kept when its run failed' }).waitFor();
    await page.locator('pre.logs', { hasText: 'web v1.1 starting' }).waitFor();
    await page.locator('pre.logs', { hasText: 'response:404' }).waitFor();
    await screenshot(page, '21-failed-kept-logs');
    const failed = (await s.admin.get(`/api/deployments/${created.id}`)).body;
    t.regex(failed.error.message, /last: HTTP 404/);
    await context.close();
  },
);

test.serial('a read-access user sees deployments but no create, extend or delete controls', async (t) => {
  const id = await s.deploy('shared', { web: 'v1.1' });
  await s.until(id, 'running');
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  await signIn(page, s.cp.url, 'reader', STACK_PASSWORD);
  await page.locator('tr[data-deployment="shared"]').waitFor();
  t.is(await page.getByRole('button', { name: 'New deployment' }).count(), 0);
  t.is(await page.locator('tr[data-deployment="shared"] button').count(), 0);
  t.is(await page.locator('tr[data-deployment="shared"]').getByText('read only').count(), 1);
  // The list says which versions run (the column is hidden on narrow screens, present in the row).
  t.is((await page.locator('tr[data-deployment="shared"] td.tags').textContent())?.trim(), 'web: v1.1');
  await screenshot(page, '04-reader-phone');
  await page.locator('tr[data-deployment="shared"] a', { hasText: 'shared' }).click();
  await page.locator('h1 .state.running').waitFor();
  t.is(await page.getByRole('group', { name: 'Actions' }).count(), 0);
  t.is(await page.getByRole('button', { name: /Extend|Delete|Cancel/ }).count(), 0);
  await context.close();
});

test.serial(
  'a sign-in whose next step fails says so on the login page, and the next try gets in',
  async (t) => {
    const context = await browser.newContext();
    const page = await context.newPage();
    // The password is accepted, then loading the user's access fails once (a replica restarting).
    let refused = 0;
    await page.route('**/api/auth/access', (route) =>
      refused++
        ? route.continue()
        : route.fulfill({
            status: 503,
            contentType: 'application/json',
            body: JSON.stringify({ error: { code: 'unavailable', message: 'the service is restarting' } }),
          }),
    );
    await page.goto(s.cp.url);
    await page.getByLabel('User name').fill('fuller');
    await page.getByLabel('Password').fill(STACK_PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'the service is restarting' }).waitFor();
    t.is(await page.getByRole('heading', { name: 'Deployments' }).count(), 0);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Deployments' }).waitFor();
    t.is(refused, 2);
    await context.close();
  },
);

test.serial(
  'keys typed while the sign-in options are still on their way stay where they were typed',
  async (t) => {
    const context = await browser.newContext();
    const page = await context.newPage();
    let release!: () => void;
    const held = new Promise<void>((ok) => {
      release = ok;
    });
    await page.route('**/api/auth/sso', async (route) => {
      await held;
      await route.continue();
    });
    await page.goto(s.cp.url);
    await page.getByLabel('User name').fill('fuller');
    await page.getByLabel('Password').click();
    await page.keyboard.type(STACK_PASSWORD.slice(0, 4));
    const options = page.waitForResponse('**/api/auth/sso');
    release();
    await (await options).finished();
    // The login page has drawn what came before the next key.
    await page.evaluate(
      'document.querySelector("nullops-app").shadowRoot.querySelector("nullops-login-page").updateComplete',
    );
    await page.keyboard.type(STACK_PASSWORD.slice(4));
    t.is(await page.getByLabel('User name').inputValue(), 'fuller');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Deployments' }).waitFor();
    await context.close();
  },
);

test.serial(
  'a runtime typed while the environments are still on their way is kept when they come',
  async (t) => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, s.cp.url, 'admin', s.cp.adminPassword);
    let release!: () => void;
    const held = new Promise<void>((ok) => {
      release = ok;
    });
    await page.route(/\/api\/environments(\?.*)?$/, async (route) => {
      await held;
      await route.continue();
    });
    await page.goto(`${s.cp.url}/admin/environments`);
    const form = page.getByRole('form', { name: 'New Environments' });
    await form.getByLabel('Runtime').fill('podman');
    release();
    // The list came and the page drew it (with its runtime choices) over the form being filled in.
    await page.locator(`tr[data-row="${s.env.name}"]`).waitFor();
    t.is(await form.getByLabel('Runtime').inputValue(), 'podman');
    await context.close();
  },
);

test.serial('dark theme, deep links and unknown pages', async (t) => {
  const context = await browser.newContext({ colorScheme: 'dark', viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await signIn(page, s.cp.url, 'fuller', STACK_PASSWORD);
  // (evaluated in the page: the test itself has no DOM types)
  const background = await page.evaluate(
    'getComputedStyle(document.querySelector("nullops-app")).backgroundColor',
  );
  t.is(background, 'rgb(15, 18, 22)', 'the dark palette follows the system');
  await screenshot(page, '05-dark');
  await page.goto(`${s.cp.url}/no/such/page`);
  await page.getByRole('heading', { name: 'Not found' }).waitFor();
  // The API keeps answering JSON errors, never the page.
  const api = await page.request.get(`${s.cp.url}/api/nothing`);
  t.is(api.status(), 404);
  t.regex(api.headers()['content-type'] ?? '', /json/);
  await context.close();
});

test.serial(
  'embedded elements on another origin list deployments and create one with an API token',
  async (t) => {
    const fuller = await ApiClient.login(s.cp.url, 'fuller', STACK_PASSWORD);
    const { token } = await fuller.expect(201, 'POST', '/api/auth/tokens', { name: 'portal' });
    const query = new URLSearchParams({ api: s.cp.url, project: s.project.id, token }).toString();
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${portal.url}/?${query}`);
    await page.locator('nullops-deployments tr[data-deployment="shared"]').waitFor();
    await page.getByRole('button', { name: 'Deploy' }).click();
    await page
      .locator('nullops-deploy-button select[name="tag-web"] option', { hasText: 'v1.1' })
      .waitFor({ state: 'attached' });
    await page.locator('nullops-deploy-button input[name="name"]').fill('from-portal');
    await page.locator('nullops-deploy-button').getByRole('button', { name: 'Create' }).click();
    await page.getByRole('status').filter({ hasText: 'Created from-portal' }).waitFor();
    await page.locator('nullops-deployments tr[data-deployment="from-portal"]').waitFor();
    await screenshot(page, '06-embedded-portal');
    const created = (await fuller.get('/api/deployments')).body.items.find(
      (d: { name: string }) => d.name === 'from-portal',
    );
    t.is(created?.createdBy, 'fuller', "created with the token owner's identity");

    // A page on an origin that is not configured gets no CORS grant: the browser refuses the answer.
    const other = await context.newPage();
    await other.goto(`${stranger.url}/?${query}`);
    await other.locator('nullops-deployments p.error').waitFor();
    t.is(await other.locator('nullops-deployments tr').count(), 0);
    await context.close();
  },
);

test.serial(
  'an admin builds a two-node pipeline in the editor, saves it as version 2, and views version 1 read-only',
  async (t) => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    await signIn(page, s.cp.url, 'admin', s.cp.adminPassword);
    await page.getByRole('link', { name: 'Projects' }).click();
    await page
      .getByRole('row', { name: /^plugins\b/ })
      .getByRole('link', { name: 'Edit pipeline' })
      .click();
    await page.getByRole('heading', { name: /Pipeline/ }).waitFor();
    await page.locator('tr[data-version="1"]').waitFor();
    // Start from scratch: remove the saved node, then add two from the palette and connect them.
    await page.getByRole('link', { name: 'web', exact: true }).click();
    await page.getByRole('button', { name: 'Remove node' }).click();
    await page.getByRole('button', { name: 'Container service' }).click();
    const form = page.getByRole('form', { name: 'Node service' });
    // Which service it runs is a choice among the project's services, not free text.
    t.deepEqual(await form.getByLabel('service *').locator('option').allTextContents(), [
      '— choose a service of the project —',
      'web',
    ]);
    await form.getByLabel('service *').selectOption('web');
    await form.getByLabel('port').fill('80');
    await form.getByLabel('port').press('Tab');
    await page.getByRole('button', { name: 'HTTP check' }).click();
    const check = page.getByRole('form', { name: 'Node check' });
    await check.getByLabel('service', { exact: true }).fill('web');
    await check.getByLabel('service', { exact: true }).press('Tab');
    // Connecting is validated: an unconnected reference would be refused.
    await page.getByLabel('From', { exact: true }).selectOption('service');
    await page.getByLabel('To', { exact: true }).selectOption('check');
    await page.getByRole('button', { name: 'Connect' }).click();
    t.deepEqual(await page.getByRole('list', { name: 'Edges' }).locator('li').allTextContents(), [
      'service → check ×',
    ]);
    await page.getByLabel('Comment').fill('web with a readiness check');
    await screenshot(page, '07-pipeline-editor');
    await page.getByRole('button', { name: 'Save' }).click();
    await statusSays(page, 'Saved as version 2');
    await page.locator('tr[data-version="2"]', { hasText: 'web with a readiness check' }).waitFor();

    const saved = (await s.admin.get(`/api/projects/${s.project.id}/pipeline`)).body;
    t.is(saved.version, 2);
    t.deepEqual(saved.graph.edges, [{ from: 'service', to: 'check' }]);
    t.deepEqual(
      saved.graph.nodes.map((n: { id: string; type: string; params: unknown }) => [n.id, n.type, n.params]),
      [
        ['service', 'container.service', { service: 'web', port: 80 }],
        ['check', 'http.check', { service: 'web' }],
      ],
    );

    // Old versions open read-only.
    await page.locator('tr[data-version="1"] a').click();
    await page.getByText('(read-only)').waitFor();
    t.is(await page.getByRole('button', { name: 'Save' }).count(), 0);
    t.is(await page.getByRole('button', { name: 'Container service' }).count(), 0);
    await context.close();
  },
);

test.serial(
  'an admin installs a plugin in the UI; its panel appears on the deployment page without a rebuild',
  async (t) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await signIn(page, s.cp.url, 'admin', s.cp.adminPassword);
    const shared = (await s.admin.get('/api/deployments')).body.items.find(
      (d: { name: string }) => d.name === 'shared',
    );
    await page.goto(`${s.cp.url}/deployments/${shared.id}`);
    await page.locator('h1 .state.running').waitFor();
    t.is(
      await page.locator('section[data-plugin="@fixtures/nullops-greeter"]').count(),
      0,
      'no greeter panel before the install',
    );

    await page.getByRole('link', { name: 'Plugins' }).click();
    await page.getByLabel('Package').fill('@fixtures/nullops-greeter@^1');
    await page.getByLabel('Registry URL').fill(npm.url);
    await page.getByLabel('Token (optional)').fill(npm.token);
    await page.getByRole('button', { name: 'Install' }).click();
    const row = page.locator('tr[data-plugin="@fixtures/nullops-greeter"]');
    await row.locator('li.loaded[data-host="control-plane"]').waitFor();
    await row.locator('li.loaded[data-host="node-1"]').waitFor();
    await screenshot(page, '08-plugins');

    await page.goto(`${s.cp.url}/deployments/${shared.id}`);
    const panel = page.locator('section[data-plugin="@fixtures/nullops-greeter"]');
    await panel.getByText('Greetings to shared from greeter 1.0.0').waitFor();
    // A panel that throws as it gets its data says so in its slot; the page around it is whole.
    await page
      .locator('section[aria-label="Fragile"] [data-failed]', {
        hasText: 'This extension failed (plugin @fixtures/nullops-greeter): the fragile panel broke',
      })
      .waitFor();
    t.true(await page.getByRole('region', { name: 'Logs' }).isVisible(), 'the page stays whole');
    await screenshot(page, '09-plugin-panel');
    // Its admin page too (slot `admin`).
    await page.getByRole('link', { name: 'Admin' }).click();
    await page
      .getByRole('navigation', { name: 'Administration' })
      .getByRole('link', { name: 'Greeter' })
      .click();
    await page.getByText('Greeter 1.0.0 administration').waitFor();
    t.pass();
    await context.close();
  },
);

test.serial(
  'admin pages: create a registry, an environment and a node (token shown once), a secret (value never shown); the audit log lists it',
  async (t) => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    await signIn(page, s.cp.url, 'admin', s.cp.adminPassword);
    await page.getByRole('link', { name: 'Admin' }).click();
    const form = page.getByRole('form', { name: 'New Registries' });
    await form.getByLabel('Name').fill('acme');
    await form.getByLabel('URL').fill('https://registry.acme.test');
    await form.getByLabel('User (optional)').fill('ci');
    await form.getByLabel('Password (write-only)').fill('registry-password-123');
    // Checked on save: a registry that cannot be reached is refused, naming the field to fix...
    await form.getByRole('button', { name: 'Create' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: /url: registry "acme" at https:\/\/registry\.acme\.test is unreachable/ })
      .waitFor();
    t.is(await page.locator('tr[data-row="acme"]').count(), 0, 'nothing saved');
    // ...unless the admin insists (it may be reachable from the nodes only): saved, with the answer.
    await form.getByLabel('Save even if the registry refuses or cannot be reached now').check();
    await form.getByRole('button', { name: 'Create' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: /Saved without a working check: .*unreachable/ })
      .waitFor();
    await page.locator('tr[data-row="acme"]', { hasText: 'ci / ••••' }).waitFor();
    t.false((await page.content()).includes('registry-password-123'));

    // The service form previews which of the image's tags its pattern selects, as it is typed.
    await page.getByRole('link', { name: 'Services' }).click();
    const service = page.getByRole('form', { name: 'New Services' });
    await service.getByLabel('Registry').selectOption({ label: 'local' });
    await service.getByLabel('Image').fill('team/web');
    await service.getByLabel('Selectable tags (glob)').fill('v1.1*');
    await service
      .getByRole('status', { name: 'Preview' })
      .filter({ hasText: 'v1.1* selects 1 of 2 tags: v1.1' })
      .waitFor();
    await service.getByLabel('Selectable tags (glob)').fill('v*');
    await service
      .getByRole('status', { name: 'Preview' })
      .filter({ hasText: 'v* selects 2 of 2 tags: v1.1, v1.0' })
      .waitFor();
    await screenshot(page, '23-service-tag-preview');

    await page.getByRole('link', { name: 'Environments' }).click();
    const env = page.getByRole('form', { name: 'New Environments' });
    await env.getByLabel('Name (DNS label)').fill('staging');
    await env.getByLabel('Base domain').fill('staging.acme.test');
    await env.getByLabel('Auto-cleanup after (seconds)').fill('7200');
    await env.getByRole('button', { name: 'Create' }).click();
    await page.locator('tr[data-row="staging"]', { hasText: '2 h' }).waitFor();
    // Edit in place: the form fills with the row, Save sends a PATCH.
    await page.locator('tr[data-row="staging"]').getByRole('button', { name: 'Edit' }).click();
    const edit = page.getByRole('form', { name: 'Edit staging' });
    t.is(await edit.getByLabel('Base domain').inputValue(), 'staging.acme.test');
    await edit.getByLabel('Auto-cleanup after (seconds)').fill('14400');
    await edit.getByRole('button', { name: 'Save' }).click();
    await page.locator('tr[data-row="staging"]', { hasText: '4 h' }).waitFor();
    // The runtime is offered, not imposed: a kind an agent package brings is typed in.
    t.is(await env.getByLabel('Runtime').inputValue(), 'docker', 'the first-party default');
    await env.getByLabel('Name (DNS label)').fill('lab');
    await env.getByLabel('Base domain').fill('lab.acme.test');
    await env.getByLabel('Runtime').fill('podman');
    await env.getByLabel('Auto-cleanup after (seconds)').fill('3600');
    await env.getByRole('button', { name: 'Create' }).click();
    await page.locator('tr[data-row="lab"]', { hasText: 'podman' }).waitFor();
    // Overcommit: the environment with a node shows what is allocated of capacity × ratio, and
    // what its node measures in use.
    await page.locator('tr[data-row="qa"]').getByRole('button', { name: 'Edit' }).click();
    const qa = page.getByRole('form', { name: 'Edit qa' });
    await qa.getByLabel('CPU overcommit (× node capacity)').fill('2.5');
    await qa.getByRole('button', { name: 'Save' }).click();
    await page
      .locator('tr[data-row="qa"] [data-capacity="cpu"]', {
        hasText: /^\d+m allocated of \d+m \(\d+m × 2\.5\) · \d+m used$/,
      })
      .waitFor();
    t.is((await s.admin.get(`/api/environments/${s.env.id}`)).body.cpuOvercommit, 2.5);
    const under = await s.admin.request('PATCH', `/api/environments/${s.env.id}`, { cpuOvercommit: 0.5 });
    t.is(under.status, 400);
    t.regex(under.body.error.message, /cpuOvercommit: must be at least 1/);
    await screenshot(page, '24-environment-overcommit');
    await s.admin.expect(200, 'PATCH', `/api/environments/${s.env.id}`, { cpuOvercommit: 1 });

    await page.getByRole('link', { name: 'Nodes' }).click();
    const node = page.getByRole('form', { name: 'New Nodes' });
    await node.getByLabel('Name').fill('edge-1');
    await node.getByLabel('Environment').selectOption({ label: 'staging' });
    await node.getByLabel('Agent host').fill('127.0.0.1');
    await node.getByLabel('Agent port').fill('9');
    await node.getByRole('button', { name: 'Create' }).click();
    const notice = await page.getByRole('status').filter({ hasText: 'shown only now' }).innerText();
    t.regex(notice, /NULLOPS_AGENT_TOKEN=\S{20,}/);
    // The exact command that installs the agent, as README.md gives it, with the token filled in.
    const command = await page.getByLabel('install command').innerText();
    t.regex(command, /^# from the NullOps repository: npm run image:agent-docker builds the image/);
    t.regex(command, /^docker run -d --name nullops-agent --restart unless-stopped --network host/m);
    t.regex(command, /-e NULLOPS_AGENT_PORT=9 /);
    t.regex(command, /-v \/var\/lib\/nullops-agent:\/data/);
    t.regex(command, /nullops\/agent-docker:latest$/);
    t.regex(notice, /DNS: point \*\.staging\.staging\.acme\.test at the ingress/);
    await page.locator('tr[data-row="edge-1"]').waitFor();
    await page.reload();
    await page.locator('tr[data-row="edge-1"]').waitFor();
    t.false(
      (await page.content()).includes(/NULLOPS_AGENT_TOKEN=(\S+)/.exec(notice)?.[1] ?? 'x'),
      'the token is not shown again',
    );
    // A rotated token comes with the command to start the agent again, the new token filled in.
    await page.locator('tr[data-row="edge-1"]').getByRole('button', { name: 'Rotate token' }).click();
    const rotated = await page.getByRole('status').filter({ hasText: 'New token for edge-1' }).innerText();
    const fresh = /NULLOPS_AGENT_TOKEN=(\S+)/.exec(rotated)?.[1];
    t.truthy(fresh);
    t.not(fresh, /NULLOPS_AGENT_TOKEN=(\S+)/.exec(notice)?.[1], 'a new token');

    await page.getByRole('link', { name: 'Secrets' }).click();
    const secret = page.getByRole('form', { name: 'New Secrets' });
    await secret.getByLabel('Name').fill('API_KEY');
    await secret.getByLabel('Value (write-only)').fill('super-secret-value-42');
    await secret.getByRole('button', { name: 'Create' }).click();
    await page.locator('tr[data-row="API_KEY"]', { hasText: '${secret:API_KEY}' }).waitFor();
    t.false((await page.content()).includes('super-secret-value-42'));
    await screenshot(page, '10-admin-secrets');

    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.locator('td', { hasText: 'secrets.create' }).first().waitFor();
    // More than a page of history (every change is audited), however few tests ran before.
    const audited = async () => (await s.admin.get('/api/audit?limit=1')).body.total as number;
    for (let hours = 2; (await audited()) <= 55; hours++)
      await s.admin.expect(200, 'PATCH', `/api/environments/${s.env.id}`, {
        defaultTtlSeconds: hours * 3600,
      });
    // Filtered by action (a prefix), and paged 50 at a time, newest first.
    const filters = page.getByRole('search', { name: 'Filter Audit log' });
    await filters.getByLabel('Action').fill('secrets.*');
    await filters.getByRole('button', { name: 'Filter' }).click();
    await eventually('only secrets.* rows', async () => {
      const actions = await page.locator('tbody tr td:nth-child(3)').allTextContents();
      return actions.length > 0 && actions.every((a) => a.startsWith('secrets.'));
    });
    await filters.getByLabel('Action').fill('');
    await filters.getByRole('button', { name: 'Filter' }).click();
    const pages = page.getByLabel('Pages');
    await pages.getByText(/^1–50 of \d+$/).waitFor();
    await pages.getByRole('button', { name: 'Older' }).click();
    await pages.getByText(/^51–/).waitFor();
    await screenshot(page, '22-audit-filter');
    await context.close();
  },
);

test.serial(
  'an admin imports a docker-compose file after reading its report; a service is stopped and started from its deployment page',
  async (t) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    const page = await context.newPage();
    page.on('dialog', (dialog) => void dialog.accept());
    await signIn(page, s.cp.url, 'admin', s.cp.adminPassword);
    await page.goto(`${s.cp.url}/projects`);
    await page.getByRole('button', { name: 'Import docker-compose' }).click();
    await page.getByLabel('Project name').fill('from-compose');
    await page
      .getByLabel('Compose file (YAML)')
      .fill(
        `services:\n  web:\n    image: ${s.registry.host}/team/web:\${WEB_TAG}\n    ports: ["8080:80"]\n    restart: always\n    build: .\n  docs:\n    image: team/web:v1.0\n`,
      );
    // The CLI's options: a registry for images without a host, variables, selectable tags.
    const local = (await s.admin.get('/api/registries')).body.items.find(
      (r: { name: string }) => r.name === 'local',
    );
    await page.getByLabel('Registry for images without a registry host').selectOption(local.id);
    await page.getByLabel(/^Variables/).fill('WEB_TAG=v1.1');
    t.true(await page.getByRole('button', { name: 'Import' }).isDisabled(), 'no import before the preview');
    await page.getByRole('button', { name: 'Preview' }).click();
    const report = page.getByLabel('Import report');
    await report.locator('li[data-service="web"]', { hasText: 'pinned v1.1' }).waitFor();
    await report.locator('li[data-service="docs"]', { hasText: 'local/team/web pinned v1.0' }).waitFor();
    await page.getByLabel('Selectable tags of web').fill('v*');
    await page.getByLabel('Selectable tags of web').press('Tab');
    await report.locator('li[data-service="web"]', { hasText: 'selectable v*' }).waitFor();
    await report.locator('.unmapped li', { hasText: 'services.web.restart' }).waitFor();
    await report
      .locator('.unmapped li', { hasText: /services\.web\.build: NullOps deploys images from a registry/ })
      .waitFor();
    t.false(
      (await s.admin.get('/api/projects')).body.items.some(
        (p: { name: string }) => p.name === 'from-compose',
      ),
      'the preview created nothing',
    );
    await screenshot(page, '12-compose-import');
    await page.getByRole('button', { name: 'Import' }).click();
    await page.waitForURL(/\/projects\/[0-9a-f-]+\/pipeline$/);
    const imported = (await s.admin.get('/api/projects')).body.items.find(
      (p: { name: string }) => p.name === 'from-compose',
    );
    t.truthy(imported);
    t.is((await s.admin.get(`/api/projects/${imported.id}/pipeline`)).body.graph.nodes[0].params.port, 80);
    // What the report said: web selectable by v* (the identical web of the catalogue, reused),
    // docs from the chosen registry, its tag pinned.
    const services = (await s.admin.get(`/api/projects/${imported.id}`)).body.services as {
      name: string;
      registryId: string;
      tagMode: string;
      tag: string | null;
      tagPattern: string | null;
    }[];
    t.like(
      services.find((x) => x.name === 'web'),
      { registryId: local.id, tagMode: 'selectable', tagPattern: 'v*' },
    );
    t.like(
      services.find((x) => x.name === 'docs'),
      { registryId: local.id, tagMode: 'pinned', tag: 'v1.0' },
    );

    // Day-2 on the deployment page: stop the service, see it stopped; start it, see it running.
    const id = await s.deploy('ops-ui', { web: 'v1.1' });
    await s.until(id, 'running');
    await page.goto(`${s.cp.url}/deployments/${id}`);
    await page.getByRole('button', { name: 'Stop web' }).click();
    await page.locator('li[data-service="web"] .state.stopped').waitFor();
    await page.locator('li[data-operation="service.stop"] .state.succeeded').waitFor();
    await page.getByRole('button', { name: 'Start web', exact: true }).click();
    await page.locator('li[data-service="web"] .state.running').waitFor();
    await page.locator('td', { hasText: /^service\.started/ }).waitFor();
    await screenshot(page, '13-day2');
    await s.admin.expect(202, 'DELETE', `/api/deployments/${id}`);
    await s.until(id, 'deleted');
    await context.close();
  },
);

test.serial(
  'your account: a scoped API token is made (shown once), listed and revoked; a wrong current password is refused; clone picks another version',
  async (t) => {
    await s.admin.expect(201, 'POST', '/api/users', { username: 'carol', password: STACK_PASSWORD });
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    const page = await context.newPage();
    page.on('dialog', (dialog) => void dialog.accept());
    await signIn(page, s.cp.url, 'carol', STACK_PASSWORD);
    await page.getByRole('link', { name: 'Your account' }).click();
    const form = page.getByRole('form', { name: 'New token' });
    await form.getByLabel('Name').fill('github-ci');
    await form.getByLabel('Access').selectOption('read');
    await form.getByLabel('Expires after (days)').fill('7');
    await form.getByRole('button', { name: 'Create token' }).click();
    const shown = page.getByRole('status', { name: 'New token value' });
    const token = (await shown.locator('code.token').innerText()).trim();
    t.regex(token, /^\S{20,}$/);
    await page.locator('tr[data-token="github-ci"]', { hasText: 'read' }).waitFor();
    // The token works as a read-only one, and stops working once revoked.
    const asToken = ApiClient.withToken(s.cp.url, token);
    t.is((await asToken.get('/api/deployments')).status, 200);
    t.is((await asToken.request('POST', `/api/projects/${s.project.id}/deployments`, {})).status, 403);
    await page.getByRole('button', { name: 'Done' }).click();
    t.is(await shown.count(), 0, 'the value is not shown again');
    await page.getByRole('button', { name: 'Revoke github-ci' }).click();
    await page.getByText('No tokens yet.').waitFor();
    t.is((await asToken.get('/api/deployments')).status, 401);

    const password = page.getByRole('region', { name: 'Password' });
    await password.getByLabel('Current password').fill('not-my-password-at-all');
    await password.getByLabel('New password', { exact: true }).fill('another-long-password');
    await password.getByLabel('New password again').fill('another-long-password');
    await password.getByRole('button', { name: 'Change password' }).click();
    await password.getByRole('alert').waitFor();
    await screenshot(page, '14-account');
    await context.close();

    // Clone with another version of the selectable service.
    const id = await s.deploy('to-clone', { web: 'v1.1' });
    await s.until(id, 'running');
    const admin = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    const adminPage = await admin.newPage();
    await signIn(adminPage, s.cp.url, 'admin', s.cp.adminPassword);
    await adminPage.goto(`${s.cp.url}/deployments/${id}`);
    await adminPage.getByRole('button', { name: 'Clone' }).click();
    const clone = adminPage.getByRole('form', { name: 'Clone to-clone' });
    t.is(await clone.getByLabel('web').inputValue(), 'v1.1', 'the same version unless changed');
    await clone.getByLabel('web').selectOption('v1.0');
    await clone.getByLabel('Name').fill('cloned-older');
    await clone.getByRole('button', { name: 'Create the copy' }).click();
    await adminPage.getByRole('heading', { name: /cloned-older/ }).waitFor();
    const copy = (await s.admin.get('/api/deployments?name=cloned-older')).body.items[0];
    t.deepEqual(copy.tags, { web: 'v1.0' });
    for (const d of [id, copy.id]) await s.admin.expect(202, 'DELETE', `/api/deployments/${d}`);
    // Gone before the next test (and the teardown) begins: nothing left half-removed.
    for (const d of [id, copy.id]) await s.until(d, 'deleted');
    await admin.close();
  },
);

test.serial(
  'admins manage after creation: a project keeps its services when edited and gets a TTL and team access; team members are listed, added and removed; an environment gets a team',
  async (t) => {
    const team = await s.admin.expect(201, 'POST', '/api/teams', { name: 'qa-team' });
    const dave = await s.admin.expect(201, 'POST', '/api/users', {
      username: 'dave',
      password: STACK_PASSWORD,
    });
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    page.on('dialog', (dialog) => void dialog.accept());
    await signIn(page, s.cp.url, 'admin', s.cp.adminPassword);

    await page.goto(`${s.cp.url}/admin/teams`);
    const members = page.getByRole('group', { name: 'Members of qa-team' });
    await members.getByLabel('User to add to qa-team').selectOption({ label: 'dave' });
    await members.getByRole('button', { name: 'Add member' }).click();
    await members.locator('li[data-member="dave"]').waitFor();
    t.deepEqual(
      (await s.admin.get(`/api/teams/${team.id}`)).body.members.map((m: { username: string }) => m.username),
      ['dave'],
    );

    await page.goto(`${s.cp.url}/admin/projects`);
    await page.locator('tr[data-row="plugins"]').getByRole('button', { name: 'Edit' }).click();
    const form = page.getByRole('form', { name: 'Edit plugins' });
    // The project's services are preselected: saving does not drop them.
    t.deepEqual(
      await form
        .getByLabel('Services')
        .evaluate((el) =>
          [...(el as unknown as { selectedOptions: { text: string }[] }).selectedOptions].map((o) => o.text),
        ),
      ['web'],
    );
    await form.getByLabel(/Auto-cleanup after/).fill('7200');
    await form.getByLabel('Teams with read access').selectOption({ label: 'qa-team' });
    await form.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved plugins' }).waitFor();
    const project = (await s.admin.get(`/api/projects/${s.project.id}`)).body;
    t.is(project.ttlSeconds, 7200);
    t.deepEqual(
      project.services.map((x: { name: string }) => x.name),
      ['web'],
    );
    t.true(
      project.teams.some(
        (x: { teamId: string; access: string }) => x.teamId === team.id && x.access === 'read',
      ),
    );
    // The TTL override is cleared by emptying its field: the environment decides again.
    await page.locator('tr[data-row="plugins"]').getByRole('button', { name: 'Edit' }).click();
    const again = page.getByRole('form', { name: 'Edit plugins' });
    t.is(await again.getByLabel(/Auto-cleanup after/).inputValue(), '7200');
    await again.getByLabel(/Auto-cleanup after/).fill('');
    await again.getByRole('button', { name: 'Save' }).click();
    await page.locator('tr[data-row="plugins"]', { hasText: 'environment’s' }).waitFor();
    t.is((await s.admin.get(`/api/projects/${s.project.id}`)).body.ttlSeconds, null);

    // A budget no node can hold is saved, with a warning that says so.
    await page.locator('tr[data-row="plugins"]').getByRole('button', { name: 'Edit' }).click();
    await page
      .getByRole('form', { name: 'Edit plugins' })
      .getByLabel('CPU budget (millicores)')
      .fill('900000');
    await page.getByRole('form', { name: 'Edit plugins' }).getByRole('button', { name: 'Save' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: /Warning: no node can hold 900000m CPU and 512 MiB \(the largest offers \d+m CPU/ })
      .waitFor();
    await s.admin.expect(200, 'PATCH', `/api/projects/${s.project.id}`, { cpuMillicores: 100 });

    await page.goto(`${s.cp.url}/admin/environments`);
    await page.locator('tr[data-row="qa"]').getByRole('button', { name: 'Edit' }).click();
    const env = page.getByRole('form', { name: 'Edit qa' });
    await env.getByLabel('Teams with full access').selectOption({ label: 'qa-team' });
    await env.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved qa' }).waitFor();
    t.true(
      (await s.admin.get(`/api/environments/${s.env.id}`)).body.teams.some(
        (x: { teamId: string }) => x.teamId === team.id,
      ),
    );

    await page.goto(`${s.cp.url}/admin/teams`);
    await page.getByRole('button', { name: 'Remove dave from qa-team' }).click();
    await page.getByRole('group', { name: 'Members of qa-team' }).getByText('No members.').waitFor();
    t.deepEqual((await s.admin.get(`/api/teams/${team.id}`)).body.members, []);
    // Undo what other tests would feel: the environment and project open as before.
    await s.admin.expect(200, 'PATCH', `/api/environments/${s.env.id}`, { teams: [] });
    await s.admin.expect(200, 'PATCH', `/api/projects/${s.project.id}`, {
      ttlSeconds: null,
      teams: project.teams
        .filter((x: { teamId: string }) => x.teamId !== team.id)
        .map(({ teamId, access }: { teamId: string; access: string }) => ({ teamId, access })),
    });
    await s.admin.request('DELETE', `/api/users/${dave.id}`);
    await context.close();
  },
);

test.serial("a plugin's node widget edits its component's params in the pipeline editor", async (t) => {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  await signIn(page, s.cp.url, 'admin', s.cp.adminPassword);
  await page.goto(`${s.cp.url}/projects/${s.project.id}/pipeline`);
  await page.getByRole('button', { name: 'Greet' }).click();
  const widget = page.locator('[data-widget="@fixtures/nullops-greeter"]');
  await widget.getByLabel('Who to greet').fill('Ada');
  await widget.getByLabel('Who to greet').press('Tab');
  await page.getByRole('button', { name: 'Save' }).click();
  await statusSays(page, /Saved as version \d+/);
  const saved = (await s.admin.get(`/api/projects/${s.project.id}/pipeline`)).body;
  t.deepEqual(saved.graph.nodes.find((n: { type: string }) => n.type === 'fixture.greet')?.params, {
    name: 'Ada',
  });
  t.is(saved.plugins['@fixtures/nullops-greeter'], '1.0.0');
  await context.close();
});
