import { inject, injectable } from '@nullops/kernel';
import type { NodeNotification } from '@nullops/plugin-sdk';
import { AgentConnectionManager } from '../agents/connection-manager.js';
import { NODE_NOTIFY_TOPIC } from '../agents/node-losses.js';
import type { Database } from '../database/database.js';
import { AgentNode, Environment } from '../models/fleet.js';
import { Outbox } from '../outbox/outbox.js';
import { Refs } from '../refs.js';
import { PluginService } from './plugin-service.js';

/**
 * Tells control-plane plugins' node notifiers (administrators' channels) that a node went
 * offline or came back — through the outbox, queued in the change itself.
 */
@injectable()
export class NodeNotifications {
  constructor(
    @inject(Refs.database) private readonly db: Database,
    @inject(Outbox) private readonly outbox: Outbox,
    @inject(PluginService) private readonly plugins: PluginService,
    @inject(AgentConnectionManager) private readonly agents: AgentConnectionManager,
  ) {}

  start(): void {
    this.outbox.handle(NODE_NOTIFY_TOPIC, (payload) => this.notify(payload));
    // With no notifier installed, a node coming and going queues nothing (after a restart, ten
    // thousand nodes come back at once).
    this.agents.notifiesNodes = () => this.plugins.extensions.hasNodeNotifiers();
  }

  private async notify(payload: Record<string, unknown>): Promise<void> {
    if (!this.plugins.extensions.hasNodeNotifiers()) return;
    const node = await AgentNode.query(this.db).findById(payload.nodeId as string);
    if (!node) return;
    const environment = await Environment.query(this.db).findById(node.environmentId);
    await this.plugins.extensions.notifyNodes({
      event: payload.event as NodeNotification['event'],
      node: {
        id: node.id,
        name: node.name,
        environmentName: environment?.name ?? '',
        status: node.status,
        message: node.statusMessage,
      },
      at: payload.at as string,
    });
  }
}
