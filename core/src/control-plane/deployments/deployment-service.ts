import { randomUUID } from 'node:crypto';
import {
  type ActualDeployment,
  ConflictError,
  type DeploymentForPlugin,
  type DesiredDeployment,
  type ServiceSpec,
} from '@nullops/plugin-sdk';
import type { Logger } from 'pino';
import { inject, injectable } from 'tsyringe';
import { AccessService } from '../access/access-service.js';
import { AgentEvents } from '../agents/agent-events.js';
import { AgentConnectionManager } from '../agents/connection-manager.js';
import type { ControlPlaneConfig } from '../config.js';
import { afterCommit, type Database } from '../database/database.js';
import { IngressService } from '../ingress/ingress-service.js';
import { PipelineVersion, Project } from '../models/catalog.js';
import { Deployment, type DeploymentState, Environment } from '../models/fleet.js';
import { User } from '../models/identity.js';
import { PluginService } from '../plugins/plugin-service.js';
import { Refs } from '../refs.js';
import type { SecretBox } from '../security/secret-box.js';
import { SecretService } from '../services/secret-service.js';
import { DeploymentHistory } from './deployment-history.js';
import { KeyedLock } from './keyed-lock.js';
import { resolvePipelineRun } from './pipeline-resolver.js';
import { placeDeployment } from './placement.js';
import { TagService } from './tag-service.js';

export interface Actor {
  userId: string | null;
  username: string;
}

/** Step log lines stored per pipeline run; later ones are streamed live only. */
const MAX_STORED_STEP_LOGS = 2000;

/** A service spec as stored: its env sealed. */
type StoredSpec = Omit<ServiceSpec, 'env'> & { sealedEnv?: string };

const SYSTEM: Actor = { userId: null, username: 'system' };

/**
 * The deployment lifecycle: create (tags, placement, pipeline run on the agent), outcomes reported
 * by agents, delete/cancel, retry, clone, extend, and auto-cleanup. Everything that changes one
 * deployment runs under its lock, so a delete during a deploy is ordered, never raced.
 */
@injectable()
export class DeploymentService {
  readonly history = new DeploymentHistory();
  private readonly locks = new KeyedLock();
  private sweeper: NodeJS.Timeout | undefined;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly stepLogCounts = new Map<string, number>();

  constructor(
    @inject(Refs.database) private readonly db: Database,
    @inject(Refs.secretBox) private readonly box: SecretBox,
    @inject(Refs.logger) private readonly logger: Logger,
    @inject(Refs.config) private readonly config: ControlPlaneConfig,
    @inject(AgentConnectionManager) private readonly agents: AgentConnectionManager,
    @inject(AgentEvents) private readonly events: AgentEvents,
    @inject(SecretService) private readonly secrets: SecretService,
    @inject(TagService) readonly tags: TagService,
    @inject(IngressService) private readonly ingress: IngressService,
    @inject(PluginService) private readonly plugins: PluginService,
    @inject(AccessService) private readonly access: AccessService,
  ) {}

  /** A deployment with its services' env, for control-plane plugins (which must check `access`). */
  async forPlugin(id: string, userId: string): Promise<DeploymentForPlugin | undefined> {
    const d = await Deployment.query(this.db).findById(id);
    if (!d) return undefined;
    const user = await User.query(this.db).findById(userId);
    const level = user?.role === 'admin' ? 'full' : await this.access.levelOf('deployment', id, userId);
    if (level !== 'read' && level !== 'full') return undefined;
    return {
      id: d.id,
      name: d.name,
      state: d.state,
      access: level,
      services: this.openSpecs(d.id, d.services as StoredSpec[]).map((s) => ({
        name: s.name,
        image: s.image,
        ...(s.port ? { port: s.port } : {}),
        env: s.env ?? {},
      })),
    };
  }

