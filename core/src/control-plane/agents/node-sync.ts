import type { Logger } from 'pino';
import { inject, injectable } from 'tsyringe';
import { DesiredState } from '../deployments/desired-state.js';
import { PluginService } from '../plugins/plugin-service.js';
import { Refs } from '../refs.js';
import { AgentEvents } from './agent-events.js';
import type { AgentLink } from './agent-link.js';

/**
 * Brings a node up to date each time it connects: its plugins first (deployments it resumes need
 * them), then its desired state, which the agent reconciles against what it runs; what it reports
 * back is announced as `node.synced` for the deployment records.
 */
@injectable()
export class NodeSync {
  private readonly onConnected = (nodeId: string, link: AgentLink) => void this.sync(nodeId, link);

  constructor(
    @inject(Refs.logger) private readonly logger: Logger,
    @inject(AgentEvents) private readonly events: AgentEvents,
    @inject(PluginService) private readonly plugins: PluginService,
    @inject(DesiredState) private readonly desired: DesiredState,
  ) {}

  start(): void {
    this.events.on('node.connected', this.onConnected);
  }

  stop(): void {
    this.events.off('node.connected', this.onConnected);
  }

  private async sync(nodeId: string, link: AgentLink): Promise<void> {
    const log = this.logger.child({ node: nodeId });
    // A plugin problem is reported per plugin and never keeps the node from syncing its deployments.
    await this.plugins
      .syncNode(nodeId, link)
      .catch((err) => log.warn({ err: (err as Error).message }, 'plugin sync with the node failed'));
    try {
      const desired = await this.desired.of(nodeId);
      const { deployments, report } = await link.request('sync', { deployments: desired });
      log.info({ report }, 'node reconciled');
      this.events.emit(
        'node.synced',
        nodeId,
        deployments,
        desired.filter((d) => d.state === 'deleting').map((d) => d.id),
      );
    } catch (err) {
      if (link.isOpen) log.error({ err }, 'sync with the agent failed');
      link.close(4003, 'sync failed');
    }
  }
}
