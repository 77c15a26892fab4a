import { EventEmitter } from 'node:events';
import { inject, injectable } from '@nullops/kernel';
import type { ServiceHealth } from '@nullops/plugin-sdk';
import type { Logger } from 'pino';
import { AgentEvents } from '../agents/agent-events.js';
import { ClusterBus } from '../cluster/cluster-bus.js';
import type { Database } from '../database/database.js';
import { Refs } from '../refs.js';
import { DeploymentHistory } from './history.js';
import { KeyedLock } from './keyed-lock.js';
import { ROUTED_STATES } from './lifecycle.js';

/** Bus topic: a health change for the watchers on the other replicas. */
const HEALTH_TOPIC = 'deployment.health';

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
    @inject(DeploymentHistory) private readonly history: DeploymentHistory,
    @inject(ClusterBus) private readonly bus: ClusterBus,
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
    const relayed = this.bus.on(HEALTH_TOPIC, (r) => this.live.emit('health', r as unknown as HealthChange), {
      othersOnly: true,
    });
    this.off = () => {
      this.events.off('services.health', handler);
      relayed();
    };
  }

  stop(): void {
    this.off?.();
  }

  private async apply(nodeId: string, report: HealthChange) {
    const applied = await this.db.transaction(async (trx) => {
      // `deploying` too: the node tells health right after the run ends, which may be before the
      // control plane has recorded that end (the view shows health only once it is running).
      const row: { serviceHealth: ServiceHealth[] | null; state: string } | undefined = await trx(
        'deployments',
      )
        .where({ id: report.deploymentId, nodeId })
        .whereIn('state', ['deploying', ...ROUTED_STATES])
        .forUpdate()
        .first('serviceHealth', 'state');
      if (!row) return false;
      await trx('deployments')
        .where({ id: report.deploymentId })
        .update({ serviceHealth: JSON.stringify(report.services) });
      // A service that went bad, or came back by itself, is worth a line in the history (and
      // so a notification); what users did (stop, start) is recorded where they did it.
      if ((ROUTED_STATES as readonly string[]).includes(row.state))
        for (const entry of healthEntries(row.serviceHealth ?? [], report.services))
          await this.history.record(trx, report.deploymentId, entry);
      return true;
    });
    if (!applied) return;
    this.live.emit('health', report);
    // Watchers on other replicas too.
    await this.bus
      .publish(HEALTH_TOPIC, report as unknown as Record<string, unknown>)
      .catch((err) => this.logger.warn({ err: (err as Error).message }, 'could not relay service health'));
  }
}

const BAD = new Set(['unhealthy', 'restarting', 'crashed', 'missing']);

/** History entries for the changes between two reports: `service.<condition>`, `service.recovered`. */
export function healthEntries(
  before: ServiceHealth[],
  after: ServiceHealth[],
): { kind: string; message: string; details: Record<string, unknown> }[] {
  return after.flatMap((h) => {
    const was = before.find((b) => b.name === h.name)?.condition ?? 'running';
    if (was === h.condition) return [];
    const details = {
      service: h.name,
      condition: h.condition,
      restartCount: h.restartCount,
      exitCode: h.exitCode,
    };
    if (BAD.has(h.condition)) {
      const what =
        h.condition === 'restarting'
          ? `restarting (${h.restartCount}×)`
          : h.condition === 'crashed'
            ? `crashed (exit ${h.exitCode ?? '?'})`
            : h.condition;
      const why = h.reason?.split('; last lines:')[0];
      return [
        { kind: `service.${h.condition}`, message: `${h.name} ${what}${why ? `: ${why}` : ''}`, details },
      ];
    }
    if (h.condition === 'running' && BAD.has(was))
      return [{ kind: 'service.recovered', message: `${h.name} is running again (was ${was})`, details }];
    return [];
  });
}
