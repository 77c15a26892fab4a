import { randomUUID } from 'node:crypto';
import { inject, injectable } from '@nullops/kernel';
import { ConflictError, InputError } from '@nullops/plugin-sdk';
import type { Logger } from 'pino';
import { AccessService, atLeast } from '../access/access-service.js';
import type { AgentLink } from '../agents/agent-link.js';
import { AgentConnectionManager } from '../agents/connection-manager.js';
import type { Principal } from '../auth/principal.js';
import { BackupStore } from '../backups/backup-store.js';
import type { BackupRow } from '../backups/deployment-backups.js';
import { ElsewhereError } from '../cluster/elsewhere.js';
import type { Database } from '../database/database.js';
import { refreshRoutesLater } from '../ingress/ingress-service.js';
import { PipelineVersion, Project } from '../models/catalog.js';
import { Deployment } from '../models/fleet.js';
import { Outbox } from '../outbox/outbox.js';
import { PluginService } from '../plugins/plugin-service.js';
import { Refs } from '../refs.js';
import type { SecretBox } from '../security/secret-box.js';
import { SecretService } from '../services/secret-service.js';
import { dataNodesIn } from './data-nodes.js';
import { DeploymentHistory } from './history.js';
import { holdsRoutes } from './lifecycle.js';
import { resolvePipelineRun } from './pipeline-resolver.js';
import type { Actor } from './transitions.js';

export type ServiceAction = 'restart' | 'stop' | 'start';
export type OperationKind = `service.${ServiceAction}` | 'database.backup' | 'database.restore';
export type OperationState = 'queued' | 'running' | 'succeeded' | 'failed';

export interface OperationParams {
  service: string;
  /** The pipeline node a backup or restore is of. */
  nodeId?: string;
  backupId?: string;
  /** A restore's source: the deployment and service the backup was made of. */
  sourceDeploymentId?: string;
  sourceService?: string;
}

export interface OperationRow {
  id: string;
  deploymentId: string;
  kind: OperationKind;
  params: OperationParams;
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
const DATABASE_TIMEOUT_MS = 11 * 60_000;

/** Not now: the outbox tries the operation again later (with backoff). */
class NotYet extends Error {}

/**
 * Day-2 operations on one deployment — restart, stop, start a service; back up or restore a
 * database — in a persisted FIFO per deployment: each is a row with its own state and result,
 * run by the outbox in order (entries of one key never overlap), so a second request queues
 * behind the first instead of failing, and what was queued survives a control-plane restart. An
 * operation whose deployment is not ready (its node offline, its pipeline still running) waits, up
 * to a limit.
 */
@injectable()
export class DeploymentOperations {
  constructor(
    @inject(Refs.database) private readonly db: Database,
    @inject(Refs.logger) private readonly logger: Logger,
    @inject(Refs.secretBox) private readonly box: SecretBox,
    @inject(Outbox) private readonly outbox: Outbox,
    @inject(AgentConnectionManager) private readonly agents: AgentConnectionManager,
    @inject(DeploymentHistory) private readonly history: DeploymentHistory,
    @inject(AccessService) private readonly access: AccessService,
    @inject(BackupStore) private readonly store: BackupStore,
    @inject(PluginService) private readonly plugins: PluginService,
    @inject(SecretService) private readonly secrets: SecretService,
  ) {}

  start(): void {
    this.outbox.handle(TOPIC, (payload) => this.run(payload.operationId as string));
  }

  /** Queues an action on a service, in the caller's transaction. */
  serviceAction(db: Database, d: Deployment, action: ServiceAction, service: string, actor: Actor) {
    const known = (d.services as { name: string }[]).map((s) => s.name);
    if (!known.includes(service))
      throw InputError.field(
        'params.service',
        `is not a service of ${d.name}${known.length ? ` (it has ${known.join(', ')})` : ' (it has none yet)'}`,
      );
    return this.enqueue(db, d, `service.${action}`, { service }, actor);
  }

  /**
   * Queues a backup of one of the deployment's data nodes (`service`, or its only one), within the
   * project's backup limit (backups kept and queued together).
   */
  async backup(db: Database, d: Deployment, service: string | undefined, actor: Actor) {
    const target = await this.dataNodeOf(db, d, service);
    const project = await Project.query(db).findById(d.projectId).throwIfNotFound();
    const count = async (query: ReturnType<Database>) =>
      Number(((await query.count('* as n')) as { n: string }[])[0]?.n ?? 0);
    const kept = await count(db('deployment_backups').where({ projectId: d.projectId }));
    const queued = await count(
      db('deployment_operations as o')
        .join('deployments as d', 'd.id', 'o.deploymentId')
        .where({ 'd.projectId': d.projectId, 'o.kind': 'database.backup' })
        .whereIn('o.state', ['queued', 'running']),
    );
    if (kept + queued >= project.backupLimit)
      throw new ConflictError(
        `project ${project.name} keeps at most ${project.backupLimit} backups (${kept} kept, ${queued} queued): delete one, or ask an administrator to raise the project's backup limit`,
      );
    return this.enqueue(db, d, 'database.backup', { service: target.service, nodeId: target.nodeId }, actor);
  }

