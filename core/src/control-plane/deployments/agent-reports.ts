import { inject, injectable } from '@nullops/kernel';
import type { ActualDeployment } from '@nullops/plugin-sdk';
import type { Logger } from 'pino';
import { type AgentEventMap, AgentEvents } from '../agents/agent-events.js';
import type { Database } from '../database/database.js';
import { refreshRoutesLater } from '../ingress/ingress-service.js';
import { AgentNode, Deployment, SERVING_NODE_STATES } from '../models/fleet.js';
import { Outbox } from '../outbox/outbox.js';
import { Refs } from '../refs.js';
import type { SecretBox } from '../security/secret-box.js';
import { DesiredState } from './desired-state.js';
import { DeploymentHistory } from './history.js';
import { keepLogs } from './kept-logs.js';
import { KeyedLock } from './keyed-lock.js';
import { ROUTED_STATES, RUNNING_PIPELINE_STATES } from './lifecycle.js';
import { sealSpecs } from './spec-seal.js';
import { Transitions } from './transitions.js';

/**
 * What agents report about deployments, applied to the control plane's record — and only from
 * the node a deployment is placed on: a node speaks for its own deployments, and a report about
 * another node's deployment is dropped and logged.
 */
@injectable()
export class AgentReports {
  private readonly unsubscribe: (() => void)[] = [];
  private readonly handling = new Set<Promise<void>>();
  /** Which node each deployment is on, for the pipeline steps that stream in (checked per event). */
  private readonly owners = new Map<string, { nodeId: string | null; at: number }>();
  /** Reports of one deployment, handled one after another in arrival order. */
  private readonly inOrder = new KeyedLock();

  constructor(
    @inject(Refs.database) private readonly db: Database,
    @inject(Refs.secretBox) private readonly box: SecretBox,
    @inject(Refs.logger) private readonly logger: Logger,
    @inject(AgentEvents) private readonly events: AgentEvents,
    @inject(Transitions) private readonly transitions: Transitions,
    @inject(DesiredState) private readonly desired: DesiredState,
    @inject(DeploymentHistory) private readonly history: DeploymentHistory,
    @inject(Outbox) private readonly outbox: Outbox,
  ) {}

  start(): void {
    this.on('node.synced', (nodeId, actual, deleting) => this.synced(nodeId, actual, deleting));
    // A deployment's reports are kept in the order the agent sent them: a step's lines before its
    // end, every step before the run's outcome (history is read back in that order).
    this.on('deployment.finished', (nodeId, actual) =>
      this.inOrder.run(actual.id, async () => {
        this.history.runEnded(actual.id);
        await this.apply(nodeId, actual);
      }),
    );
    this.on('pipeline.step', (nodeId, step) =>
      this.inOrder.run(step.deploymentId, async () => {
        if (!(await this.ownedBy(nodeId, step.deploymentId))) return;
        await this.history.recordStep(this.db, step);
      }),
    );
    // What the node's reconcile repaired behind users' backs is history (and so a notification).
    this.on('deployment.repaired', (nodeId, repair) =>
      this.inOrder.run(repair.deploymentId, async () => {
        if (!(await this.ownedBy(nodeId, repair.deploymentId))) return;
        await this.db.transaction((trx) =>
          this.history.record(trx, repair.deploymentId, {
            kind: 'repaired',
            message: repair.message,
            details: { service: repair.service, action: repair.action },
          }),
        );
        this.outbox.wake();
      }),
    );
    this.on('deployment.degraded', (nodeId, report) =>
      this.inOrder.run(report.deploymentId, () => this.degrade(nodeId, report.deploymentId, report.reason)),
    );
  }

  /** The node cannot restore the deployment to its spec: degraded, with its reason, until redeployed. */
  private degrade(nodeId: string, deploymentId: string, reason: string): Promise<void> {
    return this.desired.serialised(deploymentId, async () => {
      const d = await Deployment.query(this.db).findById(deploymentId);
      if (!d || !(await this.ownedBy(nodeId, deploymentId))) return;
      const moved = await this.db.transaction((trx) =>
        this.transitions.apply(trx, d, 'degraded', { stateMessage: reason }, { message: reason }),
      );
      if (moved) this.outbox.wake();
    });
  }

  /** Stops listening, and waits for the reports being handled: none writes after the database closes. */
  async stop(): Promise<void> {
    for (const off of this.unsubscribe.splice(0)) off();
    await Promise.allSettled([...this.handling]);
  }

