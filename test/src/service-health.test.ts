import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import test from 'ava';
import { ApiClient } from './helpers/api-client.js';
import { containersOf, ensureTestImages, stopOutsideNullOps } from './helpers/docker.js';
import { openEvents } from './helpers/sse.js';
import { STACK_PASSWORD, type Stack, startStack } from './helpers/stack.js';
import { eventually } from './helpers/time.js';

// Live health of a running deployment's services, on a real Docker agent: a failing health check
// makes a service unhealthy, a crash loop shows as restarting with its count and exit code, a
// container stopped behind NullOps' back as crashed — each pushed to watchers of the deployment
// and of the list, and only to those who may see it.

const run = promisify(execFile);
let s: Stack;
let id: string;

test.before(async () => {
  ensureTestImages();
  s = await startStack({
    prepare: (registry) => registry.pushWeb('team/web', 'v1', 'web v1'),
    services: [{ name: 'web', image: 'team/web', tag: 'v1' }],
    users: [{ name: 'viewer', access: 'read' }],
    // Health checks every second (the default is 10 s); crashes come from Docker's events at once.
    agent: { env: { NULLOPS_AGENT_HEALTH_SECONDS: '1' } },
  });
  await s.savePipeline({
    nodes: [
      {
        id: 'web',
        type: 'container.service',
        params: {
          service: 'web',
          // Healthy while /tmp/health says ok; exits with code 3 once /tmp/crash exists (and, the
          // file staying in the container, at once after every restart: a crash loop).
          command: [
            'sh',
            '-c',
            'echo ok > /tmp/health; while [ ! -f /tmp/crash ]; do sleep 0.2; done; exit 3',
          ],
          healthCheck: { kind: 'command', command: ['sh', '-c', 'test "$(cat /tmp/health)" = ok'] },
        },
      },
    ],
    edges: [],
  });
  id = await s.deploy('health');
  await s.until(id, 'running');
});

test.after.always(async () => {
  await s?.stop();
});

const containerId = async () => (await containersOf(id, { all: true }))[0]?.Id as string;
const shell = async (script: string) => run('docker', ['exec', await containerId(), 'sh', '-c', script]);
const healthIs = async (condition: string) => {
  const h = await eventually(`web ${condition}`, async () => {
    const health = (await s.get(id)).services[0].health;
    return health?.condition === condition && health;
  });
  return h;
};

test.serial(
  'unhealthy, restarting and crashed reach the API and the live streams of the deployment and the list',
  async (t) => {
    const viewer = await ApiClient.login(s.cp.url, 'viewer', STACK_PASSWORD);
    const outsider = await s.admin.expect(201, 'POST', '/api/users', {
      username: 'outsider',
      password: STACK_PASSWORD,
    });
    t.truthy(outsider.id);
    const stranger = await ApiClient.login(s.cp.url, 'outsider', STACK_PASSWORD);
    const page = await openEvents(viewer, `/api/deployments/${id}/events`);
    const list = await openEvents(viewer, '/api/live/deployments');
    const strangerList = await openEvents(stranger, '/api/live/deployments');
    t.teardown(() => {
      page.close();
      list.close();
      strangerList.close();
    });

    const running = await healthIs('running');
    t.is(running.restartCount, 0);

    await shell('echo bad > /tmp/health');
    const unhealthy = await healthIs('unhealthy');
    t.truthy(unhealthy.reason, 'says why');
    await shell('echo ok > /tmp/health');
    await healthIs('running');

    await shell('echo > /tmp/crash');
    const restarting = await healthIs('restarting');
    t.true(restarting.restartCount >= 1);
    t.is(restarting.exitCode, 3);
    t.regex(restarting.reason, /exited with code 3/);

    // Stopped outside NullOps (not by a user through it): the agent starts it again by itself.
    await stopOutsideNullOps(id);
    await eventually('the stop repaired', async () =>
      (await s.admin.get(`/api/deployments/${id}/history`)).body.items.some(
        (h: { kind: string; message: string }) =>
          h.kind === 'repaired' && h.message === 'web had stopped; started again',
      ),
    );

    // Each change was pushed to the deployment page's stream and the list's, as it happened.
    const conditions = (events: { event: string; data: any }[], pick: (d: any) => any[]) =>
      events.filter((e) => e.event === 'health').flatMap((e) => pick(e.data).map((h) => h.condition));
    const onPage = conditions(page.events, (d) => d.services);
    const onList = conditions(
      list.events.filter((e) => e.data.deploymentId === id),
      (d) => d.services,
    );
    for (const seen of [onPage, onList])
      for (const condition of ['unhealthy', 'running', 'restarting'])
        t.true(seen.includes(condition), `${condition} in ${seen.join(', ')}`);
    t.is(
      strangerList.events.filter((e) => e.data.deploymentId === id).length,
      0,
      'a user without access to the project hears nothing of it',
    );

    // The history keeps each turn for the worse and the way back (notifiers hear of them too).
    const kinds = (await s.admin.get(`/api/deployments/${id}/history`)).body.items
      .filter((h: { kind: string }) => h.kind.startsWith('service.'))
      .map((h: { kind: string; message: string }) => `${h.kind}: ${h.message}`);
    for (const expected of [
      /^service\.unhealthy: web unhealthy/,
      /^service\.recovered: web is running again \(was unhealthy\)/,
      /^service\.restarting: web restarting \(\d+×\)/,
    ])
      t.true(
        kinds.some((k: string) => expected.test(k)),
        `${expected} in ${kinds.join(' | ')}`,
      );
  },
);

test.serial('a service stopped by a user is reported stopped, and running again once started', async (t) => {
  const other = await s.deploy('health-2');
  await s.until(other, 'running');
  const health = (condition: string) =>
    eventually(`web of health-2 ${condition}`, async () => {
      const h = (await s.get(other)).services[0].health;
      return h?.condition === condition && h;
    });
  await health('running');
  await s.admin.expect(202, 'POST', `/api/deployments/${other}/services/web/stop`);
  t.is((await health('stopped')).restartCount, 0, 'a stop is no crash');
  await s.admin.expect(202, 'POST', `/api/deployments/${other}/services/web/start`);
  t.is((await health('running')).restartCount, 0);
});
