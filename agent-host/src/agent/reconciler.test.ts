import { createLogger } from '@nullops/kernel';
import type { PluginHost } from '@nullops/kernel/plugins';
import {
  type ComponentDefinition,
  type DesiredDeployment,
  defineComponent,
  NO_CAPABILITIES,
  type Runtime,
  type ServiceSpec,
  type ServiceState,
  z,
} from '@nullops/plugin-sdk';
import test from 'ava';
import { DeploymentRunner } from './deployment-runner.js';
import { Reconciler } from './reconciler.js';

// The agent's reconciler against an in-memory runtime: which deployments it removes, resumes,
// restarts, recreates and declares degraded. The runtimes themselves are tested against Docker and
// Kubernetes.

class MemoryRuntime {
  readonly kind = 'memory';
  readonly capabilities = NO_CAPABILITIES;
  /** deployment id → service name → status */
  readonly services = new Map<string, Map<string, 'running' | 'stopped'>>();
  /** `<deployment>/<service>` whose data is gone. */
  readonly lostData = new Set<string>();
  readonly calls: string[] = [];

  async hasData(id: string, spec: ServiceSpec) {
    return !this.lostData.has(`${id}/${spec.name}`);
  }

  async capacity() {
    return { cpuMillicores: 1000, memoryMb: 1024 };
  }
  async prepareDeployment(id: string) {
    if (!this.services.has(id)) this.services.set(id, new Map());
  }
  async startService(id: string, spec: ServiceSpec): Promise<ServiceState> {
    this.calls.push(`start ${spec.name}`);
    await this.prepareDeployment(id);
    this.services.get(id)?.set(spec.name, 'running');
    return this.inspectService(id, spec.name);
  }
  async inspectService(id: string, name: string): Promise<ServiceState> {
    const status = this.services.get(id)?.get(name) ?? 'missing';
    return { name, ref: `${id}/${name}`, status };
  }
  async restartService(id: string, name: string) {
    this.calls.push(`restart ${name}`);
    this.services.get(id)?.set(name, 'running');
    return this.inspectService(id, name);
  }
  async listDeployments() {
    return [...this.services.keys()];
  }
  async removeDeployment(id: string) {
    this.calls.push(`remove ${id.slice(0, 8)}`);
    this.services.delete(id);
  }
}

const spec = (name: string): ServiceSpec => ({ name, image: `${name}:1`, cpuMillicores: 100, memoryMb: 64 });

/** A pipeline component that starts one service, after `ms`. */
const serviceComponent: ComponentDefinition = defineComponent({
  type: 'test.service',
  version: 1,
  title: 'Service',
  category: 'Test',
  params: z.object({ name: z.string(), ms: z.number().default(0) }),
  async run(ctx, p) {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, p.ms);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(new Error('aborted'));
      });
    });
    const s = spec(p.name);
    await ctx.runtime.startService(ctx.deployment.id, s);
    ctx.recordService(s);
    return {};
  },
});

function setup() {
  const runtime = new MemoryRuntime();
  const events: { event: string; data: any }[] = [];
  const plugins = {
    componentsFor: async () => ({
      components: new Map([[serviceComponent.type, serviceComponent]]),
      unavailable: new Map(),
    }),
  } as unknown as PluginHost;
  const waiters: (() => void)[] = [];
  const emit = (event: string, data: unknown) => {
    events.push({ event, data });
    for (const wake of waiters.splice(0)) wake();
  };
  const logger = createLogger({ level: 'silent' });
  const runner = new DeploymentRunner({
    runtime: runtime as unknown as Runtime,
    plugins,
    logger,
    emit,
    persist: async () => {},
  });
  let queue: Promise<unknown> = Promise.resolve();
  const reconciler = new Reconciler({
    runtime: runtime as unknown as Runtime,
    runner,
    logger,
    emit,
    serialised: <T>(work: () => Promise<T>) => {
      const next = queue.then(work, work);
      queue = next.catch(() => {});
      return next;
    },
    sweepMs: 60_000,
  });
  /** Resolves with the first event that matches, now or when it comes. */
  const next = async (match: (e: { event: string; data: any }) => boolean) => {
    for (;;) {
      const found = events.find(match);
      if (found) return found.data;
      await new Promise<void>((wake) => waiters.push(wake));
    }
  };
  return { runtime, runner, reconciler, events, next };
}

