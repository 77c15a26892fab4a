import { randomUUID } from 'node:crypto';
import { inject, injectable } from '@nullops/kernel';
import type { DesiredDeployment } from '@nullops/plugin-sdk';
import type { Logger } from 'pino';
import { DesiredState } from '../deployments/desired-state.js';
import { ENVELOPE_BYTES } from '../deployments/message-size.js';
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
      // However large the desired state, every message fits what the agent accepts (a deployment
      // too large on its own is dealt with alone: desired.of).
      const desired = await this.desired.of(nodeId, link.maxMessageBytes);
      const pages = pagesOf(desired, link.maxMessageBytes - ENVELOPE_BYTES);
      const syncId = randomUUID();
      for (const page of pages.slice(0, -1)) await link.request('sync.part', { syncId, deployments: page });
      const { deployments, report } = await link.request('sync', {
        deployments: pages.at(-1) ?? [],
        ...(pages.length > 1 ? { syncId } : {}),
      });
      if (pages.length > 1) log.info({ pages: pages.length }, 'desired state sent in pages');
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

/** Splits deployments into pages whose JSON fits `maxBytes`; one that alone does not is an error. */
export function pagesOf(deployments: DesiredDeployment[], maxBytes: number): DesiredDeployment[][] {
  const pages: DesiredDeployment[][] = [];
  let page: DesiredDeployment[] = [];
  let size = 2;
  for (const d of deployments) {
    const bytes = Buffer.byteLength(JSON.stringify(d)) + 1;
    if (bytes + 2 > maxBytes)
      throw new Error(
        `deployment ${d.name} (${d.id}) alone is ${bytes} bytes, more than the agent accepts in one message (${maxBytes}): raise its NULLOPS_AGENT_MAX_FRAME_BYTES`,
      );
    if (size + bytes > maxBytes && page.length) {
      pages.push(page);
      page = [];
      size = 2;
    }
    page.push(d);
    size += bytes;
  }
  if (page.length || !pages.length) pages.push(page);
  return pages;
}
