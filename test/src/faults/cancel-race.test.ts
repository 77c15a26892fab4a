import test from 'ava';
import { docker, ensureTestImages } from '../helpers/docker.js';
import { startStack } from '../helpers/stack.js';
import { eventually } from '../helpers/time.js';

/**
 * Cancel at any instant — during the image pull, the container start, the health check — leaves
 * nothing: every deployment ends deleted and no container or network labelled with it remains
 * (counted on the engine once every deployment is deleted: by then nothing late can come).
 */
const ITERATIONS = 12;

test('cancels at random instants during pull and start leave zero labelled resources', async (t) => {
  ensureTestImages();
  const s = await startStack({
    prepare: (registry) => {
      registry.pushWeb('team/web', 'v1', 'web to cancel');
      registry.pushWeb('team/api', 'v1', 'api to cancel');
    },
    services: [
      { name: 'web', image: 'team/web', tag: 'v1' },
      { name: 'api', image: 'team/api', tag: 'v1' },
    ],
  });
  t.teardown(() => s.stop());
  await s.savePipeline({
    nodes: ['api', 'web'].map((service) => ({
      id: service,
      type: 'container.service',
      // Pull every time, so each run has a pull to be cancelled in.
      params: { service, port: 80, pull: 'always', healthCheck: { kind: 'http', path: '/' } },
    })),
    edges: [{ from: 'api', to: 'web' }],
  });
  const ids: string[] = [];
  const delays: number[] = [];
  for (let i = 0; i < ITERATIONS; i++) {
    const node = (await s.admin.get(`/api/nodes/${s.node.id}`)).body;
    if (node.status !== 'online') t.log(node.status, node.statusMessage, s.agent.stderr.slice(-1500));
    const id = await s.deploy(`cancel-${i}`);
    ids.push(id);
    // Spread over the whole run: before dispatch, mid pull, mid start, during health, after.
    const delay = Math.round((i / (ITERATIONS - 1)) * 1500 + Math.random() * 100);
    delays.push(delay);
    await new Promise((r) => setTimeout(r, delay));
    const cancelled = await s.admin.request('POST', `/api/deployments/${id}/cancel`);
    t.true([202, 409].includes(cancelled.status), `cancel answered ${cancelled.status}`);
    if (cancelled.status === 409) await s.admin.expect(202, 'DELETE', `/api/deployments/${id}`);
  }
  // Deleted means the agent's run is over, including any call a component was still in when the
  // cancel came (a start returning after the rollback is undone before the run ends).
  for (const id of ids) await s.until(id, 'deleted');
  let leaks = 0;
  for (const id of ids) {
    const label = { label: [`dev.nullops.deployment=${id}`] };
    leaks += (await docker.listContainers({ all: true, filters: label })).length;
    leaks += (await docker.listNetworks({ filters: label })).length;
  }
  const states = await Promise.all(ids.map(async (id) => (await s.get(id)).state));
  t.log(`${ITERATIONS} cancels at ${delays.join(', ')} ms after create: ${leaks} leaked resources`);
  t.is(leaks, 0);
  t.deepEqual(new Set(states), new Set(['deleted']));
  // Every run that reached the agent ended (its log is read a moment behind the API).
  await eventually('every run on the agent ended', async () => {
    const started = new Set(s.agent.logged(/pipeline started/).map((l) => l.deployment));
    const ended = new Set(s.agent.logged(/pipeline (finished|cancelled)/).map((l) => l.deployment));
    return [...started].every((id) => ended.has(id));
  });
  t.pass();
});
