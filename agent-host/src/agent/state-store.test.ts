import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { pino } from 'pino';
import { type AgentState, StateStore } from './state-store.js';

const logger = pino({ level: 'silent' });

function state(n: number): AgentState {
  return { version: 3, owner: null, syncedAt: new Date(n).toISOString(), deployments: [] };
}

test('concurrent saves never collide, land in call order, and leave no temp file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nullops-state-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = new StateStore(dir, logger);
  await Promise.all(Array.from({ length: 50 }, (_, i) => store.save(state(i))));
  t.deepEqual(await readdir(dir), ['state.json']);
  t.is((await store.load()).syncedAt, state(49).syncedAt);
});

test('a corrupt file is discarded, and a save after it works', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nullops-state-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'state.json'), '{"version": 3, "deploy');
  const store = new StateStore(dir, logger);
  t.deepEqual(await store.load(), { version: 3, owner: null, syncedAt: null, deployments: [] });
  await store.save(state(7));
  t.is(JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')).syncedAt, state(7).syncedAt);
});

test('nothing secret reaches the disk: no pipeline run, no env value; such records come back redacted', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nullops-state-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = new StateStore(dir, logger);
  const spec = {
    name: 'web',
    image: 'web:1',
    cpuMillicores: 100,
    memoryMb: 64,
    env: { DB_PASSWORD: 'hunter2-but-longer' },
  };
  await store.save({
    version: 3,
    owner: null,
    syncedAt: null,
    deployments: [
      {
        desired: {
          id: '00000000-0000-4000-8000-000000000001',
          name: 'app',
          state: 'running',
          services: [spec],
          secretValues: ['hunter2-but-longer'],
          registryAuth: [{ serveraddress: 'r.example', username: 'u', password: 'registry-pass-xyz' }],
          run: {
            pipelineVersion: 1,
            nodes: [],
            edges: [],
            registryAuth: [],
            plugins: [],
            secretValues: ['hunter2-but-longer'],
          },
        },
        phase: 'running',
        specs: [spec],
      },
    ],
  });
  const text = await readFile(join(dir, 'state.json'), 'utf8');
  t.false(text.includes('hunter2'));
  t.false(text.includes('registry-pass-xyz'), 'nor registry credentials');
  const [loaded] = (await store.load()).deployments;
  t.true(loaded?.redacted);
  t.is(loaded?.specs[0]?.image, 'web:1', 'everything else is kept');
  t.is(loaded?.desired.run, undefined);
});

test('a state written before owners existed (version 2) keeps its deployments; the owner comes from the control plane', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nullops-state-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const desired = { id: '00000000-0000-4000-8000-000000000002', name: 'old', state: 'running', services: [] };
  await writeFile(
    join(dir, 'state.json'),
    JSON.stringify({ version: 2, syncedAt: null, deployments: [{ desired, phase: 'running', specs: [] }] }),
  );
  const loaded = await new StateStore(dir, logger).load();
  t.is(loaded.version, 3);
  t.is(loaded.owner, null);
  t.deepEqual(
    loaded.deployments.map((d) => d.desired.name),
    ['old'],
  );
});