  private on<
    E extends
      | 'node.synced'
      | 'deployment.finished'
      | 'pipeline.step'
      | 'deployment.repaired'
      | 'deployment.degraded',
  >(event: E, fn: (...args: AgentEventMap[E]) => Promise<void>) {
    const handler = (...args: AgentEventMap[E]) => {
      const work = fn(...args).catch((err) =>
        this.logger.error({ err, event }, 'handling an agent report failed'),
      );
      this.handling.add(work);
      void work.finally(() => this.handling.delete(work));
    };
    this.events.on(event, handler as never);
    this.unsubscribe.push(() => this.events.off(event, handler as never));
  }

  /** True when `deploymentId` is placed on `nodeId`; otherwise the report is logged and dropped. */
  private async ownedBy(nodeId: string, deploymentId: string): Promise<boolean> {
    let owner = this.owners.get(deploymentId);
    if (!owner || Date.now() - owner.at > 30_000) {
      const row = await Deployment.query(this.db).findById(deploymentId).select('nodeId');
      owner = { nodeId: row?.nodeId ?? null, at: Date.now() };
      this.owners.set(deploymentId, owner);
      if (this.owners.size > 10_000) this.owners.clear();
    }
    if (owner.nodeId === nodeId) return true;
    this.logger.warn(
      { node: nodeId, deployment: deploymentId },
      'dropped a report of a node about a deployment that is not its own',
    );
    return false;
  }

  private async synced(nodeId: string, actual: ActualDeployment[], deleting: string[]) {
    for (const a of actual) {
      await this.apply(nodeId, a);
      if (a.degraded) await this.degrade(nodeId, a.id, a.degraded);
    }
    for (const id of deleting) {
      const d = await Deployment.query(this.db).findById(id);
      if (d?.nodeId === nodeId && d.state === 'deleting')
        await this.desired.serialised(id, () => this.desired.markRemoved(d));
    }
    // A node with nothing on it changes no route (and after a restart thousands sync at once).
    if (!actual.length && !deleting.length) return;
    await refreshRoutesLater(this.outbox, this.db);
    this.outbox.wake();
  }

  /** Applies what a node reports about one of its deployments. */
  private apply(nodeId: string, actual: ActualDeployment): Promise<void> {
    return this.desired.serialised(actual.id, async () => {
      const d = await Deployment.query(this.db).findById(actual.id);
      if (!d) return;
      if (d.nodeId !== nodeId) {
        this.logger.warn(
          { node: nodeId, deployment: d.id },
          'dropped a report of a node about a deployment that is not its own',
        );
        return;
      }
      await this.db.transaction(async (trx) => {
        // Locked as node loss locks it (see markOffline): a late report from a link already lost
        // must not bring the deployment back while its node is offline.
        const node = await AgentNode.query(trx).findById(nodeId).forShare();
        const pipelineRuns = (RUNNING_PIPELINE_STATES as readonly string[]).includes(d.state);
        if (actual.phase === 'running' && pipelineRuns)
          await this.transitions.apply(
            trx,
            d,
            'succeeded',
            {
              services: sealSpecs(this.box, d.id, actual.specs),
              actual: actual.services,
              error: null,
              stateMessage: null,
            },
            { message: `${actual.services.length} service(s) up` },
          );
        else if (actual.phase === 'failed' && pipelineRuns) {
          const error = actual.error ?? { step: null, message: 'the pipeline failed' };
          await this.transitions.apply(
            trx,
            d,
            'failed',
            { error, services: [], actual: null, stateMessage: error.message },
            { message: error.step ? `step ${error.step}: ${error.message}` : error.message, details: error },
          );
          await keepLogs(trx, d.id, 'failed', actual.keptLogs);
        } else if (actual.phase === 'deploying' && d.state === 'pending')
          await this.transitions.apply(trx, d, 'accepted', {}, { message: 'the node runs the pipeline' });
        else if (
          actual.phase === 'running' &&
          d.state === 'offline' &&
          node &&
          (SERVING_NODE_STATES as readonly string[]).includes(node.status)
        )
          await this.transitions.apply(
            trx,
            d,
            'node-back',
            { actual: actual.services, stateMessage: null },
            {
              message: 'node is back; services verified',
            },
          );
        else if ((ROUTED_STATES as readonly string[]).includes(d.state)) {
          // Still running: what it runs now (a service stopped or came back) may move routes.
          await Deployment.query(trx).patch({ actual: actual.services }).where('id', d.id);
          await refreshRoutesLater(this.outbox, trx);
        }
      });
      this.outbox.wake();
    });
  }
}
