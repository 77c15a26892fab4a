import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { RUNTIME_LABELS, type ServiceSpec } from '@nullops/plugin-sdk';
import Docker from 'dockerode';
import { eventually } from './time.js';

export const BUSYBOX = 'nullops-test/busybox:1';

/** Builds the offline test images when missing (CI builds them up front). */
export function ensureTestImages(): void {
  execFileSync('bash', [resolve('test/fixtures/build-test-images.sh')], { stdio: 'inherit' });
}

/** A web service answering `body` on its port 80, from busybox httpd. */
export function webService(name: string, body: string, extra: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    name,
    image: BUSYBOX,
    command: ['sh', '-c', `mkdir -p /www && echo "${body}" > /www/index.html && exec httpd -f -p 80 -h /www`],
    port: 80,
    cpuMillicores: 250,
    memoryMb: 64,
    ...extra,
  };
}

export const newDeploymentId = () => randomUUID();

/** An installation and node of their own, for a runtime under test: it sees nothing else. */
export const testOwner = () => ({ installationId: randomUUID(), nodeId: randomUUID() });

/** Removes whatever the tests left labelled for these deployments. */
export async function removeLabelled(docker: Docker, deploymentIds: string[]): Promise<void> {
  for (const id of deploymentIds) {
    const filters = { label: [`${RUNTIME_LABELS.deployment}=${id}`] };
    for (const c of await docker.listContainers({ all: true, filters }))
      await docker
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        .catch(() => {});
    for (const n of await docker.listNetworks({ filters }))
      await docker
        .getNetwork(n.Id)
        .remove()
        .catch(() => {});
    for (const v of (await docker.listVolumes({ filters })).Volumes ?? [])
      await docker
        .getVolume(v.Name)
        .remove()
        .catch(() => {});
  }
  removeFirewallRules(deploymentIds);
}

/** Host firewall rules an agent made for these deployments (it was killed before removing them). */
export function removeFirewallRules(deploymentIds: string[]): void {
  let rules: string;
  try {
    rules = execFileSync('iptables', ['-w', '5', '-S', 'INPUT'], { encoding: 'utf8', stdio: 'pipe' });
  } catch {
    return; // no firewall this process may change: no agent could have made rules either
  }
  for (const line of rules.split('\n'))
    if (line.startsWith('-A INPUT ') && deploymentIds.some((id) => line.includes(`:${id}"`)))
      execFileSync('sh', ['-c', `iptables -w 5 -D ${line.slice(3)}`], { stdio: 'ignore' });
}

export const docker = new Docker();

/** The containers of a deployment on the test engine: the running ones, or all. */
export const containersOf = (deploymentId: string, options: { all?: boolean } = {}) =>
  docker.listContainers({
    all: options.all ?? false,
    filters: { label: [`dev.nullops.deployment=${deploymentId}`] },
  });

/** Stops a deployment's first container through the engine, as someone outside NullOps would. */
export async function stopOutsideNullOps(deploymentId: string): Promise<void> {
  const [container] = await containersOf(deploymentId, { all: true });
  if (!container) throw new Error(`deployment ${deploymentId} has no container`);
  await docker.getContainer(container.Id).stop({ t: 1 });
}

/**
 * Crashes a deployment's first service: its main process is told to end (exit 143), as a
 * crashing program would; the engine's restart policy brings it back.
 */
export async function crashInside(deploymentId: string): Promise<void> {
  const [container] = await containersOf(deploymentId);
  if (!container) throw new Error(`deployment ${deploymentId} has no running container`);
  const handle = docker.getContainer(container.Id);
  const before = await handle.inspect();
  const exec = await handle.exec({ Cmd: ['kill', '1'] });
  await exec
    .start({ hijack: true, stdin: false })
    .then((stream) => new Promise((done) => stream.on('end', done).resume()));
  // What is tested is what follows a crash: make sure there was one.
  await eventually('the service crashed', async () => {
    const { State, RestartCount } = await handle.inspect();
    return !State.Running || State.Restarting || RestartCount > before.RestartCount;
  });
}
