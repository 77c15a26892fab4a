import { resolve } from 'node:path';
import test from 'ava';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, screenshot, signIn } from './helpers/browser.js';
import { crashInside, ensureTestImages } from './helpers/docker.js';
import { STACK_PASSWORD, type Stack, startStack } from './helpers/stack.js';
import { eventually } from './helpers/time.js';
import { startVerdaccio, type TestNpmRegistry } from './helpers/verdaccio.js';

// The web UI's extension tree in a real Chromium: the plugin template (its worked frontend
// example) installed from a real npm registry adds a page, a nav item, a deployment tab and a
// widget drawn on the pipeline canvas; administrators turn extensions off and reorder them for
// everyone; the pipeline editor takes nodes dragged from its palette and links dragged between
// slots; live service health reaches the deployment page and the list.

const HELLO = '@acme/nullops-plugin-hello';
let s: Stack;
let npm: TestNpmRegistry;
let browser: Browser;
let deploymentId: string;

test.before(async () => {
  ensureTestImages();
  npm = await startVerdaccio();
  // The template is private in this repository (it is meant to be copied): published as a copy.
  await npm.publish(resolve('plugins/template'), { private: false });
  s = await startStack({
    prepare: (registry) => registry.pushWeb('team/web', 'v1', 'web v1'),
    services: [{ name: 'web', image: 'team/web', tag: 'v1' }],
    users: [{ name: 'reader', access: 'read' }],
    agent: { env: { NULLOPS_AGENT_HEALTH_SECONDS: '1' } },
  });
  await s.savePipeline({
    nodes: [
      {
        id: 'web',
        type: 'container.service',
        params: { service: 'web', port: 80, healthCheck: { kind: 'http', path: '/' } },
        position: [40, 40],
      },
    ],
    edges: [],
  });
  deploymentId = await s.deploy('demo');
  await s.until(deploymentId, 'running');
  await s.admin.expect(201, 'POST', '/api/plugins', {
    package: `${HELLO}@^0.1`,
    registry: { url: npm.url, token: npm.token },
  });
  await eventually('the template plugin loaded everywhere', async () => {
    const { statuses } = (await s.admin.get(`/api/plugins/${encodeURIComponent(HELLO)}`)).body;
    const loaded = (host: string) =>
      statuses?.some(
        (x: { host: string; nodeName: string | null; status: string }) =>
          (x.nodeName ?? x.host) === host && x.status === 'loaded',
      );
    return loaded('control-plane') && loaded('node-1');
  });
  browser = await launchBrowser();
});

test.after.always(async () => {
  await browser?.close();
  await s?.stop();
  await npm?.stop();
});

const navLinks = (page: Page) =>
  page.getByRole('navigation', { name: 'Main' }).getByRole('link').allTextContents();

/** Where on the page a point of the LiteGraph canvas's graph is (LiteGraph keeps itself as `canvas.data`). */
async function onCanvas(page: Page, pick: string): Promise<{ x: number; y: number }> {
  const canvas = page.locator('canvas');
  const point = await canvas.evaluate((el, pick) => {
    const lc = (el as unknown as { data: any }).data;
    const node = (title: string) => lc.graph._nodes.find((n: any) => n.title === title);
    const [what, title] = pick.split(':');
    const n = node(title as string);
    const pos =
      what === 'output'
        ? n.getConnectionPos(false, 0)
        : what === 'input'
          ? n.getConnectionPos(true, 0)
          : what === 'title'
            ? [n.pos[0] + 40, n.pos[1] - 15]
            : [
                n.pos[0] + n.size[0] / 2,
                n.pos[1] + n.widgets.find((w: any) => w.type === 'nullops-canvas').last_y + 14,
              ];
    const [x, y] = lc.convertOffsetToCanvas([pos[0], pos[1]]);
    const rect = el.getBoundingClientRect();
    return { x: rect.left + x, y: rect.top + y };
  }, pick);
  return point;
}