  start(): void {
    this.agents.desiredState = (nodeId) => this.desiredStateOf(nodeId);
    const on = <E extends keyof import('../agents/agent-events.js').AgentEventMap>(
      event: E,
      fn: (...args: never[]) => Promise<void>,
    ) => {
      const handler = (...args: never[]) =>
        void fn(...args).catch((err) => this.logger.error({ err, event }, 'handling an agent event failed'));
      this.events.on(event, handler as never);
      this.unsubscribe.push(() => this.events.off(event, handler as never));
    };
    on('node.synced', (nodeId: string, actual: ActualDeployment[], deleting: string[]) =>
      this.onSynced(nodeId, actual, deleting),
    );
    on('deployment.finished', (_nodeId: string, actual: ActualDeployment) => {
      this.stepLogCounts.delete(actual.id);
      return this.apply(actual).then(() => this.ingress.refresh());
    });
    on('node.offline', (nodeId: string) => this.onNodeOffline(nodeId));
    on(
      'pipeline.step',
      async (
        _nodeId: string,
        step: { deploymentId: string; nodeId: string; status: string; message?: string },
      ) => {
        this.history.publish({
          deploymentId: step.deploymentId,
          kind: `step.${step.status}`,
          message: step.message ?? null,
          details: { step: step.nodeId },
        });
        // Step log lines are kept too (what a failed step printed matters after the fact), up to
        // a bound per run so a chatty component cannot fill the database.
        let message = step.message ?? null;
        if (step.status === 'log') {
          const count = (this.stepLogCounts.get(step.deploymentId) ?? 0) + 1;
          this.stepLogCounts.set(step.deploymentId, count);
          if (count > MAX_STORED_STEP_LOGS) return;
          if (count === MAX_STORED_STEP_LOGS) message = `… more log lines of this run are shown live only`;
        }
        await this.db('deployment_events')
          .insert({
            deploymentId: step.deploymentId,
            kind: `step.${step.status}`,
            message,
            details: JSON.stringify({ step: step.nodeId }),
          })
          .catch(() => {});
      },
    );
    this.sweeper = setInterval(() => void this.sweep(), this.config.NULLOPS_SWEEP_INTERVAL_SECONDS * 1000);
    this.sweeper.unref();
  }

  stop(): void {
    clearInterval(this.sweeper);
    for (const off of this.unsubscribe.splice(0)) off();
  }

  /**
   * Service specs at rest: environment values can hold secrets (resolved `${secret:…}`, generated
   * database passwords), so each spec's env is sealed with the deployment id as context.
   */
  private sealSpecs(id: string, specs: ServiceSpec[]): StoredSpec[] {
    return specs.map(({ env, ...rest }) =>
      env && Object.keys(env).length
        ? { ...rest, sealedEnv: this.box.encrypt(JSON.stringify(env), `deployment:${id}:env`) }
        : rest,
    );
  }

  private openSpecs(id: string, stored: StoredSpec[]): ServiceSpec[] {
    return stored.map(({ sealedEnv, ...rest }) =>
      sealedEnv ? { ...rest, env: JSON.parse(this.box.decrypt(sealedEnv, `deployment:${id}:env`)) } : rest,
    );
  }

  private ttlOf(project: Project, environment: Environment): number {
    return project.ttlSeconds ?? environment.defaultTtlSeconds;
  }

  private afterCommit(db: Database, fn: () => Promise<unknown>): void {
    afterCommit(db, fn, (err) => this.logger.error({ err }, 'follow-up of a deployment change failed'));
  }

  private async latestVersion(db: Database, projectId: string): Promise<PipelineVersion> {
    const version = await PipelineVersion.query(db)
      .where('projectId', projectId)
      .orderBy('version', 'desc')
      .first();
    if (!version)
      throw new ConflictError(
        'this project has no pipeline yet; an administrator saves one in the pipeline editor',
      );
    return version;
  }

