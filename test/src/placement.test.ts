import { randomUUID } from 'node:crypto';
import { placeDeployment } from '@nullops/core';
import test from 'ava';
import { createTestDatabase, type TestDatabase } from './helpers/test-database.js';

let t0: TestDatabase;
test.before(async () => {
  t0 = await createTestDatabase();
});
test.after.always(() => t0?.drop());

/** An environment with nodes of the given capacity and measured host usage. */
async function environment(nodes: { name: string; cpuPercentAverage: number; memoryUsedMb?: number }[]) {
  const env = {
    id: randomUUID(),
    name: `env-${randomUUID().slice(0, 8)}`,
    baseDomain: 'test',
    runtime: 'docker',
    defaultTtlSeconds: 3600,
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
