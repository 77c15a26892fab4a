import { EventEmitter } from 'node:events';
import { inject, injectable } from '@nullops/kernel';
import type { Logger } from 'pino';
import { ClusterBus, MAX_MESSAGE_BYTES } from '../cluster/cluster-bus.js';
import type { Database } from '../database/database.js';
import { Outbox } from '../outbox/outbox.js';
import { Refs } from '../refs.js';
import { iso } from '../schemas/common.js';

/** One entry of a deployment's history, also pushed live to watchers. */
export interface HistoryEntry {
  kind: string;
  fromState?: string | null;
  toState?: string | null;
  message?: string | null;
  actorId?: string | null;
  actorName?: string | null;
  details?: Record<string, unknown> | null;
}

export interface LiveEvent {
  deploymentId: string;
  at: string;
  kind: string;
  state?: string | null;
  message?: string | null;
  /** Who caused it (history entries only). */
  actor?: string | null;
  details?: Record<string, unknown> | null;
  /** The entry's place in the history (history entries only), so a watcher can skip what it has. */
  seq?: number;
}

/** Outbox topics: publish a committed history entry to watchers; tell plugins' notifiers. */
export const HISTORY_TOPIC = 'deployment.history';
export const NOTIFY_TOPIC = 'deployment.notify';

/** Bus topic: a live event for the watchers on the other replicas. */
const LIVE_TOPIC = 'deployment.live';
/** The longest message a live event carries to other replicas (the bus takes under 8 KB). */
const MAX_RELAYED_MESSAGE = 2000;

/** Step log lines stored per pipeline run; later ones are streamed live only. */
const MAX_STORED_STEP_LOGS = 2000;

/**
 * A deployment's history: who did what and every pipeline step, in `deployment_events`, and the
 * live feed of it. An entry is published only once it has committed (through the outbox).
 */
@injectable()
export class DeploymentHistory {
  readonly live = new EventEmitter<{ event: [LiveEvent] }>();
  private readonly stepLogCounts = new Map<string, number>();

  constructor(
    @inject(Outbox) private readonly outbox: Outbox,
    @inject(ClusterBus) private readonly bus: ClusterBus,
    @inject(Refs.logger) private readonly logger: Logger,
  ) {
    this.live.setMaxListeners(0);
  }

  start(): void {
    this.outbox.handle(HISTORY_TOPIC, async (payload) => {
      // Stored as jsonb, whose keys come back sorted: rebuilt in the order of every other event.
      const e = payload as unknown as LiveEvent;
      this.emit({
        deploymentId: e.deploymentId,
        kind: e.kind,
        state: e.state ?? null,
        message: e.message ?? null,
        actor: e.actor ?? null,
        details: e.details ?? null,
        seq: e.seq as number,
        at: e.at,
      });
    });
    this.bus.on(LIVE_TOPIC, (e) => this.live.emit('event', e as unknown as LiveEvent), { othersOnly: true });
  }

  /** Tells this replica's watchers at once, and the other replicas' through the bus. */
  private emit(event: LiveEvent): void {
    this.live.emit('event', event);
    this.bus
      .publish(LIVE_TOPIC, relayable(event) as unknown as Record<string, unknown>)
      .catch((err) => this.logger.warn({ err: (err as Error).message }, 'could not relay a live event'));
  }

  /** Adds an entry in the caller's transaction; watchers and notifiers hear of it once that commits. */
  async record(db: Database, deploymentId: string, entry: HistoryEntry): Promise<void> {
    const [row] = await db('deployment_events')
      .insert({
        deploymentId,
        kind: entry.kind,
        fromState: entry.fromState ?? null,
        toState: entry.toState ?? null,
        message: entry.message ?? null,
        actorId: entry.actorId ?? null,
        actorName: entry.actorName ?? null,
        details: entry.details ? JSON.stringify(entry.details) : null,
      })
      .returning(['id', 'at']);
    const event: LiveEvent = {
      deploymentId,
      at: iso(row.at) as string,
      seq: Number(row.id),
      kind: entry.kind,
      state: entry.toState ?? null,
      message: entry.message ?? null,
      actor: entry.actorName ?? null,
      details: entry.details ?? null,
    };
    await this.outbox.add(db, HISTORY_TOPIC, deploymentId, event as unknown as Record<string, unknown>);
    await this.outbox.add(
      db,
      NOTIFY_TOPIC,
      `notify:${deploymentId}`,
      event as unknown as Record<string, unknown>,
    );
  }

  /** Live only (pipeline step progress, log lines of steps): not worth a history entry each. */
  publish(event: Omit<LiveEvent, 'at'>): void {
    this.emit({ ...event, at: new Date().toISOString() });
  }

  /**
   * Keeps a pipeline step event. Log lines are kept too (what a failed step printed matters
   * after the fact), up to a bound per run, so a chatty component cannot fill the database.
   */
  async recordStep(
    db: Database,
    step: { deploymentId: string; nodeId: string; status: string; message?: string | undefined; at: string },
  ): Promise<void> {
    // `agentAt` is the agent's own clock: step durations from it leave out the trip to here.
    const details = { step: step.nodeId, agentAt: step.at };
    const live = { deploymentId: step.deploymentId, kind: `step.${step.status}`, details };
    let message = step.message ?? null;
    // What a step waits for is news only while it waits (a probe's result each second).
    if (step.status === 'waiting') {
      this.publish({ ...live, message });
      return;
    }
    if (step.status === 'log') {
      const count = (this.stepLogCounts.get(step.deploymentId) ?? 0) + 1;
      this.stepLogCounts.set(step.deploymentId, count);
      if (count > MAX_STORED_STEP_LOGS) {
        this.publish({ ...live, message });
        return;
      }
      if (count === MAX_STORED_STEP_LOGS) message = '… more log lines of this run are shown live only';
    }
    // Stored first, then told live with its sequence number: a watcher that reads the history
    // while this happens finds it there or gets it live (never neither), and skips it if both.
    const [row] = await db('deployment_events')
      .insert({
        deploymentId: step.deploymentId,
        kind: `step.${step.status}`,
        message,
        details: JSON.stringify(details),
      })
      .returning('id');
    this.publish({ ...live, message: step.message ?? null, seq: Number(row.id) });
  }

  /** A run ended: its log budget starts afresh for the next one. */
  runEnded(deploymentId: string): void {
    this.stepLogCounts.delete(deploymentId);
  }

  /** The history, oldest first. */
  async list(db: Database, deploymentId: string) {
    const rows = await db('deployment_events')
      .where('deploymentId', deploymentId)
      .orderBy('id')
      .select('id', 'at', 'kind', 'fromState', 'toState', 'message', 'actorName', 'details');
    return (
      rows as {
        id: string;
        at: Date;
        kind: string;
        fromState: string | null;
        toState: string | null;
        message: string | null;
        actorName: string | null;
        details: unknown;
      }[]
    ).map(({ id, ...r }) => ({ ...r, seq: Number(id), at: iso(r.at) as string }));
  }
}

/** An event small enough for the bus: a long message is cut, and details too large are left out. */
function relayable(event: LiveEvent): LiveEvent {
  if (Buffer.byteLength(JSON.stringify(event)) < MAX_MESSAGE_BYTES - 200) return event;
  const message =
    event.message && event.message.length > MAX_RELAYED_MESSAGE
      ? `${event.message.slice(0, MAX_RELAYED_MESSAGE)}…`
      : (event.message ?? null);
  const slim = { ...event, message };
  return Buffer.byteLength(JSON.stringify(slim)) < MAX_MESSAGE_BYTES - 200
    ? slim
    : { ...slim, details: { truncated: true } };
}
