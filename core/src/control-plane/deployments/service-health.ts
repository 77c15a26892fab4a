import { EventEmitter } from 'node:events';
import type { ServiceHealth } from '@nullops/plugin-sdk';
import type { Logger } from 'pino';
import { inject, injectable } from 'tsyringe';
import { AgentEvents } from '../agents/agent-events.js';
import type { Database } from '../database/database.js';
import { Refs } from '../refs.js';
import { KeyedLock } from './keyed-lock.js';

export interface HealthChange {
  deploymentId: string;
  at: string;
  services: ServiceHealth[];
}

/**
 * Live service health: what nodes report about their running deployments' services (running,
 * unhealthy, restarting, crashed…) is kept on the deployment and told to whoever watches it —
 * the deployment page and the list, over server-sent events. Only the node a deployment is
 * placed on speaks for it, and only while it runs.
 */
@injectable()
export class DeploymentHealth {
  readonly live = new EventEmitter<{ health: [HealthChange] }>();
  private readonly inOrder = new KeyedLock();
  private off: (() => void) | undefined;

  constructor(
    @inject(Refs.database) private readonly db: Database,
    @inject(Refs.logger) private readonly logger: Logger,
    @inject(AgentEvents) private readonly events: AgentEvents,
  ) {
    this.live.setMaxListeners(0);
  }

  start(): void {
    const handler = (nodeId: string, report: HealthChange) =>
      void this.inOrder
        .run(report.deploymentId, () => this.apply(nodeId, report))
        .catch((err) =>
          this.logger.error({ err, deployment: report.deploymentId }, 'could not keep service health'),
        );
    this.events.on('services.health', handler);
    this.off = () => this.events.off('services.health', handler);
  }

  stop(): void {
    this.off?.();
  }

  private async apply(nodeId: string, report: HealthChange) {
    // `deploying` too: the node tells health right after the run ends, which may be before the
    // control plane has recorded that end (the view shows health only once it is running).
    const updated = await this.db('deployments')
      .where({ id: report.deploymentId, nodeId })
      .whereIn('state', ['deploying', 'running'])
      .update({ serviceHealth: JSON.stringify(report.services) });
    if (!updated) return;
    this.live.emit('health', report);
  }
}
