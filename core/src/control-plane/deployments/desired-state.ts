import { inject, injectable } from '@nullops/kernel';
import type { DesiredDeployment, PipelineRun } from '@nullops/plugin-sdk';
import type { Logger } from 'pino';
import { AgentConnectionManager } from '../agents/connection-manager.js';
import type { Database } from '../database/database.js';
import { PipelineVersion, Project } from '../models/catalog.js';
import { Deployment, Environment } from '../models/fleet.js';
import { Outbox } from '../outbox/outbox.js';
import { PluginService } from '../plugins/plugin-service.js';
import { Refs } from '../refs.js';
import type { SecretBox } from '../security/secret-box.js';
import { SecretService } from '../services/secret-service.js';
import { keepLogs } from './kept-logs.js';
import { KeyedLock } from './keyed-lock.js';
import { DESIRED_STATES, RUNNING_PIPELINE_STATES } from './lifecycle.js';
import { desiredBytes, largestFields, slimmed } from './message-size.js';
import { resolvePipelineRun } from './pipeline-resolver.js';
import { openSpecs, type StoredSpec } from './spec-seal.js';
import { EFFECT_TOPICS, Transitions } from './transitions.js';

/**
 * What nodes must do about deployments: the desired state sent on every (re)connect, and the two
 * effects that reach a node after a change commits — hand a pending deployment's pipeline to it,
 * and have it remove a deleting one. Runs are built here and never stored (they carry secrets).
 */
@injectable()
export class DesiredState {
  private readonly locks = new KeyedLock();

  constructor(
    @inject(Refs.database) private readonly db: Database,
    @inject(Refs.secretBox) private readonly box: SecretBox,
    @inject(Refs.logger) private readonly logger: Logger,
    @inject(AgentConnectionManager) private readonly agents: AgentConnectionManager,
    @inject(SecretService) private readonly secrets: SecretService,
    @inject(PluginService) private readonly plugins: PluginService,
    @inject(Transitions) private readonly transitions: Transitions,
    @inject(Outbox) private readonly outbox: Outbox,
  ) {}

  start(): void {
    this.outbox.handle(EFFECT_TOPICS.dispatch, (p) => this.dispatch(p.deploymentId as string));
    this.outbox.handle(EFFECT_TOPICS.remove, (p) => this.remove(p.deploymentId as string));
  }

  /** The run of a deployment: its pipeline version resolved for its tags (secrets included). */
  private async runFor(d: Deployment): Promise<PipelineRun> {
    const project = await Project.query(this.db).findById(d.projectId).throwIfNotFound();
    const version = await PipelineVersion.query(this.db)
      .findById(d.pipelineVersionId as string)
      .throwIfNotFound();
    return resolvePipelineRun(
      this.db,
      { box: this.box, secrets: this.secrets, plugins: this.plugins },
      { project, version, tags: d.tags, digests: d.imageDigests },
    );
  }

  /** For environments that route through the cluster's ingress controller: its class and domain. */
  private async ingressOf(environmentId: string): Promise<Pick<DesiredDeployment, 'ingress'>> {
    const env = await Environment.query(this.db).findById(environmentId);
    return env?.ingressClass
      ? { ingress: { className: env.ingressClass, domain: `${env.name}.${env.baseDomain}`.toLowerCase() } }
      : {};
  }

  /** A run that cannot be built (a secret deleted, a service removed) fails the deployment. */
  private async runOrFail(d: Deployment): Promise<PipelineRun | undefined> {
    try {
      return await this.runFor(d);
    } catch (err) {
      const message = (err as Error).message;
      await this.db.transaction((trx) =>
        this.transitions.apply(
          trx,
          d,
          'failed',
          { error: { step: null, message }, stateMessage: message },
          { message },
        ),
      );
      this.outbox.wake();
      return undefined;
    }
  }

  /**
   * The node's desired state: live deployments with their recorded services, and runs to
   * (re)start — each within what one message to the agent may hold (`maxBytes`). A run that does
   * not fit fails its deployment with the reason; a live deployment goes lighter (its agent keeps
   * what it has). The node and its other deployments are never held up by one that is too large.
   */
  async of(nodeId: string, maxBytes = Number.POSITIVE_INFINITY): Promise<DesiredDeployment[]> {
    const fitting: DesiredDeployment[] = [];
    for (const entry of await this.wanted(nodeId)) {
      if (desiredBytes(entry) <= maxBytes) {
        fitting.push(entry);
        continue;
      }
      const lighter = entry.run ? undefined : slimmed(entry, maxBytes);
      if (lighter) {
        this.logger.warn(
          { deployment: entry.id, largest: largestFields(entry) },
          'a live deployment is sent without its secrets: it is larger than the agent takes',
        );
        fitting.push(lighter);
        continue;
      }
      const d = await Deployment.query(this.db).findById(entry.id);
      if (d) await this.failTooLarge(d, entry, maxBytes);
    }
    return fitting;
  }

