import { inject, injectable } from '@nullops/kernel';
import { InputError } from '@nullops/plugin-sdk';
import { AccessService, atLeast } from '../access/access-service.js';
import type { Principal } from '../auth/principal.js';
import type { Database } from '../database/database.js';
import type { Deployment } from '../models/fleet.js';
import { Outbox } from '../outbox/outbox.js';
import { Refs } from '../refs.js';
import { BackupStore } from './backup-store.js';

export interface BackupRow {
  id: string;
  deploymentId: string;
  projectId: string;
  service: string;
  nodeId: string | null;
  nodeType: string | null;
  bytes: number;
  sha256: string;
  file: string;
  encrypted: boolean;
  createdByName: string | null;
  createdAt: Date;
  /** The deployment it was taken of (joined in lists). */
  deploymentName?: string;
}

/** Outbox topic: a deleted project's backup files go, once its delete commits. */
const PURGE_TOPIC = 'backups.purge';

/**
 * The backups kept of deployments (made and restored by queued operations): listed for those who
 * may read their deployment, downloaded, deleted, expired past their project's retention, and
 * purged with their project. Rows here, encrypted archives in the backup store.
 */
@injectable()
export class DeploymentBackups {
  constructor(
    @inject(Refs.database) private readonly db: Database,
    @inject(Outbox) private readonly outbox: Outbox,
    @inject(AccessService) private readonly access: AccessService,
    @inject(BackupStore) private readonly store: BackupStore,
  ) {}

  start(): void {
    this.outbox.handle(PURGE_TOPIC, (payload) => this.store.removeProject(payload.projectId as string));
  }

  /** A project goes: its backup files go with its rows, once the delete commits. */
  purgeLater(db: Database, projectId: string): Promise<void> {
    return this.outbox.add(db, PURGE_TOPIC, `backups:${projectId}`, { projectId });
  }

  /** Backups of a deployment, or of a project's deployments that `caller` may read. */
  async list(
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

  private async backupOf(db: Database, d: Deployment, backupId: string): Promise<BackupRow> {
    const backup = (await db('deployment_backups').where({ id: backupId, deploymentId: d.id }).first()) as
      | BackupRow
      | undefined;
    if (!backup) throw InputError.field('params.backupId', `names no backup of ${d.name}`);
    return backup;
  }

  /** A backup's archive as its plugin wrote it (decrypted and checked). */
  async download(
    db: Database,
    d: Deployment,
    backupId: string,
  ): Promise<{ backup: BackupRow; archive: Buffer }> {
    const backup = await this.backupOf(db, d, backupId);
    return { backup, archive: await this.store.read(backup) };
  }

  async remove(db: Database, d: Deployment, backupId: string): Promise<void> {
    const backup = await this.backupOf(db, d, backupId);
    await db('deployment_backups').where({ id: backupId }).delete();
    await this.store.remove(backup.file);
  }

  /**
   * Backups past their project's retention (kept that long also after their deployment is gone):
   * rows and files removed. Returns how many.
   */
  async expire(): Promise<number> {
    const expired: BackupRow[] = await this.db('deployment_backups as b')
      .join('projects as p', 'p.id', 'b.projectId')
      .whereRaw('b.created_at < now() - make_interval(days => p.backup_retention_days)')
      .select('b.*');
    for (const backup of expired) {
      await this.db('deployment_backups').where({ id: backup.id }).delete();
      await this.store.remove(backup.file);
    }
    return expired.length;
  }
}