  async create(
    db: Database,
    input: {
      project: Project;
      environment: Environment;
      name: string;
      tags: Record<string, string>;
      idempotencyKey?: string;
      actor: Actor;
    },
  ): Promise<{ deployment: Deployment; created: boolean }> {
    const { project, environment, actor } = input;
    if (input.idempotencyKey && actor.userId) {
      // The same key from the same user is the same request, retried: answer with what it created.
      await db.raw('select pg_advisory_xact_lock(hashtext(?))', [
        `idempotency:${actor.userId}:${input.idempotencyKey}`,
      ]);
      const earlier = await Deployment.query(db).findOne({
        createdBy: actor.userId,
        idempotencyKey: input.idempotencyKey,
      });
      if (earlier) return { deployment: earlier, created: false };
    }
    const tags = await this.tags.choose(project, input.tags, db);
    const version = await this.latestVersion(db, project.id);
    // Resolved now to fail fast (unknown service, missing secret…) and for what the whole pipeline
    // can start (its budget, components' reservations included), which placement reserves.
    const { budget } = await resolvePipelineRun(
      db,
      { box: this.box, secrets: this.secrets, plugins: this.plugins },
      { project, version, tags },
    );
    const reserved = budget ?? { cpuMillicores: project.cpuMillicores, memoryMb: project.memoryMb };
    const node = await placeDeployment(db, environment, reserved);
    const now = new Date();
    const deployment = await Deployment.query(db).insertAndFetch({
      id: randomUUID(),
      name: input.name,
      projectId: project.id,
      environmentId: environment.id,
      nodeId: node.id,
      pipelineVersionId: version.id,
      tags,
      state: 'deploying',
      services: [],
      cpuMillicores: reserved.cpuMillicores,
      memoryMb: reserved.memoryMb,
      idempotencyKey: input.idempotencyKey ?? null,
      createdBy: actor.userId,
      lastActivityAt: now,
      expiresAt: new Date(now.getTime() + this.ttlOf(project, environment) * 1000),
    });
    await this.history.record(db, deployment.id, {
      kind: 'created',
      toState: 'deploying',
      message: `pipeline v${version.version} on node ${node.name}`,
      actorId: actor.userId,
      actorName: actor.username,
      details: { tags },
    });
    this.afterCommit(db, () => this.dispatch(deployment.id));
    return { deployment, created: true };
  }

  private async runFor(db: Database, d: Deployment) {
    const project = await Project.query(db).findById(d.projectId).throwIfNotFound();
    const version = await PipelineVersion.query(db)
      .findById(d.pipelineVersionId as string)
      .throwIfNotFound();
    return resolvePipelineRun(
      db,
      { box: this.box, secrets: this.secrets, plugins: this.plugins },
      { project, version, tags: d.tags },
    );
  }

  /** Sends a deploying deployment's pipeline to its agent (if connected; otherwise the next sync does). */
  dispatch(id: string): Promise<void> {
    return this.locks.run(id, async () => {
      const d = await Deployment.query(this.db).findById(id);
      if (d?.state !== 'deploying' || !d.nodeId) return;
      const link = this.agents.linkOf(d.nodeId);
      if (!link) return;
      let run: Awaited<ReturnType<DeploymentService['runFor']>>;
      try {
        run = await this.runFor(this.db, d);
      } catch (err) {
        await this.transition(
          d,
          ['deploying'],
          'failed',
          { error: { step: null, message: (err as Error).message } },
          { kind: 'failed', message: (err as Error).message },
        );
        return;
      }
      await link
        .request('deployment.deploy', {
          deployment: {
            id: d.id,
            name: d.name,
            state: 'deploying',
            services: [],
            run,
            ...(await this.ingressOf(d.environmentId)),
          },
        })
        .catch((err) =>
          this.logger.warn(
            { err: (err as Error).message, deployment: id },
            'could not hand the run to the agent; the next sync will',
          ),
        );
    });
  }

  /** For environments that route through the cluster's ingress controller: its class and domain. */
  private async ingressOf(environmentId: string): Promise<Pick<DesiredDeployment, 'ingress'>> {
    const env = await Environment.query(this.db).findById(environmentId);
    return env?.ingressClass
      ? { ingress: { className: env.ingressClass, domain: `${env.name}.${env.baseDomain}`.toLowerCase() } }
      : {};
  }

  /** The node's desired state: live deployments with their recorded services, and runs to (re)start. */
  async desiredStateOf(nodeId: string): Promise<DesiredDeployment[]> {
    const rows = await Deployment.query(this.db)
      .where('nodeId', nodeId)
      .whereIn('state', ['pending', 'deploying', 'running', 'offline', 'deleting'])
      .orderBy('createdAt');
    const desired: DesiredDeployment[] = [];
    for (const d of rows) {
      const entry: DesiredDeployment = {
        id: d.id,
        name: d.name,
        state: d.state as DesiredDeployment['state'],
        services: this.openSpecs(d.id, d.services as StoredSpec[]),
        ...(await this.ingressOf(d.environmentId)),
      };
      if (d.state === 'deploying' || d.state === 'pending') {
        try {
          entry.run = await this.runFor(this.db, d);
        } catch (err) {
          await this.transition(
            d,
            ['deploying', 'pending'],
            'failed',
            { error: { step: null, message: (err as Error).message } },
            { kind: 'failed', message: (err as Error).message },
          );
          continue;
        }
      }
      desired.push(entry);
    }
    return desired;
  }

