import { randomUUID } from 'node:crypto';
import { ConflictError, InputError } from '@nullops/plugin-sdk';
import type { Logger } from 'pino';
import { inject, injectable } from 'tsyringe';
import { AgentConnectionManager } from '../agents/connection-manager.js';
import type { Database } from '../database/database.js';
import { refreshRoutesLater } from '../ingress/ingress-service.js';
import { Deployment } from '../models/fleet.js';
import { Outbox } from '../outbox/outbox.js';
import { Refs } from '../refs.js';
import { DeploymentHistory } from './history.js';
import type { Actor } from './transitions.js';

export type ServiceAction = 'restart' | 'stop' | 'start';
export type OperationState = 'queued' | 'running' | 'succeeded' | 'failed';

export interface OperationRow {
  id: string;
  deploymentId: string;
  kind: string;
  params: { service: string };
  state: OperationState;
  message: string | null;
  createdBy: string | null;
  createdByName: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

const TOPIC = 'deployment.operation';
/** How long an operation waits for its deployment to be ready (its node back, its pipeline done). */
const WAIT_LIMIT_MS = 15 * 60_000;
const PAST: Record<ServiceAction, string> = { restart: 'restarted', stop: 'stopped', start: 'started' };

/** Not now: the outbox tries the operation again later (with backoff). */
class NotYet extends Error {}

/**
 * Day-2 operations on one deployment (restart, stop, start a service), in a persisted FIFO per
 * deployment: each is a row with its own state and result, run by the outbox in order (entries of
 * one key never overlap), so a second request queues behind the first instead of failing, and
 * what was queued survives a control-plane restart. An operation whose deployment is not ready
 * (its node offline, its pipeline still running) waits, up to a limit.
 */
@injectable()
export class DeploymentOperations {
  constructor(
    @inject(Refs.database) private readonly db: Database,
    @inject(Refs.logger) private readonly logger: Logger,
    @inject(Outbox) private readonly outbox: Outbox,
    @inject(AgentConnectionManager) private readonly agents: AgentConnectionManager,
    @inject(DeploymentHistory) private readonly history: DeploymentHistory,
  ) {}

  start(): void {
    this.outbox.handle(TOPIC, (payload) => this.run(payload.operationId as string));
  }

  /** Queues an action on a service, in the caller's transaction. */
  async enqueue(
    db: Database,
    d: Deployment,
    action: ServiceAction,
    service: string,
    actor: Actor,
  ): Promise<OperationRow> {
    const known = (d.services as { name: string }[]).map((s) => s.name);
    if (!known.includes(service))
      throw InputError.field(
        'params.service',
        `is not a service of ${d.name}${known.length ? ` (it has ${known.join(', ')})` : ' (it has none yet)'}`,
      );
    if (d.state === 'deleting' || d.state === 'deleted' || d.state === 'failed')
      throw new ConflictError(`${d.name} is ${d.state}: its services cannot be ${PAST[action]}`);
    const [row] = await db('deployment_operations')
      .insert({
        id: randomUUID(),
        deploymentId: d.id,
        kind: `service.${action}`,
        params: JSON.stringify({ service }),
        createdBy: actor.userId,
        createdByName: actor.username,
      })
      .returning('*');
    await this.history.record(db, d.id, {
      kind: 'operation.queued',
      message: `${action} ${service}`,
      actorId: actor.userId,
      actorName: actor.username,
      details: { operation: row.id, service },
    });
    await this.outbox.add(db, TOPIC, `operations:${d.id}`, { operationId: row.id });
    return row as OperationRow;
  }

  list(db: Database, deploymentId: string): Promise<OperationRow[]> {
    return db('deployment_operations').where({ deploymentId }).orderBy('createdAt', 'desc').limit(100);
  }

  /** The outbox effect: runs one queued operation (again, if a restart interrupted it). */
  private async run(operationId: string): Promise<void> {
    const op = (await this.db('deployment_operations').where({ id: operationId }).first()) as
      | OperationRow
      | undefined;
    if (!op || op.state === 'succeeded' || op.state === 'failed') return;
    const action = op.kind.replace(/^service\./, '') as ServiceAction;
    const { service } = op.params;
    const finish = async (state: 'succeeded' | 'failed', message: string, kind: string) => {
      await this.db.transaction(async (trx) => {
        await trx('deployment_operations')
          .where({ id: op.id })
          .update({ state, message, finishedAt: new Date() });
        await this.history.record(trx, op.deploymentId, {
          kind,
          message,
          actorId: op.createdBy,
          actorName: op.createdByName,
          details: { operation: op.id, service },
        });
      });
    };
    try {
      const d = await Deployment.query(this.db).findById(op.deploymentId);
      if (!d || d.state === 'deleting' || d.state === 'deleted' || d.state === 'failed')
        return await finish(
          'failed',
          `${action} ${service}: the deployment is ${d?.state ?? 'gone'}`,
          'operation.failed',
        );
      const link = d.nodeId ? this.agents.linkOf(d.nodeId) : undefined;
      if (d.state !== 'running' || !link)
        throw new NotYet(!link ? `node ${d.nodeName ?? ''} is offline` : `the deployment is ${d.state}`);
      await this.db('deployment_operations')
        .where({ id: op.id })
        .update({ state: 'running', startedAt: new Date(), message: null });
      this.history.publish({
        deploymentId: d.id,
        kind: 'operation.running',
        message: `${action} ${service}`,
        details: { operation: op.id, service },
      });
      const { service: state } = await link.request(
        'service.control',
        { deploymentId: d.id, service, action },
        120_000,
      );
      await this.db.transaction(async (trx) => {
        // Row-locked: two operations' writes of the list (and a report's) never interleave.
        const fresh = await Deployment.query(trx).findById(d.id).forUpdate();
        const stopped = new Set(fresh?.stoppedServices ?? []);
        if (action === 'stop') stopped.add(service);
        else stopped.delete(service);
        // The service's state as the agent answered, until its next report.
        const actual = ((fresh?.actual ?? []) as { name: string }[]).map((a) =>
          a.name === service ? state : a,
        );
        await Deployment.query(trx)
          .patch({ stoppedServices: [...stopped], actual })
          .where('id', d.id);
        // A stopped service leaves the routes, a started one comes back to them.
        await refreshRoutesLater(this.outbox, trx);
      });
      this.outbox.wake();
      await finish(
        'succeeded',
        `${service} ${PAST[action]} (now ${state.status})`,
        `service.${PAST[action]}`,
      );
    } catch (err) {
      if (err instanceof NotYet && Date.now() - new Date(op.createdAt).getTime() < WAIT_LIMIT_MS) {
        await this.db('deployment_operations')
          .where({ id: op.id })
          .update({ state: 'queued', message: `waiting: ${err.message}` });
        throw err;
      }
      const message = `${action} ${service} failed: ${(err as Error).message}`;
      this.logger.warn({ err, operation: op.id }, 'deployment operation failed');
      await finish('failed', message, 'operation.failed');
    }
  }
}
