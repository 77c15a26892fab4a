import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConflictError, InputError } from '@nullops/plugin-sdk';
import type { Logger } from 'pino';
import { inject, injectable } from 'tsyringe';
import { AccessService, atLeast } from '../access/access-service.js';
import type { AgentLink } from '../agents/agent-link.js';
import { AgentConnectionManager } from '../agents/connection-manager.js';
import type { Principal } from '../auth/principal.js';
import type { ControlPlaneConfig } from '../config.js';
import type { Database } from '../database/database.js';
import { refreshRoutesLater } from '../ingress/ingress-service.js';
import { PipelineVersion } from '../models/catalog.js';
import { Deployment } from '../models/fleet.js';
import { Outbox } from '../outbox/outbox.js';
import { Refs } from '../refs.js';
import { databasesIn } from './databases.js';
import { DeploymentHistory } from './history.js';
import { holdsRoutes } from './lifecycle.js';
import type { Actor } from './transitions.js';

export type ServiceAction = 'restart' | 'stop' | 'start';
export type OperationKind = `service.${ServiceAction}` | 'database.backup' | 'database.restore';
export type OperationState = 'queued' | 'running' | 'succeeded' | 'failed';

export interface OperationParams {
  service: string;
  database?: string;
  user?: string;
  backupId?: string;
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

export interface BackupRow {
  id: string;
  deploymentId: string;
  projectId: string;
  service: string;
  database: string;
  bytes: number;
  sha256: string;
  file: string;
  createdByName: string | null;
  createdAt: Date;
  /** The deployment it was taken of (joined in lists). */
  deploymentName?: string;
}

const TOPIC = 'deployment.operation';
/** How long an operation waits for its deployment to be ready (its node back, its pipeline done). */
const WAIT_LIMIT_MS = 15 * 60_000;
const PAST: Record<ServiceAction, string> = { restart: 'restarted', stop: 'stopped', start: 'started' };
const DATABASE_TIMEOUT_MS = 11 * 60_000;

/** Not now: the outbox tries the operation again later (with backoff). */
class NotYet extends Error {}

/** The PostgreSQL databases a deployment's pipeline starts. */
async function databasesOf(db: Database, d: Deployment) {
  const version = d.pipelineVersionId
    ? await PipelineVersion.query(db).findById(d.pipelineVersionId)
    : undefined;
  return databasesIn(version?.graph);
}

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
  private readonly backupDir: string;

  constructor(
    @inject(Refs.database) private readonly db: Database,
    @inject(Refs.logger) private readonly logger: Logger,
    @inject(Refs.config) config: ControlPlaneConfig,
    @inject(Outbox) private readonly outbox: Outbox,
    @inject(AgentConnectionManager) private readonly agents: AgentConnectionManager,
    @inject(DeploymentHistory) private readonly history: DeploymentHistory,
    @inject(AccessService) private readonly access: AccessService,
  ) {
    this.backupDir = resolve(config.NULLOPS_BACKUP_DIR ?? join(config.NULLOPS_DATA_DIR, 'backups'));
  }

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

  /** Queues a backup of one of the deployment's databases (`service`, or its only one). */
  async backup(db: Database, d: Deployment, service: string | undefined, actor: Actor) {
    const target = await this.databaseOf(db, d, service);
    return this.enqueue(db, d, 'database.backup', target, actor);
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
    const target = await this.databaseOf(db, d, backup.service);
    return this.enqueue(db, d, 'database.restore', { ...target, backupId }, actor);
  }

  list(db: Database, deploymentId: string): Promise<OperationRow[]> {
    return db('deployment_operations').where({ deploymentId }).orderBy('createdAt', 'desc').limit(100);
  }

