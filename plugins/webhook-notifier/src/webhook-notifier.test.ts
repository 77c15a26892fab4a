import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type {
  ControlPlaneContext,
  DeploymentNotification,
  NodeNotifier,
  Notifier,
  PluginRoute,
} from '@nullops/plugin-sdk';
import test from 'ava';
import plugin, { teamsCard } from './index.js';

const notification: DeploymentNotification = {
  event: 'running',
  deployment: {
    id: '6f1c0e4e-8a8c-4b1e-9a7e-3b5f2c1d0e9f',
    name: 'demo',
    state: 'running',
    projectId: '0b7e4f3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b',
    projectName: 'shop',
    environmentName: 'qa',
    urls: { web: 'http://web.demo.qa.example.com' },
    expiresAt: '2026-11-23T10:00:00.000Z',
  },
  actor: 'ada',
  at: '2026-11-22T10:00:00.000Z',
};

function activate(
  settings: Record<string, unknown>,
  perProject: Record<string, Record<string, unknown>> = {},
) {
  const notifiers: Notifier[] = [];
  const nodeNotifiers: NodeNotifier[] = [];
  const routes: PluginRoute[] = [];
  const ctx = {
    plugin: { name: '@nullops/plugin-webhook-notifier', version: '1.0.0' },
    settings,
    container: {} as ControlPlaneContext['container'],
    log: { info: () => {}, warn: () => {}, error: () => {} },
    routes: { add: (r: PluginRoute) => routes.push(r) },
    notifiers: { add: (n: Notifier) => notifiers.push(n) },
    nodeNotifiers: { add: (n: NodeNotifier) => nodeNotifiers.push(n) },
    registryProviders: { add: () => {} },
    deployments: { get: async () => undefined },
    projectSettings: { get: async (projectId: string) => perProject[projectId] },
  } satisfies ControlPlaneContext;
  plugin.controlPlane?.(ctx);
  return { notifiers, nodeNotifiers, routes };
}

async function receiver() {
  const received: { path: string | undefined; body: any }[] = [];
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    received.push({ path: req.url, body: JSON.parse(body) });
    res.writeHead(204).end();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    received,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => server.close(),
  };
}

test('posts the notification as JSON, only for the chosen events, with extra headers', async (t) => {
  const received: { headers: Record<string, unknown>; body: unknown }[] = [];
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    received.push({ headers: req.headers, body: JSON.parse(body) });
    res.writeHead(204).end();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  t.teardown(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const { notifiers } = activate({ url, events: ['running'], headers: { authorization: 'Bearer x' } });
  await notifiers[0]?.(notification);
  await notifiers[0]?.({ ...notification, event: 'extended' });
  t.is(received.length, 1);
  t.deepEqual(received[0]?.body, notification);
  t.is(received[0]?.headers.authorization, 'Bearer x');
});

test('Teams cards carry the facts and a button per service', (t) => {
  const card = teamsCard(notification);
  t.like(card, { '@type': 'MessageCard', title: 'Deployment demo (shop) — running', themeColor: '2E7D32' });
  t.deepEqual(card.potentialAction, [
    {
      '@type': 'OpenUri',
      name: 'Open web',
      targets: [{ os: 'default', uri: 'http://web.demo.qa.example.com' }],
    },
  ]);
  t.true(card.sections[0]?.facts.some((f) => f.name === 'By' && f.value === 'ada'));
});

test('bad settings stop the plugin with the reason (the control plane reports it)', (t) => {
  t.throws(() => activate({ url: 'ftp://nope' }), { message: /url/ });
  t.notThrows(() => activate({}), 'no webhook of its own: projects only');
});

test("a project's own webhook gets that project's events; node events go to the administrators' webhook only", async (t) => {
  const hook = await receiver();
  t.teardown(hook.close);
  const { notifiers, nodeNotifiers } = activate(
    { url: `${hook.url}/admins` },
    {
      [notification.deployment.projectId]: { url: `${hook.url}/shop`, format: 'teams', events: ['running'] },
    },
  );
  await notifiers[0]?.(notification);
  await notifiers[0]?.({ ...notification, deployment: { ...notification.deployment, projectId: 'other' } });
  await nodeNotifiers[0]?.({
    event: 'node.offline',
    node: { id: 'n1', name: 'node-1', environmentName: 'qa', status: 'offline', message: 'connection lost' },
    at: notification.at,
  });
  const to = (path: string) => hook.received.filter((r) => r.path === path);
  t.is(to('/admins').length, 3, 'both deployment events and the node event');
  t.is(to('/shop').length, 1, "only its own project's event");
  t.like(to('/shop')[0]?.body, { '@type': 'MessageCard', title: 'Deployment demo (shop) — running' });
  t.like(to('/admins')[2]?.body, { event: 'node.offline', node: { name: 'node-1' } });
});
