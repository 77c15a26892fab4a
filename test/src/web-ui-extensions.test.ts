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
  await canvas.scrollIntoViewIfNeeded();
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

/** The canvas's drawing buffer, and its box on screen in device pixels. */
function bufferAndBox(page: Page) {
  return page.locator('canvas').evaluate((el) => {
    const c = el as unknown as { width: number; height: number; clientWidth: number; clientHeight: number };
    const r = (globalThis as unknown as { devicePixelRatio: number }).devicePixelRatio;
    return {
      buffer: [c.width, c.height],
      shown: [Math.round(c.clientWidth * r), Math.round(c.clientHeight * r)],
    };
  });
}

/** Drags with the mouse from one point to another, in steps (as a hand does). */
async function drag(page: Page, from: { x: number; y: number }, to: { x: number; y: number }) {
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  await page.mouse.move(to.x, to.y, { steps: 8 });
  await page.mouse.up();
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
    const sizes = await bufferAndBox(page);
    t.deepEqual(sizes.buffer, sizes.shown, 'the drawing buffer is the size it is shown at');
    await page
      .getByRole('button', { name: 'Say hello' })
      .dragTo(canvas, { targetPosition: { x: box.width - 260, y: 300 } });
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
    await drag(page, await onCanvas(page, 'output:web'), await onCanvas(page, 'input:hello'));
    await page.getByRole('list', { name: 'Edges' }).getByText('web → hello').waitFor();
    // A click on a node opens its form; dragging its title moves it.
    const title = await onCanvas(page, 'title:web');
    await page.mouse.click(title.x, title.y);
    await page.getByRole('form', { name: 'Node web' }).waitFor();
    await drag(page, title, { x: title.x + 60, y: title.y + 90 });
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
  'a new admin builds a five-node pipeline with the mouse on a high-density screen, lays it out, saves it, diffs two versions and restores the first',
  async (t) => {
    const project = await s.addProject('five-nodes');
    const context = await browser.newContext({
      viewport: { width: 1400, height: 1000 },
      deviceScaleFactor: 2,
    });
    const page = await context.newPage();
    await signIn(page, s.cp.url, 'admin', s.cp.adminPassword);
    await page.goto(`${s.cp.url}/projects/${project.id}/pipeline`);
    const canvas = page.locator('canvas');
    await page.getByRole('button', { name: 'Container service' }).waitFor();
    const box = (await canvas.boundingBox()) as { x: number; y: number; width: number; height: number };
    await page.mouse.move(box.x + 10, box.y + 10);
    await page.mouse.move(box.x + box.width - 10, box.y + box.height - 10, { steps: 6 });
    const sizes = await bufferAndBox(page);
    t.deepEqual(sizes.buffer, sizes.shown, 'the buffer has the screen’s pixels (2 per CSS pixel)');
    t.is(sizes.buffer[0], Math.round(box.width * 2));

    // Zoomed out with the wheel to make room, five components dragged from the palette onto the
    // canvas, one beside the other.
    const scale = () =>
      canvas.evaluate((el) => (el as unknown as { data: { ds: { scale: number } } }).data.ds.scale);
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await eventually('zoomed out', async () => {
      await page.mouse.wheel(0, 120);
      return (await scale()) <= 0.6;
    });
    const dropped: [string, number, number][] = [
      ['PostgreSQL database', 0.02, 0.05],
      ['SQL script', 0.26, 0.05],
      ['Container service', 0.5, 0.05],
      ['HTTP check', 0.74, 0.05],
      ['HTTP check', 0.74, 0.55],
    ];
    for (const [name, x, y] of dropped)
      await page
        .getByRole('button', { name, exact: true })
        .dragTo(canvas, { targetPosition: { x: box.width * x, y: box.height * y } });
    // Linked by dragging from each output slot to the next node's input slot.
    const edges = [
      ['database', 'sql'],
      ['sql', 'service'],
      ['service', 'check'],
      ['service', 'check-2'],
    ];
    for (const [from, to] of edges) {
      await drag(page, await onCanvas(page, `output:${from}`), await onCanvas(page, `input:${to}`));
      await page.getByRole('list', { name: 'Edges' }).getByText(`${from} → ${to}`).waitFor();
    }
    // A click on each node's title opens its form, where its params are typed.
    const edit = async (id: string, fields: [string, string][]) => {
      const title = await onCanvas(page, `title:${id}`);
      await page.mouse.click(title.x, title.y);
      const form = page.getByRole('form', { name: `Node ${id}` });
      for (const [name, value] of fields) {
        const field = form.locator(`[name="${name}"]`);
        if ((await field.evaluate((el) => el.tagName)) === 'SELECT') await field.selectOption(value);
        else await field.fill(value);
        await field.press('Tab');
      }
    };
    await edit('sql', [
      ['connectionString', '$' + '{output:database.connectionString}'],
      ['sql', 'create table visits (at timestamptz)'],
    ]);
    await edit('service', [
      ['service', 'web'],
      ['port', '80'],
    ]);
    await edit('check', [['service', 'web']]);
    await edit('check-2', [['url', 'http://web.example.test/']]);
    t.deepEqual(await page.getByRole('heading', { name: 'Problems' }).count(), 0, 'nothing left to fix');

    // Laid out in layers, in the order the pipeline runs, and all of it in view.
    await page.getByRole('button', { name: 'Auto-layout' }).click();
    const placed = async () =>
      canvas.evaluate((el) => {
        const lc = (el as unknown as { data: any }).data;
        const rect = el.getBoundingClientRect();
        return Object.fromEntries(
          lc.graph._nodes.map((n: any) => {
            const [left, top] = lc.convertOffsetToCanvas([n.pos[0], n.pos[1] - 30]);
            const [right, bottom] = lc.convertOffsetToCanvas([n.pos[0] + n.size[0], n.pos[1] + n.size[1]]);
            const inView = left >= 0 && top >= 0 && right <= rect.width && bottom <= rect.height;
            return [n.title, { x: n.pos[0], inView }];
          }),
        );
      });
    await eventually('laid out', async () => {
      const at = await placed();
      return at.database.x < at.sql.x && at.sql.x < at.service.x && at.service.x < at.check.x;
    });
    const at = await placed();
    t.is(at.check.x, at['check-2'].x, 'the two checks share a layer');
    t.true(
      Object.values(at).every((n) => (n as { inView: boolean }).inView),
      JSON.stringify(at),
    );
    await screenshot(page, '18-editor-laid-out');
    await page.getByLabel('Comment').fill('five nodes, laid out');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved as version 1').waitFor();
    const base = `/api/projects/${project.id}/pipeline`;
    const v1 = (await s.admin.get(base)).body.graph;
    t.deepEqual(
      v1.edges.map((e: { from: string; to: string }) => `${e.from}>${e.to}`).sort(),
      edges.map(([a, b]) => `${a}>${b}`).sort(),
    );
    t.deepEqual(v1.nodes.find((n: { id: string }) => n.id === 'sql').params, {
      connectionString: '$' + '{output:database.connectionString}',
      sql: 'create table visits (at timestamptz)',
    });

    // A second version: the smoke check removed, the port changed.
    await edit('check-2', []);
    await page
      .getByRole('form', { name: 'Node check-2' })
      .getByRole('button', { name: 'Remove node' })
      .click();
    await edit('service', [['port', '8080']]);
    await page.getByLabel('Comment').fill('no smoke check');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved as version 2').waitFor();

    // The two compared: what changed, line by line.
    const compare = page.getByRole('form', { name: 'Compare versions' });
    await compare.getByLabel('Compare from').selectOption('1');
    await compare.getByLabel('Compare with').selectOption('2');
    await compare.getByRole('button', { name: 'Compare' }).click();
    const changes = page.getByRole('region', { name: 'Changes from v1 to v2' });
    await changes.waitFor();
    t.deepEqual(await changes.locator('li').allTextContents(), [
      '- node check-2 (http.check)',
      '~ node service: port 80 → 8080',
      '- edge service → check-2',
    ]);
    await screenshot(page, '19-editor-diff');

    // Version 1 restored as the latest (version 3).
    await page.locator('tr[data-version="1"] a').click();
    await page.getByRole('button', { name: 'Restore v1 as latest' }).click();
    await page.getByText('Restored v1 as version 3').waitFor();
    await page.locator('tr[data-version="3"]', { hasText: 'Restored from v1' }).waitFor();
    const latest = (await s.admin.get(base)).body;
    t.is(latest.version, 3);
    t.deepEqual(latest.graph, v1);
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

test.serial(
  'removing a plugin the latest pipeline uses asks twice, naming the project; its nav item leaves without a reload',
  async (t) => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    await signIn(page, s.cp.url, 'admin', s.cp.adminPassword);
    await eventually('the plugin’s nav item', async () => (await navLinks(page)).includes('Hello'));
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Plugins' }).click();
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.accept();
    });
    await page.locator(`tr[data-plugin="${HELLO}"]`).getByRole('button', { name: 'Remove' }).click();
    await eventually('the nav item gone', async () => !(await navLinks(page)).includes('Hello'));
    t.is(dialogs.length, 2, dialogs.join(' | '));
    t.regex(dialogs[1] as string, /the latest pipeline of "plugins" uses @acme\/nullops-plugin-hello/);
    t.regex(dialogs[1] as string, /Remove it anyway\?/);
    t.is((await s.admin.get(`/api/plugins/${encodeURIComponent(HELLO)}`)).status, 404);
    await context.close();
  },
);
