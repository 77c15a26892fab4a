import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { ApiClient } from '../helpers/api-client.js';
import { ownEnvironment, start, stop } from '../helpers/control-plane-process.js';
import { deploymentReaches } from '../helpers/deployment-state.js';
import { docker, ensureTestImages, removeLabelled } from '../helpers/docker.js';
import { viaIngress } from '../helpers/ingress.js';
import { startRegistry } from '../helpers/registry.js';
import { eventually } from '../helpers/time.js';
import { webProject } from '../helpers/web-project.js';

/** Whether the process runs (zombies and gone ones do not). */
function runs(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

test('kill -9 of the control plane mid-deploy: it restarts on its orphaned PostgreSQL, the deployment converges once, nothing is left behind', async (t) => {
  ensureTestImages();
  const registry = await startRegistry();
  t.teardown(() => registry.stop());
  registry.pushWeb('team/web', 'v1', 'web after a crash');
  const own = await ownEnvironment('nullops-crash-');
  const dataDir = own.dataDir;
  const env = { ...own.env, NULLOPS_AGENT_RECONNECT_BASE_MS: '100', NULLOPS_AGENT_RECONNECT_MAX_MS: '500' };
  const url = `http://127.0.0.1:${env.PORT}`;
  const postmasterPid = () =>
    Number.parseInt(readFileSync(join(env.NULLOPS_DATA_DIR, 'postgres', 'postmaster.pid'), 'utf8'), 10);

  const first = await start(env);
  const password = /Sign in as: admin \/ (\S+)/.exec(first.output())?.[1] as string;
  const admin = await ApiClient.login(url, 'admin', password);
  const local = await eventually('the local node online', async () => {
    const nodes = (await admin.get('/api/nodes')).body.items;
    return nodes[0]?.status === 'online' && nodes[0]?.capacity ? nodes[0] : undefined;
  });
  const project = await webProject(admin, registry.url, { name: 'crash', cpuMillicores: 100, memoryMb: 256 });
  const created = await admin.expect(201, 'POST', `/api/projects/${project.id}/deployments`, {
    environmentId: local.environmentId,
    name: 'survivor',
  });
  t.teardown(() => removeLabelled(docker, [created.id]));

  // Mid-deploy: the create has committed, the pipeline has not finished.
  const pg = postmasterPid();
  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));
  t.true(runs(pg), 'PostgreSQL outlived the control plane (the orphan the next start must deal with)');

  const second = await start(env);
  t.teardown(async () => {
    if (second.child.exitCode === null) await stop(second.child);
    await rm(dataDir, { recursive: true, force: true });
  });
  t.regex(second.output(), /stopping the embedded PostgreSQL that a crashed NullOps left running/);
  t.false(runs(pg), 'the orphan is gone');
  const again = await ApiClient.login(url, 'admin', password);
  const running = await deploymentReaches(again, created.id, 'running', { timeoutMs: 60_000 });
  t.is(running.id, created.id);
  const host = `web.survivor.${local.environmentName ?? 'local'}.localhost`;
  await eventually('the URL answering', async () => {
    const res = await viaIngress(Number(env.NULLOPS_INGRESS_PORT), host);
    return res.status === 200 && res.body.includes('web after a crash');
  });
  const containers = await docker.listContainers({
    all: true,
    filters: { label: [`dev.nullops.deployment=${created.id}`] },
  });
  t.is(containers.length, 1, 'one container: the interrupted run was not duplicated');
  t.is(
    (await again.get('/api/deployments')).body.items.length,
    1,
    'one deployment: nothing lost, nothing doubled',
  );

  await again.expect(202, 'DELETE', `/api/deployments/${created.id}`);
  await eventually(
    'deleted',
    async () => (await again.get(`/api/deployments/${created.id}`)).body.state === 'deleted',
  );
  t.deepEqual(
    await docker.listContainers({ all: true, filters: { label: [`dev.nullops.deployment=${created.id}`] } }),
    [],
  );
  t.deepEqual(
    await docker.listNetworks({ filters: { label: [`dev.nullops.deployment=${created.id}`] } }),
    [],
  );
  const pg2 = postmasterPid();
  t.is(await stop(second.child), 0, 'SIGTERM shuts down cleanly');
  t.false(runs(pg2), 'a clean stop leaves no PostgreSQL behind');
});
