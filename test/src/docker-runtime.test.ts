import { DockerRuntime } from '@nullops/agent-docker';
import test from 'ava';
import {
  BUSYBOX,
  docker,
  ensureTestImages,
  newDeploymentId,
  removeLabelled,
  testOwner,
  webService,
} from './helpers/docker.js';
import { eventually } from './helpers/time.js';

const runtime = new DockerRuntime({ owner: testOwner() });
const created: string[] = [];
const deployment = () => {
  const id = newDeploymentId();
  created.push(id);
  return id;
};

test.before(() => ensureTestImages());

/** httpd needs a moment after the container starts; the pipeline waits the same way. */
function waitHealthy(id: string, service: string) {
  return eventually(
    `${service} healthy`,
    async () => (await runtime.checkHealth(id, service, { kind: 'http', path: '/' }, 1000)).healthy,
  );
}
test.after.always(() => removeLabelled(docker, created));

test('a started service is hardened, limited, labelled, publishes no port and answers at its endpoint', async (t) => {
  const id = deployment();
  const state = await runtime.startService(
    id,
    webService('web', 'hello-v1', { cpuMillicores: 500, memoryMb: 96, volumes: { data: '/data' } }),
  );
  t.is(state.status, 'running');
  await waitHealthy(id, 'web');
  const endpoint = await runtime.serviceEndpoint(id, 'web', 80);
  t.truthy(endpoint, 'a running service has an endpoint on its deployment network');
  const res = await fetch(`http://${endpoint?.host}:${endpoint?.port}/`);
  t.is((await res.text()).trim(), 'hello-v1');

  const info = await docker.getContainer(state.ref).inspect();
  t.false(info.HostConfig.Privileged);
  t.deepEqual(info.HostConfig.SecurityOpt, ['no-new-privileges:true']);
  t.deepEqual(info.HostConfig.CapDrop, ['ALL']);
  t.true(info.HostConfig.Init);
  t.is(info.HostConfig.Memory, 96 * 1024 * 1024);
  t.is(info.HostConfig.NanoCpus, 500_000_000);
  t.is(info.HostConfig.NetworkMode, `nullops-${id}`);
  t.deepEqual(info.HostConfig.PortBindings ?? {}, {}, 'nothing is published on the host');
  t.deepEqual(Object.values(info.NetworkSettings.Ports ?? {}).filter(Boolean), []);
  t.false(JSON.stringify(info.Mounts).includes('docker.sock'));
  t.deepEqual(
    info.Mounts.map((m) => [m.Type, m.Destination]),
    [['volume', '/data']],
  );
  t.like(info.Config.Labels, {
    'dev.nullops.managed': 'true',
    'dev.nullops.deployment': id,
    'dev.nullops.service': 'web',
  });

  const again = await runtime.startService(
    id,
    webService('web', 'hello-v1', { cpuMillicores: 500, memoryMb: 96, volumes: { data: '/data' } }),
  );
  t.is(again.ref, state.ref, 'starting the same spec again keeps the container');
  const changed = await runtime.startService(id, webService('web', 'hello-v2'));
  t.not(changed.ref, state.ref, 'a changed spec recreates it');
});