test.serial(
  'a plugin adds a page with its nav item, a deployment tab and a widget drawn on the canvas; nodes are dropped from the palette and linked by dragging',
  async (t) => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    await signIn(page, s.cp.url, 'admin', s.cp.adminPassword);

    // Its page, from its nav item.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Hello' }).click();
    await page.getByText('Hello! You can see 1 deployment(s).').waitFor();
    t.is(new URL(page.url()).pathname, '/hello');

    // Its tab on the deployment page, next to the Overview.
    await page.goto(`${s.cp.url}/deployments/${deploymentId}`);
    await page.getByRole('tab', { name: 'Hello' }).click();
    await page.getByText('Hello, demo: 1 service(s), and you have full access.').waitFor();
    t.is(await page.getByRole('region', { name: 'Logs' }).count(), 0, 'the Overview is behind its own tab');
    await page.getByRole('tab', { name: 'Overview' }).click();
    await page.getByRole('region', { name: 'Logs' }).waitFor();

    // The pipeline editor: a component dragged from the palette lands where it is dropped.
    await page.goto(`${s.cp.url}/projects/${s.project.id}/pipeline`);
    await page.locator('tr[data-version="1"]').waitFor();
    const canvas = page.locator('canvas');
    // The mouse crosses the canvas first, as anyone's does: its drawing buffer stays the size it
    // is shown at (LiteGraph's autoresize used to stretch it to the panel on every move).
    const box = (await canvas.boundingBox()) as { x: number; y: number; width: number; height: number };
    for (const [fx, fy] of [
      [0.1, 0.1],
      [0.9, 0.5],
      [0.5, 0.95],
    ] as const)
      await page.mouse.move(box.x + box.width * fx, box.y + box.height * fy, { steps: 4 });
    const sizes = await canvas.evaluate((el) => {
      const c = el as unknown as { width: number; height: number; clientWidth: number; clientHeight: number };
      return { buffer: [c.width, c.height], shown: [c.clientWidth, c.clientHeight] };
    });
    t.deepEqual(sizes.buffer, sizes.shown, 'the drawing buffer is the size it is shown at');
    await page
      .getByRole('button', { name: 'Say hello' })
      .dragTo(canvas, { targetPosition: { x: 520, y: 120 } });
    const node = page.getByRole('form', { name: 'Node hello' });
    await node.getByLabel('name *').fill('Ada');
    await node.getByLabel('name *').press('Tab');
    // The plugin's widget is drawn inside the node, on the canvas: its colour is where it draws.
    await eventually('the widget drawn on the canvas', async () => {
      const at = await onCanvas(page, 'widget:hello');
      const pixel = await canvas.evaluate((el, at) => {
        const rect = el.getBoundingClientRect();
        return [
          ...((el as unknown as { getContext(kind: '2d'): any })
            .getContext('2d')
            ?.getImageData(at.x - rect.left, at.y - rect.top, 1, 1).data ?? []),
        ];
      }, at);
      return pixel[0] === 0xf5 && pixel[1] === 0xc5 && pixel[2] === 0x42;
    });

    // Linked by dragging from web's output slot to hello's input slot.
    const from = await onCanvas(page, 'output:web');
    const to = await onCanvas(page, 'input:hello');
    await page.mouse.move(from.x, from.y);
    await page.mouse.down();
    await page.mouse.move(to.x, to.y, { steps: 8 });
    await page.mouse.up();
    await page.getByRole('list', { name: 'Edges' }).getByText('web → hello').waitFor();
    // A click on a node opens its form; dragging its title moves it.
    const title = await onCanvas(page, 'title:web');
    await page.mouse.click(title.x, title.y);
    await page.getByRole('form', { name: 'Node web' }).waitFor();
    await page.mouse.move(title.x, title.y);
    await page.mouse.down();
    await page.mouse.move(title.x + 60, title.y + 90, { steps: 8 });
    await page.mouse.up();
    const moved = await onCanvas(page, 'title:web');
    t.deepEqual(
      [Math.round(moved.x - title.x), Math.round(moved.y - title.y)],
      [60, 90],
      'moved by the drag',
    );
    await screenshot(page, '17-editor-plugin-widget');
    await page.getByLabel('Comment').fill('hello from the palette');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved as version 2').waitFor();
    const { graph } = (await s.admin.get(`/api/projects/${s.project.id}/pipeline`)).body;
    const hello = graph.nodes.find((n: { id: string }) => n.id === 'hello');
    t.deepEqual(hello.params, { name: 'Ada' });
    t.true(hello.position[0] > 300, `dropped where it was let go: ${hello.position}`);
    t.deepEqual(graph.edges, [{ from: 'web', to: 'hello' }]);
    const web = graph.nodes.find((n: { id: string }) => n.id === 'web');
    t.true(web.position[1] >= 90, `web saved where it was dragged: ${web.position}`);
    await context.close();
  },
);

