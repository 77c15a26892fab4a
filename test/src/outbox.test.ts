import { ClusterBus, type ControlPlaneConfig, createLogger, Outbox, Replicas } from '@nullops/core';
import test from 'ava';
import { createTestDatabase, type TestDatabase } from './helpers/test-database.js';
import { eventually } from './helpers/time.js';

/** Replicas here beat often and are counted dead soon, so a crash is noticed within the test. */
const CLUSTER = { NULLOPS_REPLICA_HEARTBEAT_MS: 100, NULLOPS_REPLICA_TIMEOUT_MS: 800 } as ControlPlaneConfig;

/** One control-plane replica's outbox on the database (its bus and membership started). */
async function replica(database: TestDatabase) {
  const logger = createLogger({ level: 'silent' });
  const bus = new ClusterBus(database.db, logger);
  const replicas = new Replicas(database.db, CLUSTER, logger, bus);
  await bus.start();
  await replicas.start();
  return { outbox: new Outbox(database.db, logger, replicas, bus), replicas, bus };
}

// Each test has its own database: the outbox table is shared by whoever starts a worker on it.
async function setup(t: { teardown(fn: () => Promise<void>): void }) {
  const database = await createTestDatabase();
  const started: Awaited<ReturnType<typeof replica>>[] = [];
  const make = async () => {
    const r = await replica(database);
    started.push(r);
    return r.outbox;
  };
  t.teardown(async () => {
    for (const r of started) {
      await r.outbox.stop();
      await r.replicas.stop();
      await r.bus.stop();
    }
    await database.drop();
  });
  return { database, make, started };
}

const rows = (database: TestDatabase) => database.db('outbox').select('*').orderBy('id');

test('an effect runs only once its transaction commits, and a rolled-back one never', async (t) => {
  const { database, make } = await setup(t);
  const outbox = await make();
  const ran: string[] = [];
  outbox.handle('t.effect', async (p) => void ran.push(p.name as string));
  await outbox.start(50);
  await database.db
    .transaction(async (trx) => {
      await outbox.add(trx, 't.effect', 'k', { name: 'rolled back' });
      throw new Error('the change fails');
    })
    .catch(() => {});
  await database.db.transaction(async (trx) => {
    await outbox.add(trx, 't.effect', 'k', { name: 'committed' });
    outbox.wake(); // too early: the entry is not visible until the commit
  });
  outbox.wake();
  await outbox.settle();
  t.deepEqual(ran, ['committed']);
  t.deepEqual(await rows(database), [], 'a done effect leaves no row');
});

test('a failing effect is retried with backoff until it succeeds; the error is kept meanwhile', async (t) => {
  const { database, make } = await setup(t);
  const outbox = await make();
  let calls = 0;
  outbox.handle('t.flaky', async () => {
    calls++;
    if (calls < 3) throw new Error(`down (${calls})`);
  });
  await outbox.start(50);
  await outbox.add(database.db, 't.flaky', 'k');
  outbox.wake();
  let seenError = '';
  await eventually('the third attempt', async () => {
    const [row] = await rows(database);
    if (row?.lastError) seenError = row.lastError;
    return calls >= 3;
  });
  await outbox.settle();
  t.is(calls, 3);
  t.regex(seenError, /^down \(\d\)$/);
  t.deepEqual(await rows(database), []);
});

test('effects of one key run one after another in order; other keys do not wait for them', async (t) => {
  const { database, make } = await setup(t);
  const outbox = await make();
  const log: string[] = [];
  let releaseSlow: () => void = () => {};
  const slow = new Promise<void>((r) => {
    releaseSlow = r;
  });
  outbox.handle('t.step', async (p) => {
    log.push(`start ${p.name}`);
    if (p.name === 'a1') await slow;
    log.push(`end ${p.name}`);
  });
  for (const [key, name] of [
    ['a', 'a1'],
    ['a', 'a2'],
    ['b', 'b1'],
    ['a', 'a3'],
  ])
    await outbox.add(database.db, 't.step', key as string, { name });
  await outbox.start(50);
  await eventually('b1 done', async () => log.includes('end b1'));
  t.false(log.includes('start a2'), 'a2 waits for a1');
  releaseSlow();
  await outbox.settle();
  const order = log.filter((l) => l.includes(' a'));
  t.deepEqual(order, ['start a1', 'end a1', 'start a2', 'end a2', 'start a3', 'end a3']);
});

test('a run of identical effects of one key runs once', async (t) => {
  const { database, make } = await setup(t);
  const outbox = await make();
  let calls = 0;
  outbox.handle('t.refresh', async () => {
    calls++;
  });
  for (let i = 0; i < 5; i++) await outbox.add(database.db, 't.refresh', 'ingress');
  await outbox.start(50);
  await outbox.settle();
  t.is(calls, 1);
  t.deepEqual(await rows(database), []);
});

test('what a crashed replica had claimed runs once the others count it dead; a live one keeps its claims', async (t) => {
  const { database, make } = await setup(t);
  // Not through make(): a crashed process is never stopped cleanly.
  const { outbox: first, replicas: firstReplica, bus: firstBus } = await replica(database);
  let firstStarted = false;
  // The first process takes the effect and dies before finishing it (its handler never returns).
  first.handle('t.deliver', () => {
    firstStarted = true;
    return new Promise(() => {});
  });
  await first.add(database.db, 't.deliver', 'k', { n: 1 });
  await first.start(50);
  await eventually('the first process started the effect', async () => firstStarted);
  const [leased] = await rows(database);
  t.is(leased?.claimedBy, firstReplica.id, 'the entry is leased to the first replica');
  t.true(new Date(leased.availableAt).getTime() > Date.now() + 60_000, 'for longer than a restart takes');

  // A second replica starts beside the live first one: the claim stays the first's.
  const second = await make();
  const delivered: unknown[] = [];
  second.handle('t.deliver', async (p) => void delivered.push(p));
  await second.start(50);
  await second.settle();
  t.deepEqual(delivered, [], "a live replica's claim is never taken");
  t.is((await rows(database))[0]?.claimedBy, firstReplica.id);

  // The crash: the first replica stops beating and hearing, and takes no more work (its handler
  // hangs forever).
  await firstBus.stop();
  clearInterval((firstReplica as unknown as { timer: NodeJS.Timeout }).timer);
  clearInterval((first as unknown as { timer: NodeJS.Timeout }).timer);
  (first as unknown as { stopped: boolean }).stopped = true;
  await eventually('the second replica runs the effect', async () => delivered.length === 1);
  await second.settle();
  t.deepEqual(delivered, [{ n: 1 }]);
  t.deepEqual(await rows(database), []);
});