  /** A run too large for its node's agent fails its deployment, naming its largest values. */
  private async failTooLarge(d: Deployment, entry: DesiredDeployment, maxBytes: number) {
    const message = `its pipeline run is ${Math.ceil(desiredBytes(entry) / 1024)} KiB, more than node ${d.nodeName ?? ''} accepts in one message (${Math.ceil(maxBytes / 1024)} KiB): the largest values are ${largestFields(entry).join(', ')}`;
    await this.db.transaction((trx) =>
      this.transitions.apply(
        trx,
        d,
        'failed',
        { error: { step: null, message }, stateMessage: message },
        { message },
      ),
    );
    this.outbox.wake();
  }

  private async wanted(nodeId: string): Promise<DesiredDeployment[]> {
    const rows = await Deployment.query(this.db)
      .where('nodeId', nodeId)
      .whereIn('state', [...DESIRED_STATES])
      .orderBy('createdAt');
    const desired: DesiredDeployment[] = [];
    for (const d of rows) {
      // Being deleted: the node needs only to know which, not how it was made.
      if (d.state === 'deleting') {
        desired.push({ id: d.id, name: d.name, state: 'deleting', services: [] });
        continue;
      }
      const entry: DesiredDeployment = {
        id: d.id,
        name: d.name,
        state: d.state as DesiredDeployment['state'],
        generation: d.generation,
        services: openSpecs(this.box, d.id, d.services as StoredSpec[]),
        // Everything it may start, so a namespace rebuilt by the agent gets its quota back.
        budget: { cpuMillicores: d.cpuMillicores, memoryMb: d.memoryMb },
        ...(d.stoppedServices?.length ? { stoppedServices: d.stoppedServices } : {}),
        ...(await this.ingressOf(d.environmentId)),
      };
      if ((RUNNING_PIPELINE_STATES as readonly string[]).includes(d.state)) {
        const run = await this.runOrFail(d);
        if (!run) continue;
        entry.run = run;
        if (run.egressAllow) entry.egressAllow = run.egressAllow;
      } else {
        // A live deployment's secrets (masked by the agent in all it reports, also after a
        // restart) and registry credentials (to bring a vanished service back). One that cannot
        // be resolved now (a secret deleted since) stays wanted: its node shows no log lines.
        const run = await this.runFor(d).catch((err: Error) => {
          this.logger.warn(
            { deployment: d.id, err: err.message },
            'could not resolve the secrets of a live deployment',
          );
          return undefined;
        });
        if (run) {
          entry.secretValues = run.secretValues ?? [];
          entry.registryAuth = run.registryAuth;
          if (run.egressAllow) entry.egressAllow = run.egressAllow;
        }
      }
      desired.push(entry);
    }
    return desired;
  }

  /**
   * Effect `dispatch`: a pending deployment's pipeline goes to its node, which accepts it (it is
   * then deploying). When the node is not connected, its next sync carries the run; when another
   * replica holds its link, the effect goes there; an agent that already runs it says so and goes on.
   */
  private dispatch(id: string): Promise<void> {
    return this.locks.run(id, async () => {
      const d = await Deployment.query(this.db).findById(id);
      if (!d?.nodeId || !(RUNNING_PIPELINE_STATES as readonly string[]).includes(d.state)) return;
      const link = await this.agents.linkFor(d.nodeId);
      if (!link) return;
      const run = await this.runOrFail(d);
      if (!run) return;
      const deployment = {
        id: d.id,
        name: d.name,
        state: 'deploying' as const,
        generation: d.generation,
        services: [],
        budget: { cpuMillicores: d.cpuMillicores, memoryMb: d.memoryMb },
        run,
        ...(run.egressAllow ? { egressAllow: run.egressAllow } : {}),
        ...(await this.ingressOf(d.environmentId)),
      };
      if (desiredBytes(deployment) > link.maxMessageBytes)
        return this.failTooLarge(d, deployment, link.maxMessageBytes);
      const { accepted } = await link.request('deployment.deploy', { deployment });
      if (accepted && d.state === 'pending')
        await this.db.transaction((trx) =>
          this.transitions.apply(trx, d, 'accepted', {}, { message: 'the node runs the pipeline' }),
        );
    });
  }

  /** Effect `remove`: the node removes everything of a deleting deployment (when offline: on reconnect). */
  private remove(id: string): Promise<void> {
    return this.locks.run(id, async () => {
      const d = await Deployment.query(this.db).findById(id);
      if (d?.state !== 'deleting') return;
      if (d.nodeId) {
        const link = await this.agents.linkFor(d.nodeId);
        if (!link) return;
        const { keptLogs } = await link.request('deployment.remove', { id }, 10 * 60_000);
        await keepLogs(this.db, id, 'deleted', keptLogs);
      }
      await this.markRemoved(d);
    });
  }

  /** The node reported the deployment gone. */
  async markRemoved(d: Deployment): Promise<void> {
    await this.db.transaction((trx) =>
      this.transitions.apply(
        trx,
        d,
        'removed',
        { deletedAt: new Date(), services: [], actual: null, stateMessage: null },
        { message: 'every resource removed from the node' },
      ),
    );
    this.outbox.wake();
  }

  /** For callers that must not overlap with this deployment's effects. */
  serialised<T>(id: string, work: () => Promise<T>): Promise<T> {
    return this.locks.run(id, work);
  }
}
