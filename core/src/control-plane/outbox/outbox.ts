import { inject, injectable } from '@nullops/kernel';
import type { Logger } from 'pino';
import { ClusterBus } from '../cluster/cluster-bus.js';
import { ElsewhereError } from '../cluster/elsewhere.js';
import { Replicas } from '../cluster/replicas.js';
import type { Database } from '../database/database.js';
import { Refs } from '../refs.js';

/** What an effect gets: its payload. It must be idempotent (an effect may run more than once). */
export type EffectHandler = (payload: Record<string, unknown>) => Promise<void>;

interface Entry {
  id: string;
  topic: string;
  key: string;
  payload: Record<string, unknown>;
  attempts: number;
}

/**
 * How long a claimed entry is leased to its replica. Longer than any effect runs (removing a
 * deployment may take minutes); the claims of a replica that died are freed as soon as the others
 * count it dead, not when this ends.
 */
const LEASE_MS = 15 * 60_000;
const BATCH = 200;
/** Bus topic: effects were handed to a replica; it looks now rather than at its next poll. */
const WAKE_TOPIC = 'outbox.wake';

/**
 * The transactional outbox. Code that changes state adds its follow-up effects (`add`) inside the
 * same transaction; once that commits, the worker (woken at once, and polling for leftovers) claims
 * the entries and runs their handlers — never inside a database transaction — entries of one key in
 * order, different keys side by side. A failed effect is retried with backoff; a crash leaves the
 * entries for the next start. Delivery is at least once: handlers are idempotent.
 *
 * Replicas on one database share the outbox: each claims what is due, and an effect that needs a
 * node's link held by another replica is handed to that one (`for_replica`). The claims of a
 * replica that died are due again as soon as the live ones count it dead; a live replica's never.
 */
