import { createLogger, Outbox } from '@nullops/core';
import test from 'ava';
import { createTestDatabase, type TestDatabase } from './helpers/test-database.js';
import { eventually } from './helpers/time.js';

// Each test has its own database: the outbox table is shared by whoever starts a worker on it.
async function setup(t: { teardown(fn: () => Promise<void>): void }) {
  const database = await createTestDatabase();
  const outboxes: Outbox[] = [];
  const make = () => {
    const outbox = new Outbox(database.db, createLogger({ level: 'silent' }));
    outboxes.push(outbox);
    return outbox;
  };
  t.teardown(async () => {
    for (const o of outboxes) await o.stop();
    await database.drop();
  });
  return { database, make };
}

const rows = (database: TestDatabase) => database.db('outbox').select('*').orderBy('id');

test('an effect runs only once its transaction commits, and a rolled-back one never', async (t) => {
  const { database, make } = await setup(t);
  const outbox = make();
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
  const outbox = make();
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
  const outbox = make();
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
  const outbox = make();
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

test('what a crashed control plane had claimed runs at once when the next one starts', async (t) => {
  const { database, make } = await setup(t);
  // Not through make(): a crashed process is never stopped cleanly.
  const first = new Outbox(database.db, createLogger({ level: 'silent' }));
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
  t.truthy(leased?.claimedBy, 'the entry is leased to the first process');
  t.true(new Date(leased.availableAt).getTime() > Date.now() + 60_000, 'for longer than a restart takes');
  // The crash: the first process takes no more work (and its handler hangs forever).
  clearInterval((first as unknown as { timer: NodeJS.Timeout }).timer);
  (first as unknown as { stopped: boolean }).stopped = true;

  const second = make();
  const delivered: unknown[] = [];
  second.handle('t.deliver', async (p) => void delivered.push(p));
  await second.start(50);
  await second.settle();
  t.deepEqual(delivered, [{ n: 1 }]);
  t.deepEqual(await rows(database), []);
});
