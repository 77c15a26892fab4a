import { inject, injectable } from '@nullops/kernel';
import type { Database } from '../database/database.js';
import { type LiveEvent, NOTIFY_TOPIC } from '../deployments/history.js';
import { DeploymentReadModel } from '../deployments/read-model.js';
import { Deployment } from '../models/fleet.js';
import { Outbox } from '../outbox/outbox.js';
import { Refs } from '../refs.js';
import { PluginService } from './plugin-service.js';

/**
 * Tells control-plane plugins' notifiers about every entry of a deployment's history (created,
 * running, failed, extended, deleted…), once it has committed — through the outbox, so a
 * notification survives a crash of the control plane (and may, rarely, come twice).
 */
@injectable()
export class DeploymentNotifications {
  constructor(
    @inject(Refs.database) private readonly db: Database,
    @inject(Outbox) private readonly outbox: Outbox,
    @inject(PluginService) private readonly plugins: PluginService,
    @inject(DeploymentReadModel) private readonly read: DeploymentReadModel,
  ) {}

  start(): void {
    this.outbox.handle(NOTIFY_TOPIC, (event) => this.notify(event as unknown as LiveEvent));
  }

  private async notify(event: LiveEvent): Promise<void> {
    if (!this.plugins.extensions.hasNotifiers()) return;
    const row = await Deployment.query(this.db).findById(event.deploymentId);
    if (!row) return;
    const view = await this.read.view(this.db, row);
    await this.plugins.extensions.notify({
      event: event.kind,
      deployment: {
        id: view.id,
        name: view.name,
        state: view.state,
        projectId: view.projectId,
        projectName: view.projectName,
        environmentName: view.environmentName,
        urls: Object.fromEntries(view.services.map((s) => [s.name, s.url])),
        expiresAt: view.expiresAt,
      },
      actor: event.actor ?? null,
      ...(event.message ? { message: event.message } : {}),
      at: event.at,
    });
  }
}