  /** Backups of a deployment, or of a project's deployments that `caller` may read. */
  async backups(
    db: Database,
    filter: { deploymentId: string } | { projectId: string },
    caller?: Principal,
  ): Promise<BackupRow[]> {
    const [column, value] =
      'deploymentId' in filter ? ['b.deploymentId', filter.deploymentId] : ['b.projectId', filter.projectId];
    const rows: BackupRow[] = await db('deployment_backups as b')
      .join('deployments as d', 'd.id', 'b.deploymentId')
      .where(column, value)
      .orderBy('b.createdAt', 'desc')
      .select('b.*', 'd.name as deploymentName');
    if (!caller) return rows;
    const readable = new Map<string, boolean>();
    for (const id of new Set(rows.map((r) => r.deploymentId))) {
      const level = await this.access.levelFor(caller, 'deployment', id, db);
      readable.set(id, Boolean(level && atLeast(level, 'read')));
    }
    return rows.filter((r) => readable.get(r.deploymentId));
  }

  async deleteBackup(db: Database, d: Deployment, backupId: string): Promise<void> {
    const backup = (await db('deployment_backups').where({ id: backupId, deploymentId: d.id }).first()) as
      | BackupRow
      | undefined;
    if (!backup) throw InputError.field('params.backupId', `names no backup of ${d.name}`);
    await db('deployment_backups').where({ id: backupId }).delete();
    await rm(backup.file, { force: true });
  }

  private async databaseOf(db: Database, d: Deployment, service: string | undefined) {
    const databases = await databasesOf(db, d);
    if (!databases.length)
      throw new ConflictError(
        `${d.name} has no PostgreSQL database in its pipeline (a postgres.database node)`,
      );
    const target = service ? databases.find((x) => x.service === service) : databases[0];
    if (!target || (!service && databases.length > 1))
      throw InputError.field(
        'body.service',
        `${service ? 'is not' : 'must name'} one of its databases (${databases.map((x) => x.service).join(', ')})`,
      );
    return target;
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
          details: { operation: op.id, service: op.params.service },
        });
      });
    };
    try {
      const d = await Deployment.query(this.db).findById(op.deploymentId);
      if (!d || d.state === 'deleting' || d.state === 'deleted' || d.state === 'failed')
        return await finish('failed', `${what}: the deployment is ${d?.state ?? 'gone'}`, 'operation.failed');
      const link = d.nodeId ? this.agents.linkOf(d.nodeId) : undefined;
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
      const { message, kind } = await this.execute(op, d, link);
      await finish('succeeded', message, kind);
    } catch (err) {
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
  ): Promise<{ message: string; kind: string }> {
    const { service } = op.params;
    const target = () => ({
      deploymentId: d.id,
      service,
      database: op.params.database as string,
      user: op.params.user as string,
    });
    if (op.kind === 'database.backup') {
      const { dump } = await link.request('database.dump', target(), DATABASE_TIMEOUT_MS);
      const bytes = Buffer.from(dump, 'base64');
      const dir = join(this.backupDir, d.projectId);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const id = randomUUID();
      const file = join(dir, `${id}.sql.gz`);
      await writeFile(file, bytes, { mode: 0o600 });
      await this.db('deployment_backups').insert({
        id,
        deploymentId: d.id,
        projectId: d.projectId,
        service,
        database: op.params.database,
        bytes: bytes.length,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        file,
        createdByName: op.createdByName,
      });
      return {
        message: `backup ${id} of ${service} taken (${kib(bytes.length)} compressed)`,
        kind: 'database.backed-up',
      };
    }
    if (op.kind === 'database.restore') {
      const backup = (await this.db('deployment_backups').where({ id: op.params.backupId }).first()) as
        | BackupRow
        | undefined;
      if (!backup) throw new Error('the backup was deleted meanwhile');
      const bytes = await readFile(backup.file);
      if (createHash('sha256').update(bytes).digest('hex') !== backup.sha256)
        throw new Error(`the backup file ${backup.file} is not what was stored (checksum differs)`);
      await link.request(
        'database.restore',
        { ...target(), dump: bytes.toString('base64') },
        DATABASE_TIMEOUT_MS,
      );
      return {
        message: `${service} restored from backup ${backup.id} (taken ${backup.createdAt.toISOString()})`,
        kind: 'database.restored',
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
