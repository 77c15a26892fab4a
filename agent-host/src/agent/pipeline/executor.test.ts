import {
  type ComponentDefinition,
  defineComponent,
  type PipelineRun,
  type Runtime,
  z,
} from '@nullops/plugin-sdk';
import test from 'ava';
import { type ExecuteOptions, executePipeline } from './executor.js';

// The executor's scheduling, outputs, failure, cancel and rollback rules. Components here touch
// no runtime (the runtime contract suite covers those against Docker and Kubernetes).
const noRuntime = new Proxy({} as Runtime, {
  get: (_target, key) => {
    throw new Error(`a test component used runtime.${String(key)}`);
  },
});

interface Probe {
  /** `start x`, `end x`, `rollback x`, in the order they happened. */
  events: string[];
}

/** A component that waits `ms`, fails when told to, outputs `{ value }`, and records all of it. */
function step(
  probe: Probe,
  options: { timeoutMs?: number; ignoresAbort?: boolean } = {},
): ComponentDefinition {
  return defineComponent({
    type: 'test.step',
    version: 1,
    title: 'Step',
    category: 'Test',
    params: z.object({
      ms: z.number().default(0),
      fail: z.boolean().default(false),
      value: z.string().default(''),
    }),
    outputs: { value: { description: 'what it was given' } },
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
    async run(ctx, p) {
      probe.events.push(`start ${ctx.nodeId}`);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, p.ms);
        if (!options.ignoresAbort)
          ctx.signal.addEventListener('abort', () => {
            clearTimeout(timer);
            reject(new Error('aborted'));
          });
      });
      if (p.fail) throw new Error(`${ctx.nodeId} broke`);
      probe.events.push(`end ${ctx.nodeId}`);
      return { value: p.value || ctx.nodeId };
    },
    async rollback(ctx) {
      probe.events.push(`rollback ${ctx.nodeId}`);
    },
  });
}

function run(
  nodes: { id: string; params?: Record<string, unknown> }[],
  edges: [string, string][] = [],
): PipelineRun {
  return {
    pipelineVersion: 1,
    nodes: nodes.map((n) => ({ id: n.id, type: 'test.step', version: 1, params: n.params ?? {} })),
    edges: edges.map(([from, to]) => ({ from, to })),
    registryAuth: [],
    plugins: [],
  };
}

function execute(
  probe: Probe,
  pipeline: PipelineRun,
  extra: Partial<ExecuteOptions> & { component?: ComponentDefinition } = {},
) {
  const steps: string[] = [];
  const component = extra.component ?? step(probe);
  return executePipeline({
    run: pipeline,
    deployment: { id: '00000000-0000-4000-8000-000000000001', name: 'unit' },
    runtime: noRuntime,
    components: new Map([[component.type, component]]),
    signal: new AbortController().signal,
    onStep: (node, status, message) => steps.push(`${node} ${status}${message ? ` ${message}` : ''}`),
    ...extra,
  }).then((result) => ({ result, steps }));
}

test('independent branches run side by side; a join waits for all its parents', async (t) => {
  const probe: Probe = { events: [] };
  const { result } = await execute(
    probe,
    run(
      [
        { id: 'a', params: { ms: 50 } },
        { id: 'b', params: { ms: 50 } },
        { id: 'c', params: { ms: 10 } },
        { id: 'd' },
      ],
      [
        ['a', 'd'],
        ['b', 'd'],
        ['c', 'd'],
      ],
    ),
  );
  t.true(result.ok);
  t.deepEqual(
    probe.events.slice(0, 3).sort(),
    ['start a', 'start b', 'start c'],
    'a, b and c start together',
  );
  t.is(probe.events.indexOf('start d'), probe.events.length - 2, 'd starts after every parent ended');
  t.true(['end a', 'end b', 'end c'].every((e) => probe.events.indexOf(e) < probe.events.indexOf('start d')));
});

test('a node gets the outputs of the nodes before it', async (t) => {
  const probe: Probe = { events: [] };
  const seen: string[] = [];
  const base = step(probe);
  const component = {
    ...base,
    run: async (ctx: never, p: { value: string }) => {
      seen.push(p.value);
      return base.run(ctx, p as never);
    },
  } as unknown as ComponentDefinition;
  const { result } = await execute(
    probe,
    run(
      [
        { id: 'db', params: { value: 'postgres://x' } },
        { id: 'app', params: { value: 'url=${output:db.value}' } },
      ],
      [['db', 'app']],
    ),
    { component },
  );
  t.true(result.ok);
  t.deepEqual(seen, ['postgres://x', 'url=postgres://x']);
});