  /**
   * Moves a deployment from one of `from` to `to` if it is still in one of them (a concurrent
   * delete wins over a late "running" from the agent), recording history. Returns whether it moved.
   */
  private async transition(
    d: Deployment,
    from: DeploymentState[],
    to: DeploymentState,
    patch: Partial<Deployment>,
    entry: { kind: string; message?: string | null; actor?: Actor; details?: Record<string, unknown> },
    db: Database = this.db,
  ): Promise<boolean> {
    const changed = await Deployment.query(db)
      .patch({ ...patch, state: to, updatedAt: new Date() })
      .where('id', d.id)
      .whereIn('state', from);
    if (!changed) return false;
    await this.history.record(db, d.id, {
      kind: entry.kind,
      fromState: d.state,
      toState: to,
      message: entry.message ?? null,
      actorId: entry.actor?.userId ?? null,
      actorName: entry.actor?.username ?? 'system',
      details: entry.details ?? null,
    });
    return true;
  }

  /** Applies what an agent reports about one deployment. */
  private apply(actual: ActualDeployment): Promise<void> {
    return this.locks.run(actual.id, async () => {
      const d = await Deployment.query(this.db).findById(actual.id);
      if (!d) return;
      if ((d.state === 'deploying' || d.state === 'pending') && actual.phase === 'running') {
        await this.transition(
          d,
          ['deploying', 'pending'],
          'running',
          {
            services: this.sealSpecs(d.id, actual.specs),
            actual: actual.services,
            error: null,
            stateMessage: null,
          },
          { kind: 'running', message: `${actual.services.length} service(s) up` },
        );
      } else if ((d.state === 'deploying' || d.state === 'pending') && actual.phase === 'failed') {
        const error = actual.error ?? { step: null, message: 'the pipeline failed' };
        await this.transition(
          d,
          ['deploying', 'pending'],
          'failed',
          { error, services: [], actual: null, stateMessage: error.message },
          {
            kind: 'failed',
            message: error.step ? `step ${error.step}: ${error.message}` : error.message,
            details: error,
          },
        );
      } else if (d.state === 'offline' && actual.phase === 'running') {
        await this.transition(
          d,
          ['offline'],
          'running',
          { actual: actual.services, stateMessage: null },
          { kind: 'online', message: 'node is back; services verified' },
        );
      } else if (d.state === 'running') {
        await Deployment.query(this.db).patch({ actual: actual.services }).where('id', d.id);
      }
    });
  }

  private async onSynced(_nodeId: string, actual: ActualDeployment[], deleting: string[]) {
    for (const a of actual) await this.apply(a);
    for (const id of deleting) await this.locks.run(id, () => this.markDeleted(id));
    await this.ingress.refresh();
  }

  private async onNodeOffline(nodeId: string) {
    const running = await Deployment.query(this.db).where({ nodeId, state: 'running' });
    for (const d of running) {
      await this.locks.run(d.id, () =>
        this.transition(
          d,
          ['running'],
          'offline',
          { stateMessage: 'node is offline' },
          { kind: 'offline', message: 'node is offline; routes removed' },
        ),
      );
    }
    await this.ingress.refresh();
  }

  /** Delete, or cancel while deploying (the same thing): idempotent. */
  async delete(db: Database, d: Deployment, actor: Actor, reason = 'deleted'): Promise<Deployment> {
    if (d.state !== 'deleting' && d.state !== 'deleted') {
      await this.transition(
        d,
        ['pending', 'deploying', 'running', 'failed', 'offline'],
        'deleting',
        { stateMessage: reason },
        { kind: reason, actor },
        db,
      );
    }
    this.afterCommit(db, () => this.finishDelete(d.id));
    return Deployment.query(db).findById(d.id).throwIfNotFound();
  }

  private finishDelete(id: string): Promise<void> {
    return this.locks.run(id, async () => {
      const d = await Deployment.query(this.db).findById(id);
      if (d?.state !== 'deleting') return;
      await this.ingress.refresh();
      const link = d.nodeId ? this.agents.linkOf(d.nodeId) : undefined;
      if (!link) return; // the node is offline: it removes the deployment when it reconnects
      await link.request('deployment.remove', { id }, 10 * 60_000);
      await this.markDeleted(id);
    });
  }