const id = (n: number) => `00000000-0000-4000-8000-00000000000${n}`;
const running = (n: number, services: string[]): DesiredDeployment => ({
  id: id(n),
  name: `d${n}`,
  state: 'running',
  services: services.map(spec),
});
const deploying = (n: number, ms = 0): DesiredDeployment => ({
  id: id(n),
  name: `d${n}`,
  state: 'deploying',
  services: [],
  run: {
    pipelineVersion: 1,
    nodes: [{ id: 'web', type: 'test.service', version: 1, params: { name: 'web', ms } }],
    edges: [],
    registryAuth: [],
    plugins: [],
  },
});

const finished = (e: { event: string; data: any }, deploymentId: string) =>
  e.event === 'deployment.finished' && e.data.id === deploymentId;

test('sync keeps what runs, restarts what stopped, recreates what is gone, and removes what nobody wants', async (t) => {
  const { runtime, reconciler } = setup();
  runtime.services.set(
    id(1),
    new Map([
      ['web', 'running'],
      ['api', 'stopped'],
    ]),
  );
  runtime.services.set(id(2), new Map([['old', 'running']]));
  runtime.services.set(id(3), new Map([['gone', 'running']]));
  const { deployments, report } = await reconciler.sync([
    running(1, ['web', 'api', 'db']),
    { id: id(2), name: 'd2', state: 'deleting', services: [] },
  ]);
  t.deepEqual(report.kept, ['d1/web']);
  t.deepEqual(report.restarted, ['d1/api']);
  t.deepEqual(report.recreated, ['d1/db']);
  t.deepEqual(
    report.removedDeployments.sort(),
    [id(2), id(3)].sort(),
    'the deleting one and the unknown one',
  );
  t.deepEqual([...runtime.services.keys()], [id(1)]);
  t.deepEqual(
    deployments.map((d) => [d.id, d.phase, d.services.map((s) => `${s.name}:${s.status}`)]),
    [[id(1), 'running', ['web:running', 'api:running', 'db:running']]],
  );
  t.false(runtime.calls.includes('start web'), 'a running service is only inspected');
});

test('a deploying deployment the agent is not running (it restarted mid-run) is run again and reported', async (t) => {
  const { runtime, runner, reconciler, next } = setup();
  const { deployments } = await reconciler.sync([deploying(4)]);
  t.is(deployments[0]?.phase, 'deploying');
  const done = await next((e) => finished(e, id(4)));
  t.is(done.phase, 'running');
  t.deepEqual(
    done.specs.map((s: ServiceSpec) => s.name),
    ['web'],
  );
  t.is(runtime.services.get(id(4))?.get('web'), 'running');
  t.is(runner.servicePort(id(4), 'web'), undefined, 'a service without a port is not routed');
});

test('a run is never started twice: deploy, then a sync while it runs, run the pipeline once', async (t) => {
  const { runtime, runner, reconciler, next } = setup();
  const d = deploying(5, 100) as DesiredDeployment & { run: NonNullable<DesiredDeployment['run']> };
  t.deepEqual(await runner.deploy(d), { accepted: true });
  t.deepEqual(await runner.deploy(d), { accepted: true });
  await reconciler.sync([d]);
  await next((e) => finished(e, id(5)));
  t.deepEqual(
    runtime.calls.filter((c) => c === 'start web'),
    ['start web'],
  );
});