test('the first failure stops the other branches and rolls back everything that ran, latest first', async (t) => {
  const probe: Probe = { events: [] };
  const { result, steps } = await execute(
    probe,
    run(
      [
        { id: 'first', params: { ms: 5 } },
        { id: 'slow', params: { ms: 5000 } },
        { id: 'broken', params: { fail: true, ms: 20 } },
      ],
      [['first', 'broken']],
    ),
  );
  t.false(result.ok);
  t.deepEqual(result.ok ? undefined : result.error, { step: 'broken', message: 'broken broke' });
  t.false(probe.events.includes('end slow'), 'the slow branch was aborted, not waited for');
  const rollbacks = probe.events.filter((e) => e.startsWith('rollback'));
  t.deepEqual(
    rollbacks,
    ['rollback slow', 'rollback broken', 'rollback first'],
    'reverse order of completion',
  );
  t.true(steps.includes('broken failed broken broke'));
  t.true(steps.includes('first rolled-back'));
});

test('cancel aborts the run, rolls back, and reports it as cancelled', async (t) => {
  const probe: Probe = { events: [] };
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 50);
  const { result } = await execute(
    probe,
    run([{ id: 'a' }, { id: 'b', params: { ms: 5000 } }], [['a', 'b']]),
    {
      signal: controller.signal,
    },
  );
  t.false(result.ok);
  t.true(!result.ok && result.cancelled);
  t.deepEqual(
    probe.events.filter((e) => e.startsWith('rollback')),
    ['rollback b', 'rollback a'],
  );
});

test('a component that ignores its signal is abandoned at its timeout, with the timeout named', async (t) => {
  const probe: Probe = { events: [] };
  const { result } = await execute(probe, run([{ id: 'stuck', params: { ms: 3000 } }]), {
    component: step(probe, { timeoutMs: 100, ignoresAbort: true }),
  });
  t.false(result.ok);
  t.regex(result.ok ? '' : result.error.message, /100 ms|timed out|time limit/i);
  t.deepEqual(result.ok ? undefined : result.error.step, 'stuck');
});

test('a graph the rules refuse runs nothing: a cycle, a reference to a later node, bad params', async (t) => {
  const probe: Probe = { events: [] };
  const cycle = await execute(
    probe,
    run(
      [{ id: 'a' }, { id: 'b' }],
      [
        ['a', 'b'],
        ['b', 'a'],
      ],
    ),
  );
  t.deepEqual(cycle.result.ok ? undefined : cycle.result.error, {
    step: null,
    message: 'edges: form a cycle: a → b → a',
  });
  const early = await execute(probe, run([{ id: 'a', params: { value: '${output:b.value}' } }, { id: 'b' }]));
  t.is(early.result.ok ? undefined : early.result.error.step, 'a');
  t.regex(early.result.ok ? '' : early.result.error.message, /does not run before a/);
  const bad = await execute(probe, run([{ id: 'a', params: { ms: 'soon' } }]));
  t.is(bad.result.ok ? undefined : bad.result.error.step, 'a');
  t.regex(bad.result.ok ? '' : bad.result.error.message, /ms/);
  const missing = await execute(
    probe,
    { ...run([{ id: 'a' }]), nodes: [{ id: 'a', type: 'nope.none', version: 1, params: {} }] },
    {
      unavailable: new Map([['nope.none', 'its plugin failed to download']]),
    },
  );
  t.deepEqual(missing.result.ok ? undefined : missing.result.error, {
    step: 'a',
    message: 'its plugin failed to download',
  });
  t.deepEqual(probe.events, [], 'no component ran');
});

test('a run cancelled before it began (during preparation) starts nothing', async (t) => {
  const probe: Probe = { events: [] };
  const controller = new AbortController();
  controller.abort();
  const { result } = await execute(probe, run([{ id: 'a' }]), { signal: controller.signal });
  t.true(!result.ok && result.cancelled);
  t.deepEqual(probe.events, []);
});
