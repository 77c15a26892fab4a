import { inject, injectable } from '@nullops/kernel';
import type { Logger } from 'pino';
import { DeploymentBackups } from '../backups/deployment-backups.js';
import { oneReplicaAtATime } from '../cluster/one-at-a-time.js';
import type { ControlPlaneConfig } from '../config.js';
import type { Database } from '../database/database.js';
import { Deployment } from '../models/fleet.js';
import { Outbox } from '../outbox/outbox.js';
import { Refs } from '../refs.js';
import { DeploymentCommands } from './commands.js';
import { statesFor } from './lifecycle.js';
import { SYSTEM } from './transitions.js';

/**
 * Auto-cleanup: deployments whose time is up are deleted, and backups past their retention, every
 * sweep interval — by one replica at a time.
 */
@injectable()
export class Sweeper {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    @inject(Refs.database) private readonly db: Database,
    @inject(Refs.logger) private readonly logger: Logger,
    @inject(Refs.config) private readonly config: ControlPlaneConfig,
    @inject(DeploymentCommands) private readonly commands: DeploymentCommands,
    @inject(Outbox) private readonly outbox: Outbox,
    @inject(DeploymentBackups) private readonly backups: DeploymentBackups,
  ) {}

  start(): void {
    this.timer = setInterval(
      () =>
        void oneReplicaAtATime(this.db, 'nullops:sweeper', () => this.sweep()).catch((err) =>
          this.logger.error({ err }, 'auto-cleanup failed'),
        ),
      this.config.NULLOPS_SWEEP_INTERVAL_SECONDS * 1000,
    );
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Deletes every deployment whose auto-cleanup time has passed; returns how many. */
  async sweep(): Promise<number> {
    const expired = await Deployment.query(this.db)
      .where('expiresAt', '<', new Date())
      .whereIn('state', [...statesFor('expired')]);
    for (const d of expired) {
      await this.db
        .transaction((trx) => this.commands.delete(trx, d, SYSTEM, 'expired'))
        .catch((err) => this.logger.error({ err, deployment: d.id }, 'auto-cleanup failed'));
    }
    this.outbox.wake();
    if (expired.length)
      this.logger.info({ count: expired.length }, 'auto-cleanup removed expired deployments');
    const backups = await this.backups
      .expire()
      .catch((err) => this.logger.error({ err }, 'could not remove expired backups'));
    if (backups) this.logger.info({ count: backups }, 'removed backups past their retention');
    return expired.length;
  }
}