test('remove during a run cancels it, removes everything, and reports no outcome for the cancelled run', async (t) => {
  const { runtime, runner, reconciler, events, next } = setup();
  const d = deploying(6, 5000) as DesiredDeployment & { run: NonNullable<DesiredDeployment['run']> };
  await runner.deploy(d);
  await next((e) => e.event === 'pipeline.step' && e.data.status === 'started');
  t.deepEqual(await runner.remove(id(6)), { removed: true });
  t.false(runtime.services.has(id(6)));
  t.false(
    events.some((e) => e.event === 'deployment.finished'),
    'a cancelled run has no outcome to report',
  );
  t.true(
    events.some(
      (e) => e.event === 'pipeline.step' && e.data.status === 'failed' && e.data.message === 'cancelled',
    ),
  );
  const { deployments } = await reconciler.sync([]);
  t.deepEqual(deployments, []);
});

/** A running deployment as the agent keeps it after its pipeline (and a sync that gave its specs). */
async function settled(reconciler: Reconciler, runtime: MemoryRuntime, d: DesiredDeployment) {
  runtime.services.set(d.id, new Map(d.services.map((s) => [s.name, 'running' as const])));
  await reconciler.sync([d]);
}

test('between syncs, a runtime event brings a vanished service back and tells what was repaired', async (t) => {
  const { runtime, reconciler, next } = setup();
  const d = running(7, ['web', 'api']);
  await settled(reconciler, runtime, d);
  runtime.services.get(id(7))?.delete('web');
  runtime.services.get(id(7))?.set('api', 'stopped');
  reconciler.touched(id(7));
  const repaired = await next((e) => e.event === 'deployment.repaired' && e.data.service === 'web');
  t.like(repaired, { deploymentId: id(7), action: 'recreated', message: 'web was gone; recreated' });
  t.like(await next((e) => e.event === 'deployment.repaired' && e.data.service === 'api'), {
    action: 'restarted',
  });
  t.is(runtime.services.get(id(7))?.get('web'), 'running');
  t.is(runtime.services.get(id(7))?.get('api'), 'running');
});

test('a service a user stopped stays stopped; one whose data is gone is not made again empty: degraded', async (t) => {
  const { runtime, reconciler, runner, events, next } = setup();
  const d = { ...running(8, ['web', 'db']), stoppedServices: ['web'] };
  await settled(reconciler, runtime, d);
  runtime.services.get(id(8))?.set('web', 'stopped');
  runtime.services.get(id(8))?.delete('db');
  runtime.lostData.add(`${id(8)}/db`);
  await reconciler.repairAll();
  const degraded = await next((e) => e.event === 'deployment.degraded');
  t.regex(degraded.reason, /db is gone from the node and so is its data.*Redeploy/);
  t.is(runtime.services.get(id(8))?.get('web'), 'stopped', 'what a user stopped stays stopped');
  t.false(runtime.services.get(id(8))?.has('db'), 'no empty database pretends to be the old one');
  t.false(events.some((e) => e.event === 'deployment.repaired'));
  await reconciler.repairAll();
  t.is(events.filter((e) => e.event === 'deployment.degraded').length, 1, 'said once');
  const record = runner.record(id(8));
  t.truthy(record && (await runner.actual(record)).degraded, 'and reported with its actual state');
});

test('a later generation of a run (a redeploy) starts from nothing: what the earlier one left is removed first', async (t) => {
  const { runtime, runner, reconciler, next } = setup();
  await settled(reconciler, runtime, running(9, ['old']));
  const again = { ...deploying(9), generation: 2 } as DesiredDeployment & {
    run: NonNullable<DesiredDeployment['run']>;
  };
  await reconciler.sync([again]);
  const done = await next((e) => finished(e, id(9)));
  t.is(done.phase, 'running');
  t.true(runtime.calls.includes(`remove ${id(9).slice(0, 8)}`));
  t.deepEqual([...(runtime.services.get(id(9))?.keys() ?? [])], ['web'], 'only what the new run started');
  t.is(runner.record(id(9))?.desired.generation, 2);
});