  private async markDeleted(id: string) {
    const d = await Deployment.query(this.db).findById(id);
    if (d?.state !== 'deleting') return;
    await this.transition(
      d,
      ['deleting'],
      'deleted',
      { deletedAt: new Date(), services: [], actual: null, stateMessage: null },
      { kind: 'removed', message: 'every resource removed from the node' },
    );
  }

  /** Runs a failed deployment again with the latest pipeline version and the same tags. */
  async retry(db: Database, d: Deployment, actor: Actor): Promise<Deployment> {
    if (d.state !== 'failed')
      throw new ConflictError(`only a failed deployment can be retried; this one is ${d.state}`);
    const project = await Project.query(db).findById(d.projectId).throwIfNotFound();
    const environment = await Environment.query(db).findById(d.environmentId).throwIfNotFound();
    const version = await this.latestVersion(db, project.id);
    const { budget } = await resolvePipelineRun(
      db,
      { box: this.box, secrets: this.secrets, plugins: this.plugins },
      { project, version, tags: d.tags },
    );
    const reserved = budget ?? { cpuMillicores: project.cpuMillicores, memoryMb: project.memoryMb };
    const node = await placeDeployment(db, environment, reserved);
    const now = new Date();
    await this.transition(
      d,
      ['failed'],
      'deploying',
      {
        nodeId: node.id,
        pipelineVersionId: version.id,
        cpuMillicores: reserved.cpuMillicores,
        memoryMb: reserved.memoryMb,
        error: null,
        stateMessage: null,
        lastActivityAt: now,
        expiresAt: new Date(now.getTime() + this.ttlOf(project, environment) * 1000),
      },
      { kind: 'retried', actor, message: `pipeline v${version.version} on node ${node.name}` },
      db,
    );
    this.afterCommit(db, () => this.dispatch(d.id));
    return Deployment.query(db).findById(d.id).throwIfNotFound();
  }

  /** A new deployment like `d` (its tags, optionally changed), with a new name and the latest pipeline. */
  async clone(
    db: Database,
    d: Deployment,
    input: { name: string; tags?: Record<string, string> },
    actor: Actor,
  ): Promise<Deployment> {
    const project = await Project.query(db).findById(d.projectId).throwIfNotFound();
    const environment = await Environment.query(db).findById(d.environmentId).throwIfNotFound();
    const { deployment: created } = await this.create(db, {
      project,
      environment,
      name: input.name,
      tags: { ...d.tags, ...input.tags },
      actor,
    });
    await this.history.record(db, created.id, {
      kind: 'cloned',
      message: `cloned from ${d.name}`,
      actorId: actor.userId,
      actorName: actor.username,
      details: { from: d.id },
    });
    return created;
  }

  /** Resets the auto-cleanup timer. */
  async extend(db: Database, d: Deployment, actor: Actor): Promise<Deployment> {
    if (d.state === 'deleting' || d.state === 'deleted')
      throw new ConflictError(`a ${d.state} deployment cannot be extended`);
    const project = await Project.query(db).findById(d.projectId).throwIfNotFound();
    const environment = await Environment.query(db).findById(d.environmentId).throwIfNotFound();
    const now = new Date();
    const expiresAt = new Date(now.getTime() + this.ttlOf(project, environment) * 1000);
    const updated = await Deployment.query(db).patchAndFetchById(d.id, {
      lastActivityAt: now,
      expiresAt,
      updatedAt: now,
    });
    await this.history.record(db, d.id, {
      kind: 'extended',
      message: `expires ${expiresAt.toISOString()}`,
      actorId: actor.userId,
      actorName: actor.username,
    });
    return updated;
  }

  /** Deletes every deployment whose auto-cleanup time has passed. */
  async sweep(): Promise<number> {
    const expired = await Deployment.query(this.db)
      .where('expiresAt', '<', new Date())
      .whereIn('state', ['pending', 'deploying', 'running', 'failed', 'offline']);
    for (const d of expired) {
      await this.db
        .transaction((trx) => this.delete(trx, d, SYSTEM, 'expired'))
        .catch((err) => this.logger.error({ err, deployment: d.id }, 'auto-cleanup failed'));
    }
    if (expired.length)
      this.logger.info({ count: expired.length }, 'auto-cleanup removed expired deployments');
    return expired.length;
  }
}