  /**
   * Queues restoring a backup of this project (of this deployment or another one) into `d`. A
   * backup is its source deployment's data: the caller must be able to read that deployment (its
   * project and its environment), as well as change `d` (the route checks that).
   */
  async restore(db: Database, d: Deployment, backupId: string, actor: Actor, caller: Principal) {
    const backup = (await db('deployment_backups').where({ id: backupId }).first()) as BackupRow | undefined;
    const level = backup
      ? await this.access.levelFor(caller, 'deployment', backup.deploymentId, db)
      : undefined;
    if (!backup || !level || !atLeast(level, 'read'))
      throw InputError.field('body.backupId', 'names no backup');
    if (backup.projectId !== d.projectId)
      throw InputError.field(
        'body.backupId',
        'is a backup of another project: restore it into a deployment of that one',
      );
    // Into the node of the same kind, and of the same service where there are several.
    const nodes = (await this.dataNodesOf(db, d)).filter((n) => n.type === (backup.nodeType ?? n.type));
    const target =
      nodes.find((n) => n.service === backup.service) ?? (nodes.length === 1 ? nodes[0] : undefined);
    if (!target)
      throw InputError.field(
        'body.backupId',
        `is a backup of ${backup.service} (${backup.nodeType}); ${d.name} has no such data to restore it into`,
      );
    return this.enqueue(
      db,
      d,
      'database.restore',
      {
        service: target.service,
        nodeId: target.nodeId,
        backupId,
        sourceDeploymentId: backup.deploymentId,
        sourceService: backup.service,
      },
      actor,
    );
  }

  list(db: Database, deploymentId: string): Promise<OperationRow[]> {
    return db('deployment_operations').where({ deploymentId }).orderBy('createdAt', 'desc').limit(100);
  }

  /** The deployment's nodes with data, from its pipeline version and the installed components. */
  private async dataNodesOf(db: Database, d: Deployment) {
    const version = d.pipelineVersionId
      ? await PipelineVersion.query(db).findById(d.pipelineVersionId)
      : undefined;
    return dataNodesIn(version?.graph, this.plugins);
  }

  private async dataNodeOf(db: Database, d: Deployment, service: string | undefined) {
    const nodes = await this.dataNodesOf(db, d);
    if (!nodes.length)
      throw new ConflictError(
        `${d.name} keeps no data that can be backed up (no component of its pipeline declares backup and restore)`,
      );
    const target = service ? nodes.find((x) => x.service === service) : nodes[0];
    if (!target || (!service && nodes.length > 1))
      throw InputError.field(
        'body.service',
        `${service ? 'is not' : 'must name'} one of its services with data (${nodes.map((x) => x.service).join(', ')})`,
      );
    return target;
  }

  /** The node of a deployment's run (its params resolved: secrets included) and the plugin releases. */
  private async dataTarget(d: Deployment, nodeId: string) {
    const project = await Project.query(this.db).findById(d.projectId).throwIfNotFound();
    const version = await PipelineVersion.query(this.db)
      .findById(d.pipelineVersionId as string)
      .throwIfNotFound();
    const run = await resolvePipelineRun(
      this.db,
      { box: this.box, secrets: this.secrets, plugins: this.plugins },
      { project, version, tags: d.tags, digests: d.imageDigests },
    );
    const node = run.nodes.find((n) => n.id === nodeId);
    if (!node) throw new Error(`the pipeline no longer has node ${nodeId}`);
    return { deploymentId: d.id, deploymentName: d.name, node, plugins: run.plugins };
  }

  private async enqueue(
    db: Database,
    d: Deployment,
    kind: OperationKind,
    params: OperationParams,
    actor: Actor,
  ) {
    if (d.state === 'deleting' || d.state === 'deleted' || d.state === 'failed')
      throw new ConflictError(`${d.name} is ${d.state}: it takes no more operations`);
    const [row] = await db('deployment_operations')
      .insert({
        id: randomUUID(),
        deploymentId: d.id,
        kind,
        params: JSON.stringify(params),
        createdBy: actor.userId,
        createdByName: actor.username,
      })
      .returning('*');
    await this.history.record(db, d.id, {
      kind: 'operation.queued',
      message: describe(kind, params),
      actorId: actor.userId,
      actorName: actor.username,
      details: { operation: row.id, service: params.service },
    });
    await this.outbox.add(db, TOPIC, `operations:${d.id}`, { operationId: row.id });
    return row as OperationRow;
  }

