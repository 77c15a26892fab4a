import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import test from 'ava';
import { registerLocalNode, waitNodeReady } from './helpers/agent-process.js';
import { deploymentReaches } from './helpers/deployment-state.js';
import { startTestControlPlane, type TestControlPlane } from './helpers/test-control-plane.js';
import { eventually } from './helpers/time.js';
import { startVerdaccio, type TestNpmRegistry } from './helpers/verdaccio.js';

// The contract is the SDK: a runtime kind no NullOps package names ("memory", from
// test/fixtures/runtimes/memory: a runtime plus its declaration, run by the shared agent process)
// and a component with backup hooks in a format no host knows (test/fixtures/plugins/notebook,
// installed from a real Verdaccio), end to end through the API.

const NOTEBOOK = '@fixtures/nullops-notebook';

let cp: TestControlPlane;
let npm: TestNpmRegistry;
const cleanup: (() => Promise<unknown>)[] = [];

test.before(async () => {
  npm = await startVerdaccio();
  await npm.publish(resolve('test/fixtures/plugins/notebook'));
  cp = await startTestControlPlane({
    NULLOPS_AGENT_RECONNECT_BASE_MS: '100',
    NULLOPS_AGENT_RECONNECT_MAX_MS: '400',
  });
});

test.after.always(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => {});
  await cp?.close();
  await npm?.stop();
});

/** A memory-runtime node of an environment, its agent process started. */
async function memoryNode(environmentId: string, name: string) {
  const { node, dataDir, agent } = await registerLocalNode(cp.admin, environmentId, name, {
    program: 'memory',
  });
  cleanup.push(
    () => agent.kill(),
    () => rm(dataDir, { recursive: true, force: true }),
  );
  await agent.start();
  return node as { id: string };
}

const operationDone = (deploymentId: string, operationId: string) =>
  eventually(`operation ${operationId} done`, async () => {
    const { items } = (await cp.admin.get(`/api/deployments/${deploymentId}/operations`)).body;
    const op = items.find((o: { id: string }) => o.id === operationId);
    return op && ['succeeded', 'failed'].includes(op.state) ? op : undefined;
  });

/** The archive a backup holds, as the API hands it out (the notebook's format is plain text). */
const archiveOf = async (deploymentId: string, backupId: string): Promise<string> =>
  (await cp.admin.expect(
    200,
    'GET',
    `/api/deployments/${deploymentId}/backups/${backupId}/archive`,
  )) as string;

test('a third runtime kind from a fixture package runs a pipeline, and a component with backup hooks is backed up and restored into another deployment', async (t) => {
  const { admin } = cp;
  const env = await admin.expect(201, 'POST', '/api/environments', {
    name: 'mem',
    baseDomain: 'nullops.test',
    runtime: 'memory',
    defaultTtlSeconds: 3600,
  });
  t.is(env.runtime, 'memory', 'an open kind is accepted as it is');
  const bad = await admin.request('POST', '/api/environments', {
    name: 'bad',
    baseDomain: 'nullops.test',
    runtime: 'Not A Kind',
    defaultTtlSeconds: 3600,
  });
  t.is(bad.status, 400);
  t.regex(
    bad.body.error.message,
    /body\.runtime: must be a runtime kind: docker, kubernetes, or the kind an agent package brings/,
  );

  const node = await memoryNode(env.id, 'mem-1');
  await waitNodeReady(admin, node.id);

  await admin.expect(201, 'POST', '/api/plugins', {
    package: NOTEBOOK,
    registry: { url: npm.url, token: npm.token },
  });
  await eventually('notebook loaded on the control plane and the memory node', async () => {
    const { statuses } = (await admin.get(`/api/plugins/${encodeURIComponent(NOTEBOOK)}`)).body;
    const loaded = (statuses ?? []).filter((s: { status: string }) => s.status === 'loaded');
    return loaded.length === 2 ? loaded : undefined;
  });

  const project = await admin.expect(201, 'POST', '/api/projects', {
    name: 'notes',
    cpuMillicores: 200,
    memoryMb: 256,
    serviceIds: [],
  });
  await admin.expect(201, 'POST', `/api/projects/${project.id}/pipeline/versions`, {
    graph: {
      nodes: [{ id: 'book', type: 'fixture.notebook', params: { service: 'book', text: 'first notes' } }],
      edges: [],
    },
  });
  const deploy = async (name: string) => {
    const created = await admin.expect(201, 'POST', `/api/projects/${project.id}/deployments`, {
      environmentId: env.id,
      name,
      tags: {},
    });
    return deploymentReaches(admin, created.id, 'running');
  };
  const source = await deploy('alpha');
  const target = await deploy('beta');

  // Backed up by the component's own hook, through the memory runtime's exec.
  const backup = await admin.expect(202, 'POST', `/api/deployments/${source.id}/backups`, {});
  t.is(backup.service, 'book', "the component's dataService names it");
  const made = await operationDone(source.id, backup.id);
  t.is(made.state, 'succeeded', made.message);
  const [kept] = (await admin.get(`/api/deployments/${source.id}/backups`)).body.items;
  t.is(await archiveOf(source.id, kept.id), 'first notes (written in alpha)');

  // Restored into the other deployment: its own backup now holds the source's notes.
  const restore = await admin.expect(202, 'POST', `/api/deployments/${target.id}/restore`, {
    backupId: kept.id,
  });
  const restored = await operationDone(target.id, restore.id);
  t.is(restored.state, 'succeeded', restored.message);
  t.regex(restored.message ?? '', /30 characters restored into book/);
  const after = await admin.expect(202, 'POST', `/api/deployments/${target.id}/backups`, {});
  t.is((await operationDone(target.id, after.id)).state, 'succeeded');
  const newest = (await admin.get(`/api/deployments/${target.id}/backups`)).body.items[0];
  t.is(await archiveOf(target.id, newest.id), 'first notes (written in alpha)');

  // Deleted through the same runtime.
  await admin.expect(202, 'DELETE', `/api/deployments/${target.id}`);
  await eventually(
    'beta deleted',
    async () => (await admin.get(`/api/deployments/${target.id}`)).body.state === 'deleted',
  );
});

test('the capabilities a runtime declares are checked: an environment routing through an ingress class refuses an agent whose runtime has no ingress', async (t) => {
  const { admin } = cp;
  const env = await admin.expect(201, 'POST', '/api/environments', {
    name: 'mem-ingress',
    baseDomain: 'nullops.test',
    runtime: 'memory',
    defaultTtlSeconds: 3600,
    ingressClass: 'nginx',
  });
  const node = await memoryNode(env.id, 'mem-2');
  const refused = await eventually('node incompatible', async () => {
    const n = (await admin.get(`/api/nodes/${node.id}`)).body;
    return n.status === 'incompatible' ? n : undefined;
  });
  t.regex(
    refused.statusMessage,
    /routes through ingress class "nginx", but this agent's memory runtime has no ingress of its own/,
  );
  // A Docker environment is refused an ingress class when it is created: its kind is declared.
  const docker = await admin.request('POST', '/api/environments', {
    name: 'dock',
    baseDomain: 'nullops.test',
    runtime: 'docker',
    defaultTtlSeconds: 3600,
    ingressClass: 'nginx',
  });
  t.is(docker.status, 400);
  t.regex(docker.body.error.message, /body\.ingressClass: .*a Docker environment has none/);
});