test.serial(
  'administrators turn extensions off and reorder them at run time: it holds for everyone, is audited, and the way back cannot be turned off',
  async (t) => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    await signIn(page, s.cp.url, 'admin', s.cp.adminPassword);
    // Plugin modules load after sign-in: their nav items come last, in registration order.
    await eventually('the plugin’s nav item', async () => (await navLinks(page)).includes('Hello'));
    t.deepEqual(await navLinks(page), ['Deployments', 'Projects', 'Plugins', 'Admin', 'Hello']);
    // A reader who already has the UI open, on the deployment page.
    const other = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const reader = await other.newPage();
    await signIn(reader, s.cp.url, 'reader', STACK_PASSWORD);
    await reader.goto(`${s.cp.url}/deployments/${deploymentId}`);
    await reader.getByRole('tab', { name: 'Hello' }).waitFor();
    t.deepEqual(await navLinks(reader), ['Deployments', 'Projects', 'Hello']);

    await page.goto(`${s.cp.url}/admin/extensions`);
    const row = (id: string) => page.locator(`tr[data-extension="${id}"]`);
    await row(`tab:${HELLO}/hello`).getByRole('checkbox').uncheck();
    await row(`tab:${HELLO}/hello`).getByText('off').waitFor();
    await row('panel:history').getByRole('checkbox').uncheck();
    await row('panel:history').getByText('off').waitFor();
    const up = row(`nav-item:${HELLO}/hello`).getByRole('button', { name: /up/ });
    await up.click();
    await eventually(
      'moved once',
      async () => (await navLinks(page)).join() === 'Deployments,Projects,Plugins,Hello,Admin',
    );
    await up.click();
    await eventually(
      'moved twice',
      async () => (await navLinks(page)).join() === 'Deployments,Projects,Hello,Plugins,Admin',
    );
    await up.click();
    await eventually(
      'moved three times',
      async () => (await navLinks(page)).join() === 'Deployments,Hello,Projects,Plugins,Admin',
    );
    t.true(await row('admin-page:extensions').getByRole('checkbox').isDisabled(), 'the way back stays');
    await screenshot(page, '15-extensions');

    // Stored on the server: the reader's open UI takes it when its tab is looked at again (no
    // reload), and so does a fresh sign-in.
    await reader.evaluate('document.dispatchEvent(new Event("visibilitychange"))');
    await eventually(
      'the reader’s nav in the admins’ order',
      async () => (await navLinks(reader)).join() === 'Deployments,Hello,Projects',
    );
    await eventually(
      'the tab gone',
      async () => (await reader.getByRole('tab', { name: 'Hello' }).count()) === 0,
    );
    await reader.getByRole('region', { name: 'Logs' }).waitFor();
    t.is(await reader.getByRole('tab', { name: 'Hello' }).count(), 0, 'the tab is off');
    t.is(await reader.getByRole('region', { name: 'History' }).count(), 0, 'the core History section is off');
    await other.close();

    // Audited, by whom and on which extension; the required one is refused by the server too.
    const audit = (await s.admin.get('/api/audit?action=ui.extensions.*')).body.items;
    t.true(
      audit.some(
        (e: { targetId: string; actorName: string }) =>
          e.targetId === `tab:${HELLO}/hello` && e.actorName === 'admin',
      ),
      JSON.stringify(audit.map((e: { targetId: string }) => e.targetId)),
    );
    const refused = await s.admin.put(`/api/ui/extensions/${encodeURIComponent('admin-page:extensions')}`, {
      enabled: false,
    });
    t.is(refused.status, 400);
    t.regex(refused.body.error.message, /body\.enabled/);

    // Back to the defaults (as the tree was registered), from the same page.
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'Reset all to defaults' }).click();
    await page.getByRole('button', { name: 'Reset all to defaults' }).waitFor({ state: 'detached' });
    t.deepEqual((await s.admin.get('/api/ui/extensions')).body.items, []);
    await eventually(
      'defaults again',
      async () => (await navLinks(page)).join() === 'Deployments,Projects,Plugins,Admin,Hello',
    );
    await context.close();
  },
);

test.serial('live health reaches the deployment page and the list without a reload', async (t) => {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  await signIn(page, s.cp.url, 'admin', s.cp.adminPassword);
  await page.goto(`${s.cp.url}/deployments/${deploymentId}`);
  const web = page.locator('li[data-service="web"]');
  await web.locator('[data-health="running"]').waitFor();
  // It crashes: the page says so at once, with how often and its exit code.
  await crashInside(deploymentId);
  await web.locator('[data-health="restarting"]', { hasText: /restarting/ }).waitFor();
  await screenshot(page, '16-service-restarting');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Deployments' }).click();
  const row = page.locator('tr[data-deployment="demo"]');
  await row.locator('[data-health="restarting"]').waitFor();
  // Brought back through NullOps (from the list's own live stream, no reload).
  await s.admin.expect(202, 'POST', `/api/deployments/${deploymentId}/services/web/restart`);
  await eventually(
    'the list shows it healthy again',
    async () => (await row.locator('[data-health]').count()) === 0,
  );
  t.is(await row.locator('[data-health]').count(), 0);
  await context.close();
});