test('the restricted profile: a non-root user, a read-only root with /tmp and declared paths writable, only the capabilities named; an image running as root is refused', async (t) => {
  const id = deployment();
  const restricted = { profile: 'restricted' as const, writablePaths: ['/www'], diskMb: 8 };
  const spec = webService('web', 'confined', { port: 8080, security: { ...restricted, runAsUser: 65534 } });
  spec.command = ['sh', '-c', 'echo confined > /www/index.html && exec httpd -f -p 8080 -h /www'];
  const state = await runtime.startService(id, spec);
  await eventually(
    'web healthy',
    async () => (await runtime.checkHealth(id, 'web', { kind: 'http', path: '/' }, 1000)).healthy,
  );
  const info = await docker.getContainer(state.ref).inspect();
  t.true(info.HostConfig.ReadonlyRootfs);
  t.deepEqual(info.HostConfig.CapAdd ?? [], []);
  t.is(info.Config.User, '65534');
  t.deepEqual(Object.keys(info.HostConfig.Tmpfs ?? {}).sort(), ['/tmp', '/www']);
  const run = (command: string) => runtime.exec(id, 'web', ['sh', '-c', command], 5000);
  t.is((await run('id -u')).output.trim(), '65534');
  t.not((await run('touch /etc/planted')).exitCode, 0, 'the root filesystem is read-only');
  t.is((await run('touch /tmp/scratch')).exitCode, 0, '/tmp is writable');
  const full = await run('dd if=/dev/zero of=/tmp/big bs=1M count=16');
  t.not(full.exitCode, 0, 'writes stop at the disk limit');
  t.regex(full.output, /No space left on device/);

  // The image's user is root and no runAsUser is given: refused before anything runs.
  const rooted = webService('root', 'x', { security: restricted });
  const error = await t.throwsAsync(runtime.startService(id, rooted));
  t.regex(
    error?.message ?? '',
    /root: the image runs as root, which the restricted security profile does not allow/,
  );
  t.is((await runtime.inspectService(id, 'root')).status, 'missing');
});

test('health checks (http, tcp, command), exec, jobs and logs', async (t) => {
  const id = deployment();
  await runtime.startService(id, webService('web', 'ok'));
  await waitHealthy(id, 'web');
  t.true((await runtime.checkHealth(id, 'web', { kind: 'http', path: '/' }, 2000)).healthy);
  const missing = await runtime.checkHealth(id, 'web', { kind: 'http', path: '/nope' }, 2000);
  t.false(missing.healthy);
  // The answer's first words come with its status (busybox httpd's page says why).
  t.is(missing.detail, 'HTTP 404: 404 Not Found 404 Not Found The requested URL was not found');
  t.true((await runtime.checkHealth(id, 'web', { kind: 'tcp' }, 2000)).healthy);
  t.true((await runtime.checkHealth(id, 'web', { kind: 'command', command: ['true'] }, 2000)).healthy);
  const failing = await runtime.checkHealth(
    id,
    'web',
    { kind: 'command', command: ['sh', '-c', 'echo "db is not ready:  connection refused" >&2; exit 3'] },
    2000,
  );
  t.false(failing.healthy);
  t.is(failing.detail, 'exit code 3: db is not ready: connection refused');

  const exec = await runtime.exec(id, 'web', ['sh', '-c', 'echo out; echo err >&2; exit 3'], 5000);
  t.is(exec.exitCode, 3);
  t.regex(exec.output, /out/);
  t.regex(exec.output, /err/);

  const job = await runtime.runJob(id, {
    name: 'probe',
    image: BUSYBOX,
    command: ['sh', '-c', 'wget -qO- http://web/ && echo done'],
  });
  t.is(job.exitCode, 0, job.output);
  t.regex(job.output, /ok\s+done/, 'jobs run on the deployment network and reach services by name');
  const jobs = await docker.listContainers({ all: true, filters: { label: ['dev.nullops.job'] } });
  t.is(jobs.filter((c) => c.Labels['dev.nullops.deployment'] === id).length, 0, 'job containers are removed');

  const controller = new AbortController();
  const lines: string[] = [];
  await runtime.exec(id, 'web', ['sh', '-c', 'echo from-exec > /proc/1/fd/1'], 5000);
  for await (const line of runtime.logs(id, 'web', { follow: true, signal: controller.signal })) {
    lines.push(line.line);
    if (line.line.includes('from-exec')) controller.abort();
  }
  t.true(lines.some((l) => l.includes('from-exec')));
});

