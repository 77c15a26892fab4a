import type { Runtime, ServiceSpec } from '@nullops/plugin-sdk';
import test from 'ava';
import { fencedRuntime } from './fenced-runtime.js';

const spec: ServiceSpec = { name: 'web', image: 'web:1', cpuMillicores: 100, memoryMb: 64 };

/** A runtime whose startService takes `ms`, recording what exists afterwards. */
function slowRuntime(ms: number) {
  const services = new Set<string>();
  const runtime = {
    kind: 'docker',
    startService: async (id: string, s: ServiceSpec) => {
      await new Promise((r) => setTimeout(r, ms));
      services.add(`${id}/${s.name}`);
      return { name: s.name, status: 'running' };
    },
    removeDeployment: async (id: string) => {
      for (const key of [...services]) if (key.startsWith(`${id}/`)) services.delete(key);
    },
  } as unknown as Runtime;
  return { runtime, services };
}

test('a start already under way when the run aborts is undone when it returns, and the caller is told', async (t) => {
  const { runtime, services } = slowRuntime(100);
  const controller = new AbortController();
  const fenced = fencedRuntime(runtime, 'd1', controller.signal);
  const started = fenced.startService('d1', spec);
  setTimeout(() => controller.abort(), 20);
  await t.throwsAsync(started, { message: /the run was cancelled/ });
  t.deepEqual([...services], [], 'the container that appeared after the abort is gone');
});

test('after the abort nothing new is started at all', async (t) => {
  const { runtime, services } = slowRuntime(1);
  const controller = new AbortController();
  controller.abort();
  await t.throwsAsync(fencedRuntime(runtime, 'd1', controller.signal).startService('d1', spec), {
    message: /nothing new is started/,
  });
  t.deepEqual([...services], []);
});

test('without an abort the fence is transparent', async (t) => {
  const { runtime, services } = slowRuntime(1);
  const state = await fencedRuntime(runtime, 'd1', new AbortController().signal).startService('d1', spec);
  t.is(state.status, 'running');
  t.deepEqual([...services], ['d1/web']);
});