@injectable()
export class Outbox {
  private readonly handlers = new Map<string, EffectHandler>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  /** Keys with effects in progress, so a key's effects never overlap across drains. */
  private readonly busy = new Map<string, Promise<void>>();
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    @inject(Refs.database) private readonly db: Database,
    @inject(Refs.logger) private readonly logger: Logger,
    @inject(Replicas) private readonly replicas: Replicas,
    @inject(ClusterBus) private readonly bus: ClusterBus,
  ) {}

  /** Who this replica is in `claimed_by` and `for_replica`. */
  private get instance(): string {
    return this.replicas.id;
  }

  /** Registers the handler of a topic (once, at start-up). */
  handle(topic: string, handler: EffectHandler): void {
    if (this.handlers.has(topic)) throw new TypeError(`outbox topic ${topic} already has a handler`);
    this.handlers.set(topic, handler);
  }

  /** Adds an effect in the caller's transaction (it happens only if that commits). */
  async add(db: Database, topic: string, key: string, payload: Record<string, unknown> = {}): Promise<void> {
    await db('outbox').insert({ topic, key, payload: JSON.stringify(payload) });
  }

  /** Runs what is due soon: call after a transaction that added effects has committed. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  /**
   * Starts the worker. What a replica that is no longer alive had claimed — it crashed or was
   * killed mid-effect — is due again now, not when its lease ends; and again whenever replicas go.
   */
  async start(pollMs = 1000): Promise<void> {
    await this.recover();
    const recover = () => void this.recover().catch(() => {});
    this.replicas.on('changed', recover);
    this.unsubscribe.push(
      () => this.replicas.off('changed', recover),
      this.bus.on(WAKE_TOPIC, () => this.wake()),
    );
    this.stopped = false;
    this.timer = setInterval(() => this.wake(), pollMs);
    this.timer.unref();
    this.wake();
  }

  /** Frees the claims of replicas that are not alive (never a live replica's). */
  private async recover(): Promise<void> {
    const live = this.replicas.members.map((r) => r.id);
    const freed = await this.db('outbox')
      .whereNotNull('claimedBy')
      .whereRaw('not (claimed_by = any(?::text[]))', [live])
      .update({ availableAt: this.db.fn.now(), claimedBy: null });
    if (freed) {
      this.logger.info({ effects: freed }, 'outbox: took over the effects of a replica that is gone');
      this.wake();
    }
  }

  /** Stops taking new work and waits for what runs. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const off of this.unsubscribe) off();
    clearInterval(this.timer);
    await this.running;
    await Promise.allSettled(this.busy.values());
  }

  /**
   * Runs every due entry once (tests and shutdown use it to settle). Nothing due is not enough: a
   * drain that claimed entries a moment ago (the poll's, say) has taken them off the due list
   * before its effects run, so this also waits until no drain and no effect of this worker is left.
   */
  async settle(): Promise<void> {
    for (let i = 0; i < 20; i++) {
      await this.running;
      await Promise.allSettled([...this.busy.values()]);
      const due = await this.db('outbox')
        .where('availableAt', '<=', new Date())
        .count<{ count: string }[]>('* as count');
      if (Number(due[0]?.count ?? 0) === 0 && !this.running && this.busy.size === 0) return;
      this.wake();
    }
  }

  private async drain(): Promise<void> {
    let claimed: Entry[];
    try {
      claimed = await this.claim();
    } catch (err) {
      if (!this.stopped) this.logger.error({ err }, 'outbox: could not claim effects');
      return;
    }
    if (claimed.length === BATCH) this.again = true;
    const byKey = new Map<string, Entry[]>();
    for (const entry of claimed) byKey.set(entry.key, [...(byKey.get(entry.key) ?? []), entry]);
    for (const [key, entries] of byKey) {
      const before = this.busy.get(key) ?? Promise.resolve();
      const run = before.then(async () => {
        for (const group of coalesce(entries)) await this.run(group);
      });
      const tracked = run.finally(() => {
        if (this.busy.get(key) === tracked) this.busy.delete(key);
      });
      this.busy.set(key, tracked);
    }
  }

  /** Leases due entries to this worker, in one short statement. */
  private async claim(): Promise<Entry[]> {
    const leasedUntil = new Date(Date.now() + LEASE_MS);
    const live = this.replicas.members.map((r) => r.id);
    const result = await this.db.raw(
      `update outbox set available_at = ?, claimed_by = ?, attempts = attempts + 1
       where id in (select id from outbox where available_at <= now()
         and (for_replica is null or for_replica = ? or not (for_replica = any(?::uuid[])))
         order by id limit ? for update skip locked)
       returning id, topic, key, payload, attempts`,
      [leasedUntil, this.instance, this.instance, live, BATCH],
    );
    return (result.rows as Entry[]).sort((a, b) => Number(a.id) - Number(b.id));
  }

  /** Runs one effect for entries that asked for the same thing, and deletes them once it is done. */
  private async run(group: Entry[]): Promise<void> {
    const entry = group[0] as Entry;
    const ids = group.map((e) => e.id);
    const handler = this.handlers.get(entry.topic);
    try {
      if (!handler) throw new Error(`no handler for outbox topic ${entry.topic}`);
      await handler(entry.payload);
      await this.db('outbox').whereIn('id', ids).delete();
    } catch (err) {
      if (err instanceof ElsewhereError) return await this.handOver(ids, err.replicaId);
      const delayMs = Math.min(60_000, 500 * 2 ** Math.min(entry.attempts, 7));
      if (!this.stopped)
        this.logger.warn(
          { err, topic: entry.topic, key: entry.key, attempts: entry.attempts },
          'outbox effect failed; will retry',
        );
      await this.db('outbox')
        .whereIn('id', ids)
        .update({
          availableAt: new Date(Date.now() + delayMs),
          lastError: String((err as Error).message).slice(0, 1000),
        })
        .catch(() => {});
    }
  }

  /** Hands effects to the replica that holds the node link they need, and wakes it. */
  private async handOver(ids: string[], replicaId: string): Promise<void> {
    await this.db('outbox')
      .whereIn('id', ids)
      .update({ forReplica: replicaId, claimedBy: null, availableAt: this.db.fn.now() });
    await this.bus.publish(WAKE_TOPIC);
  }
}

/**
 * Groups a key's entries, in order, so that a run of entries asking for the same effect with the
 * same payload (ten deployments' "refresh the ingress") runs it once. Effects are idempotent, so
 * once is as good as ten times.
 */
function coalesce(entries: Entry[]): Entry[][] {
  const groups: Entry[][] = [];
  let last: Entry | undefined;
  for (const entry of entries) {
    const group = groups.at(-1);
    if (
      group &&
      last &&
      last.topic === entry.topic &&
      JSON.stringify(last.payload) === JSON.stringify(entry.payload)
    )
      group.push(entry);
    else groups.push([entry]);
    last = entry;
  }
  return groups;
}