test('deployments are isolated from each other, and removal leaves nothing behind', async (t) => {
  const a = deployment();
  const b = deployment();
  await runtime.startService(a, webService('web', 'a'));
  const bWeb = await runtime.startService(b, webService('web', 'b'));
  for (const id of [a, b]) await waitHealthy(id, 'web');
  const bIp = Object.values((await docker.getContainer(bWeb.ref).inspect()).NetworkSettings.Networks)[0]
    ?.IPAddress;
  t.truthy(bIp);
  const sameName = await runtime.runJob(a, {
    name: 'probe',
    image: BUSYBOX,
    command: ['sh', '-c', 'wget -qO- http://web/'],
  });
  t.regex(sameName.output, /^a/, `the name 'web' resolves to a's own service: ${JSON.stringify(sameName)}`);
  // Docker drops packets between deployment networks, so the probe can only time out.
  const cross = runtime.runJob(a, {
    name: 'probe',
    image: BUSYBOX,
    command: ['sh', '-c', `wget -qO- http://${bIp}/`],
    timeoutMs: 3000,
  });
  await t.throwsAsync(
    cross,
    { message: /did not finish within 3000 ms/ },
    "a cannot reach b's service by IP",
  );

  t.true((await runtime.listDeployments()).includes(a));
  const usage = await runtime.usage();
  t.true(usage.some((u) => u.deploymentId === a && u.service === 'web' && u.memoryBytes > 0));
  await runtime.removeDeployment(a);
  await runtime.removeDeployment(a);
  t.false((await runtime.listDeployments()).includes(a));
  const filters = { label: [`dev.nullops.deployment=${a}`] };
  t.is((await docker.listContainers({ all: true, filters })).length, 0);
  t.is((await docker.listNetworks({ filters })).length, 0);
  t.true((await runtime.listDeployments()).includes(b), 'the other deployment is untouched');
});

test('images are pulled from a private registry with credentials, reporting progress', async (t) => {
  const { startRegistry } = await import('./helpers/registry.js');
  const registry = await startRegistry({ auth: true });
  t.teardown(() => registry.stop());
  registry.push('team/app', 'v1');
  const image = `${registry.host}/team/app:v1`;
  await docker
    .getImage(image)
    .remove({ force: true })
    .catch(() => {});

  await t.throwsAsync(
    runtime.pullImage(image),
    { message: /pulling .* failed|unauthorized|no basic auth/i },
    'no credentials, no image',
  );
  const progress: string[] = [];
  const auth = {
    serveraddress: registry.host,
    ...(registry.credentials as { username: string; password: string }),
  };
  await runtime.pullImage(image, auth, (p) => progress.push(p.status));
  t.truthy(await docker.getImage(image).inspect());
  t.true(progress.length > 0, 'progress events arrive');
  t.true(
    progress.some((s) => /Pulling|Download|Status/i.test(s)),
    progress.join(' | '),
  );

  // A service whose image is missing pulls it with the credentials it is given.
  await docker.getImage(image).remove({ force: true });
  const id = deployment();
  const state = await runtime.startService(id, { ...webService('app', 'from-registry'), image }, auth);
  t.is(state.status, 'running');
});

test('a log line without end is cut at 16 KiB and marked, and the lines after it come whole', async (t) => {
  const id = deployment();
  await runtime.startService(id, {
    name: 'chatty',
    image: BUSYBOX,
    command: ['sh', '-c', "head -c 100000 /dev/zero | tr '\\0' x; echo; echo after; exec sleep 600"],
    cpuMillicores: 100,
    memoryMb: 32,
  });
  const lines = await eventually('both lines logged', async () => {
    const seen: string[] = [];
    for await (const l of runtime.logs(id, 'chatty', { follow: false, tail: 10 })) seen.push(l.line);
    return seen.includes('after') ? seen : undefined;
  });
  const long = lines.filter((l) => l.startsWith('xxx'));
  t.is(long.length, 1, 'one line, not the megabytes of it');
  t.true(long[0]?.endsWith('…[cut]'));
  t.true((long[0]?.length ?? 0) <= 16 * 1024 + '…[cut]'.length);
  t.is(lines.at(-1), 'after');
});
