import type { PluginHost } from '@nullops/kernel/plugins';
import type { DesiredDeployment, RequestSchemas } from '@nullops/plugin-sdk';
import type { Logger } from 'pino';
import type { RequestHandlers } from './agent-session.js';
import type { DataOperations } from './data-operations.js';
import type { DeploymentRunner } from './deployment-runner.js';
import type { LogStreams } from './log-streams.js';
import type { Reconciler } from './reconciler.js';
import type { ServiceControl } from './service-control.js';
import type { ServiceHealthMonitor } from './service-health.js';

type Params<M extends keyof typeof RequestSchemas> = (typeof RequestSchemas)[M]['params']['_output'];

/** A desired state larger than this is refused, not buffered. */
const MAX_SYNC_DEPLOYMENTS = 5000;

/**
 * What the agent does when the control plane asks: one method per request of the protocol. Syncs,
 * deploys and repairs run one at a time (`serialised`): two overlapping reconciles could both
 * recreate the same service.
 */
export class ControlRequests {
  /** Pages of a desired state that did not fit one message (`sync.part`), until its `sync`. */
  private syncParts: { id: string; deployments: DesiredDeployment[] } | undefined;

  constructor(
    private readonly deps: {
      runner: DeploymentRunner;
      services: ServiceControl;
      reconciler: Reconciler;
      health: ServiceHealthMonitor;
      plugins: PluginHost;
      data: DataOperations;
      logs: LogStreams;
      logger: Logger;
      serialised: <T>(work: () => Promise<T>) => Promise<T>;
      /** When the agent last took a desired state (kept with its state). */
      synced: (at: string) => void;
    },
  ) {}

  /** The table the session dispatches by. */
  handlers(): RequestHandlers {
    return {
      ping: () => this.ping(),
      'sync.part': (p) => this.syncPart(p),
      sync: (p) => this.sync(p),
      'plugins.sync': (p) => this.pluginsSync(p),
      'deployment.deploy': (p) => this.deploy(p),
      'deployment.remove': (p) => this.remove(p),
      'service.control': (p) => this.serviceControl(p),
      'data.backup': (p) => this.deps.data.backup(p),
      'data.restore': (p) => this.deps.data.restore(p),
      'logs.open': async (p) => this.deps.logs.open(p),
      'logs.close': async (p) => this.deps.logs.close(p.streamId),
    };
  }

  async ping() {
    return { at: new Date().toISOString() };
  }

  async syncPart(params: Params<'sync.part'>) {
    if (this.syncParts?.id !== params.syncId) this.syncParts = { id: params.syncId, deployments: [] };
    this.syncParts.deployments.push(...params.deployments);
    if (this.syncParts.deployments.length > MAX_SYNC_DEPLOYMENTS) {
      this.syncParts = undefined;
      throw new Error(`a desired state of more than ${MAX_SYNC_DEPLOYMENTS} deployments`);
    }
    return { received: this.syncParts.deployments.length };
  }

  /** The whole desired state (its earlier pages first): everything else is reconciled to it. */
  sync(params: Params<'sync'>) {
    return this.deps.serialised(async () => {
      let desired = params.deployments;
      if (params.syncId) {
        if (this.syncParts?.id !== params.syncId)
          throw new Error('the earlier pages of this sync are missing');
        desired = [...this.syncParts.deployments, ...desired];
        this.syncParts = undefined;
      }
      this.deps.synced(new Date().toISOString());
      const result = await this.deps.reconciler.sync(desired);
      this.deps.logger.info(
        { deployments: result.deployments.length, report: result.report },
        'reconciled with the control plane',
      );
      // A control plane that just (re)connected learns how every service is doing.
      this.deps.health.resend();
      return result;
    });
  }

  async pluginsSync(params: Params<'plugins.sync'>) {
    return { plugins: await this.deps.plugins.sync(params.plugins) };
  }

  deploy(params: Params<'deployment.deploy'>) {
    return this.deps.serialised(() => this.deps.runner.deploy(params.deployment));
  }

  /** Not serialised behind a sync: cancelling must be able to interrupt a long run. */
  remove(params: Params<'deployment.remove'>) {
    return this.deps.runner.remove(params.id);
  }

  async serviceControl(params: Params<'service.control'>) {
    try {
      return await this.deps.services.run(params);
    } finally {
      this.deps.health.touch(params.deploymentId, { fresh: params.action !== 'stop' });
    }
  }
}
