import { randomUUID } from 'node:crypto';
import { environmentCapacity, placeDeployment } from '@nullops/core';
import test from 'ava';
import { createTestDatabase, type TestDatabase } from './helpers/test-database.js';

let t0: TestDatabase;
test.before(async () => {
  t0 = await createTestDatabase();
});
test.after.always(() => t0?.drop());

/** An environment with nodes of the given capacity and measured host usage. */
async function environment(
  nodes: { name: string; cpuPercentAverage: number; memoryUsedMb?: number }[],
  overcommit = { cpuOvercommit: 1, memoryOvercommit: 1 },
) {
  const env = {
    id: randomUUID(),
    name: `env-${randomUUID().slice(0, 8)}`,
    baseDomain: 'test',
    runtime: 'docker',
    defaultTtlSeconds: 3600,
    ...overcommit,
  };
  await t0.db('environments').insert(env);
  for (const n of nodes)
    await t0.db('nodes').insert({
      id: randomUUID(),
      environmentId: env.id,
      name: n.name,
      host: '127.0.0.1',
      port: 5000,
      enabled: true,
      status: 'online',
      labels: JSON.stringify({}),
      capacity: JSON.stringify({ cpuMillicores: 2000, memoryMb: 4096 }),
      usage: JSON.stringify({
        host: {
          cpuPercent: n.cpuPercentAverage,
          cpuPercentAverage: n.cpuPercentAverage,
          memoryUsedMb: n.memoryUsedMb ?? 512,
          memoryTotalMb: 4096,
        },
      }),
    });
  return {
    ...env,
    description: null,
    ingressClass: null,
    createdAt: new Date(),
    updatedAt: new Date(),
  } as never;
}

const place = (env: never, budget = { cpuMillicores: 500, memoryMb: 256 }) =>
  t0.db.transaction((trx) => placeDeployment(trx, env, budget));

/** A running deployment of that budget on the node: it reserves room there. */
async function occupy(env: never, nodeId: string, budget: { cpuMillicores: number; memoryMb: number }) {
  const project = randomUUID();
  await t0.db('projects').insert({ id: project, name: `p-${project.slice(0, 8)}`, ...budget });
  await t0.db('deployments').insert({
    id: randomUUID(),
    name: `d-${project.slice(0, 8)}`,
    projectId: project,
    environmentId: (env as unknown as { id: string }).id,
    nodeId,
    state: 'running',
    tags: '{}',
    services: '[]',
    ...budget,
  });
}

/** How many deployments of the budget the environment takes before placement refuses. */
async function fill(env: never, budget: { cpuMillicores: number; memoryMb: number }) {
  for (let placed = 0; placed < 100; placed++) {
    const node = await place(env, budget).catch(() => undefined);
    if (!node) return placed;
    await occupy(env, node.id, budget);
  }
  return 100;
}

test('overcommit: an idle node takes its capacity × the ratio in budgets; measured use must still leave room', async (t) => {
  const budget = { cpuMillicores: 1000, memoryMb: 256 };
  // 2000m of CPU: two budgets of 1000m without overcommit, six at 3×.
  t.is(await fill(await environment([{ name: 'plain', cpuPercentAverage: 1 }]), budget), 2);
  const idle = await environment([{ name: 'idle', cpuPercentAverage: 1 }], {
    cpuOvercommit: 3,
    memoryOvercommit: 1,
  });
  t.is(await fill(idle, budget), 6);
  const error = await t.throwsAsync(() => place(idle, budget));
  t.regex(error?.message ?? '', /has room for 1000m CPU/);
  // Overcommitted, a node whose CPU is really in use (80% of 2000m) has no room for 1000m more.
  const busy = await environment([{ name: 'busy', cpuPercentAverage: 80 }], {
    cpuOvercommit: 3,
    memoryOvercommit: 1,
  });
  t.is(await fill(busy, budget), 0);
  // Memory overcommit the same way: 4096 MiB at 2× takes eight budgets of 1024 MiB (the host
  // measures 512 MiB used, which leaves room for each).
  const memory = await environment([{ name: 'mem', cpuPercentAverage: 1 }], {
    cpuOvercommit: 20,
    memoryOvercommit: 2,
  });
  t.is(await fill(memory, { cpuMillicores: 10, memoryMb: 1024 }), 8);
  // ...while what the host measures in use stays a hard limit, overcommitted or not.
  const full = await environment([{ name: 'full', cpuPercentAverage: 1, memoryUsedMb: 3500 }], {
    cpuOvercommit: 20,
    memoryOvercommit: 4,
  });
  t.is(await fill(full, { cpuMillicores: 10, memoryMb: 1024 }), 0);
  // What the environment page shows: capacity, allocated and measured.
  const totals = (await environmentCapacity(t0.db, [(idle as unknown as { id: string }).id])).get(
    (idle as unknown as { id: string }).id,
  );
  t.like(totals, {
    cpuMillicores: 2000,
    memoryMb: 4096,
    allocatedCpuMillicores: 6000,
    allocatedMemoryMb: 6 * 256,
    usedCpuMillicores: 20,
    usedMemoryMb: 512,
  });
});

test('a neighbour using all the CPU does not refuse a deployment whose budget fits', async (t) => {
  const env = await environment([{ name: 'busy', cpuPercentAverage: 99 }]);
  const node = await place(env);
  t.is(node.name, 'busy');
});

test('measured CPU ranks the nodes: the idle one is chosen', async (t) => {
  const env = await environment([
    { name: 'busy', cpuPercentAverage: 95 },
    { name: 'idle', cpuPercentAverage: 5 },
  ]);
  t.is((await place(env)).name, 'idle');
});

test('measured memory is a hard limit', async (t) => {
  const env = await environment([{ name: 'full', cpuPercentAverage: 0, memoryUsedMb: 4000 }]);
  const error = await t.throwsAsync(() => place(env));
  t.regex(error?.message ?? '', /no node in environment .* has room for 500m CPU and 256 MiB/);
});

test('deployments spread over equal nodes: the least allocated is chosen', async (t) => {
  const env = await environment([
    { name: 'left', cpuPercentAverage: 40 },
    { name: 'right', cpuPercentAverage: 32 },
  ]);
  const chosen: string[] = [];
  for (let i = 0; i < 4; i++) {
    const node = await place(env);
    chosen.push(node.name);
    const project = randomUUID();
    await t0
      .db('projects')
      .insert({ id: project, name: `p-${project.slice(0, 8)}`, cpuMillicores: 500, memoryMb: 256 });
    await t0.db('deployments').insert({
      id: randomUUID(),
      name: `d${i}`,
      projectId: project,
      environmentId: (env as unknown as { id: string }).id,
      nodeId: node.id,
      state: 'running',
      tags: '{}',
      services: '[]',
      cpuMillicores: 500,
      memoryMb: 256,
    });
  }
  t.deepEqual(chosen.sort(), ['left', 'left', 'right', 'right']);
});