  /** The outbox effect: runs one queued operation (again, if a restart interrupted it). */
  private async run(operationId: string): Promise<void> {
    const op = (await this.db('deployment_operations').where({ id: operationId }).first()) as
      | OperationRow
      | undefined;
    if (!op || op.state === 'succeeded' || op.state === 'failed') return;
    const what = describe(op.kind, op.params);
    const finish = async (
      state: 'succeeded' | 'failed',
      message: string,
      kind: string,
      details: Record<string, unknown> = {},
    ) => {
      await this.db.transaction(async (trx) => {
        await trx('deployment_operations')
          .where({ id: op.id })
          .update({ state, message, finishedAt: new Date() });
        await this.history.record(trx, op.deploymentId, {
          kind,
          message,
          actorId: op.createdBy,
          actorName: op.createdByName,
          details: { operation: op.id, service: op.params.service, ...details },
        });
      });
    };
    try {
      const d = await Deployment.query(this.db).findById(op.deploymentId);
      if (!d || d.state === 'deleting' || d.state === 'deleted' || d.state === 'failed')
        return await finish('failed', `${what}: the deployment is ${d?.state ?? 'gone'}`, 'operation.failed');
      const link = d.nodeId ? await this.agents.linkFor(d.nodeId) : undefined;
      if (!holdsRoutes(d.state) || !link)
        throw new NotYet(!link ? `node ${d.nodeName ?? ''} is offline` : `the deployment is ${d.state}`);
      await this.db('deployment_operations')
        .where({ id: op.id })
        .update({ state: 'running', startedAt: new Date(), message: null });
      this.history.publish({
        deploymentId: d.id,
        kind: 'operation.running',
        message: what,
        details: { operation: op.id, service: op.params.service },
      });
      const { message, kind, details } = await this.execute(op, d, link);
      await finish('succeeded', message, kind, details);
    } catch (err) {
      // Run by the replica that holds the node's link.
      if (err instanceof ElsewhereError) throw err;
      if (err instanceof NotYet && Date.now() - new Date(op.createdAt).getTime() < WAIT_LIMIT_MS) {
        await this.db('deployment_operations')
          .where({ id: op.id })
          .update({ state: 'queued', message: `waiting: ${err.message}` });
        throw err;
      }
      this.logger.warn({ err, operation: op.id }, 'deployment operation failed');
      await finish('failed', `${what} failed: ${(err as Error).message}`, 'operation.failed');
    }
  }

  private async execute(
    op: OperationRow,
    d: Deployment,
    link: AgentLink,
  ): Promise<{ message: string; kind: string; details?: Record<string, unknown> }> {
    const { service } = op.params;
    if (op.kind === 'database.backup') {
      const target = await this.dataTarget(d, op.params.nodeId ?? service);
      const { archive } = await link.request('data.backup', target, DATABASE_TIMEOUT_MS);
      const bytes = Buffer.from(archive, 'base64');
      const id = randomUUID();
      const stored = await this.store.write(d.projectId, id, bytes);
      await this.db('deployment_backups').insert({
        id,
        deploymentId: d.id,
        projectId: d.projectId,
        service,
        nodeId: target.node.id,
        nodeType: target.node.type,
        bytes: stored.bytes,
        sha256: stored.sha256,
        file: stored.file,
        encrypted: true,
        createdByName: op.createdByName,
      });
      return {
        message: `backup ${id} of ${service} taken (${kib(bytes.length)}, encrypted at rest)`,
        kind: 'database.backed-up',
      };
    }
    if (op.kind === 'database.restore') {
      const backup = (await this.db('deployment_backups as b')
        .join('deployments as d', 'd.id', 'b.deploymentId')
        .where('b.id', op.params.backupId as string)
        .first('b.*', 'd.name as deploymentName')) as BackupRow | undefined;
      if (!backup) throw new Error('the backup was deleted meanwhile');
      const archive = await this.store.read(backup);
      const target = await this.dataTarget(d, op.params.nodeId ?? service);
      const { notes } = await link.request(
        'data.restore',
        { ...target, archive: archive.toString('base64') },
        DATABASE_TIMEOUT_MS,
      );
      return {
        message: `${service} restored from backup ${backup.id} of ${backup.deploymentName} (taken ${backup.createdAt.toISOString()})${notes.length ? `; from the backup: ${notes.join('; ')}` : ''}`,
        kind: 'database.restored',
        details: {
          backup: backup.id,
          sourceDeployment: backup.deploymentId,
          sourceDeploymentName: backup.deploymentName,
          ...(notes.length ? { refused: notes } : {}),
        },
      };
    }
    const action = op.kind.replace(/^service\./, '') as ServiceAction;
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
    return { message: `${service} ${PAST[action]} (now ${state.status})`, kind: `service.${PAST[action]}` };
  }
}

function describe(kind: OperationKind, p: OperationParams): string {
  if (kind === 'database.backup') return `back up ${p.service}`;
  if (kind === 'database.restore') return `restore ${p.service} from backup ${p.backupId}`;
  return `${kind.slice('service.'.length)} ${p.service}`;
}

const kib = (n: number) => (n < 1048576 ? `${Math.ceil(n / 1024)} KiB` : `${(n / 1048576).toFixed(1)} MiB`);
