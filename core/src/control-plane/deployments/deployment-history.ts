import { EventEmitter } from 'node:events';
import { afterCommit, type Database } from '../database/database.js';

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
}

/** Writes deployment history and publishes it (and pipeline steps) to live watchers. */
export class DeploymentHistory {
  readonly live = new EventEmitter<{ event: [LiveEvent] }>();

  constructor() {
    this.live.setMaxListeners(0);
  }

  async record(db: Database, deploymentId: string, entry: HistoryEntry): Promise<void> {
    await db('deployment_events').insert({
      deploymentId,
      kind: entry.kind,
      fromState: entry.fromState ?? null,
      toState: entry.toState ?? null,
      message: entry.message ?? null,
      actorId: entry.actorId ?? null,
      actorName: entry.actorName ?? null,
      details: entry.details ? JSON.stringify(entry.details) : null,
    });
    // Watchers (and plugin notifiers) hear of a change only once it has committed.
    afterCommit(
      db,
      async () =>
        this.publish({
          deploymentId,
          kind: entry.kind,
          state: entry.toState ?? null,
          message: entry.message ?? null,
          actor: entry.actorName ?? null,
          details: entry.details ?? null,
        }),
      () => {},
    );
  }

  /** Live only (pipeline step progress, log lines of steps): not worth a row each. */
  publish(event: Omit<LiveEvent, 'at'>): void {
    this.live.emit('event', { ...event, at: new Date().toISOString() });
  }
}
