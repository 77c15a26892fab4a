import { inject, injectable } from '@nullops/kernel';
import type { Database } from '../database/database.js';
import { INGRESS_REFRESH_TOPIC } from '../ingress/ingress-service.js';
import { Deployment } from '../models/fleet.js';
import { Outbox } from '../outbox/outbox.js';
import { DeploymentHistory } from './history.js';
import { LIFECYCLE, type LifecycleEffect, type LifecycleEvent } from './lifecycle.js';

export interface Actor {
  userId: string | null;
  username: string;
}

export const SYSTEM: Actor = { userId: null, username: 'system' };

/** The name an event has in a deployment's history (what users, the UI and notifiers read). */
const HISTORY_KIND: Record<LifecycleEvent, string> = {
  created: 'created',
  accepted: 'deploying',
  succeeded: 'running',
  failed: 'failed',
  'node-lost': 'offline',
  'node-back': 'online',
  deleted: 'deleted',
  cancelled: 'cancelled',
  expired: 'expired',
  removed: 'removed',
  retried: 'retried',
  degraded: 'degraded',
  redeployed: 'redeployed',
};

/** Outbox topics of the lifecycle's effects. */
export const EFFECT_TOPICS: Record<LifecycleEffect, string> = {
  dispatch: 'deployment.dispatch',
  remove: 'deployment.remove',
  routes: INGRESS_REFRESH_TOPIC,
};

interface Entry {
  message?: string | null;
  actor?: Actor;
  details?: Record<string, unknown> | null;
}

/**
 * Applies lifecycle events to deployments: the state moves only as `LIFECYCLE` says — checked in
 * the UPDATE itself, so when two changes race (a delete and a late "running" from the agent) the
 * first wins and the other is a no-op — and each transition writes its history entry and queues
 * its effects in the same transaction.
 */
@injectable()
export class Transitions {
  constructor(
    @inject(DeploymentHistory) private readonly history: DeploymentHistory,
    @inject(Outbox) private readonly outbox: Outbox,
  ) {}

  /** A new deployment row, in its first state (`created`). */
  async create(db: Database, row: Partial<Deployment>, entry: Entry): Promise<Deployment> {
    const created = await Deployment.query(db).insertAndFetch({ ...row, state: LIFECYCLE.created.to });
    await this.after(db, created.id, 'created', null, entry);
    return created;
  }

  /** Moves `d` by `event` when its current state allows it; returns whether it moved. */
  async apply(
    db: Database,
    d: Deployment,
    event: LifecycleEvent,
    patch: Partial<Deployment> = {},
    entry: Entry = {},
  ): Promise<boolean> {
    const rule = LIFECYCLE[event];
    // A deleted deployment releases its Idempotency-Key: the same request made again later (CI
    // recreating pr-42 after it was deleted) is a new deployment, not the gone one.
    const released = rule.to === 'deleted' ? { idempotencyKey: null } : {};
    // A new run of the deployment (a retry, a redeploy) is a new generation: its node starts it
    // from nothing, whatever an earlier run left there.
    const rerun = (rule.effects as readonly string[]).includes('dispatch')
      ? { generation: Deployment.raw('generation + 1') }
      : {};
    const changed = await Deployment.query(db)
      .patch({ ...patch, ...released, ...rerun, state: rule.to, updatedAt: new Date() } as never)
      .where('id', d.id)
      .whereIn('state', rule.from as unknown as string[]);
    if (!changed) return false;
    await this.after(db, d.id, event, d.state, entry);
    return true;
  }

  private async after(db: Database, id: string, event: LifecycleEvent, from: string | null, entry: Entry) {
    const rule = LIFECYCLE[event];
    await this.history.record(db, id, {
      kind: HISTORY_KIND[event],
      fromState: from,
      toState: rule.to,
      message: entry.message ?? null,
      actorId: entry.actor?.userId ?? null,
      actorName: entry.actor?.username ?? 'system',
      details: entry.details ?? null,
    });
    for (const effect of rule.effects)
      await this.outbox.add(db, EFFECT_TOPICS[effect], effect === 'routes' ? 'ingress' : id, {
        deploymentId: id,
      });
  }
}
