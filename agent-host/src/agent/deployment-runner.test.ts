import {
  type ComponentDefinition,
  type DesiredDeployment,
  defineComponent,
  type Runtime,
  type ServiceSpec,
  type ServiceState,
  z,
} from '@nullops/plugin-sdk';
import test from 'ava';
import { createLogger } from '../kernel/logger.js';
import type { PluginHost } from '../plugins/plugin-host.js';
import { DeploymentRunner } from './deployment-runner.js';

// The agent's reconciler against an in-memory runtime: which deployments it removes, resumes,
// restarts and recreates. The runtimes themselves are tested against Docker and Kubernetes.

class MemoryRuntime {
  readonly kind = 'docker' as const;
  /** deployment id → service name → status */
  readonly services = new Map<string, Map<string, 'running' | 'stopped'>>();
  readonly calls: string[] = [];

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
  const runner = new DeploymentRunner({
    runtime: runtime as unknown as Runtime,
    plugins,
    logger: createLogger({ level: 'silent' }),
    emit: (event, data) => events.push({ event, data }),
    persist: async () => {},
  });
  return { runtime, runner, events };
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

const finished = async (events: { event: string; data: any }[], deploymentId: string) => {
  for (let i = 0; i < 200; i++) {
    const found = events.find((e) => e.event === 'deployment.finished' && e.data.id === deploymentId);
    if (found) return found.data;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('no deployment.finished');
};

test('sync keeps what runs, restarts what stopped, recreates what is gone, and removes what nobody wants', async (t) => {
  const { runtime, runner } = setup();
  runtime.services.set(
    id(1),
    new Map([
      ['web', 'running'],
      ['api', 'stopped'],
    ]),
  );
  runtime.services.set(id(2), new Map([['old', 'running']]));
  runtime.services.set(id(3), new Map([['gone', 'running']]));
  const { deployments, report } = await runner.sync([
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
  const { runtime, runner, events } = setup();
  const { deployments } = await runner.sync([deploying(4)]);
  t.is(deployments[0]?.phase, 'deploying');
  const done = await finished(events, id(4));
  t.is(done.phase, 'running');
  t.deepEqual(
    done.specs.map((s: ServiceSpec) => s.name),
    ['web'],
  );
  t.is(runtime.services.get(id(4))?.get('web'), 'running');
  t.is(runner.servicePort(id(4), 'web'), undefined, 'a service without a port is not routed');
});

test('a run is never started twice: deploy, then a sync while it runs, run the pipeline once', async (t) => {
  const { runtime, runner, events } = setup();
  const d = deploying(5, 100) as DesiredDeployment & { run: NonNullable<DesiredDeployment['run']> };
  t.deepEqual(await runner.deploy(d), { accepted: true });
  t.deepEqual(await runner.deploy(d), { accepted: true });
  await runner.sync([d]);
  await finished(events, id(5));
  t.deepEqual(
    runtime.calls.filter((c) => c === 'start web'),
    ['start web'],
  );
});

test('remove during a run cancels it, removes everything, and reports no outcome for the cancelled run', async (t) => {
  const { runtime, runner, events } = setup();
  const d = deploying(6, 5000) as DesiredDeployment & { run: NonNullable<DesiredDeployment['run']> };
  await runner.deploy(d);
  await new Promise((r) => setTimeout(r, 50));
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
  const { deployments } = await runner.sync([]);
  t.deepEqual(deployments, []);
});
