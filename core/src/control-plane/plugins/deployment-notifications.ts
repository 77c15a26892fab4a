import type { DependencyContainer } from 'tsyringe';
import type { LiveEvent } from '../deployments/deployment-history.js';
import { DeploymentService } from '../deployments/deployment-service.js';
import { IngressService } from '../ingress/ingress-service.js';
import { Deployment } from '../models/fleet.js';
import { Refs } from '../refs.js';
import { deploymentViews } from '../schemas/deployment.js';
import { PluginService } from './plugin-service.js';

/** History kinds worth a notification (steps and log lines are not). */
const NOTIFIED = new Set([
  'created',
  'running',
  'failed',
  'extended',
  'retried',
  'cloned',
  'offline',
  'online',
  'deleted',
  'cancelled',
  'expired',
  'removed',
]);

/** Forwards deployment lifecycle events to the notifiers of control-plane plugins; returns how to stop. */
export function notifyPlugins(container: DependencyContainer): () => void {
  const db = container.resolve(Refs.database);
  const logger = container.resolve(Refs.logger);
  const plugins = container.resolve(PluginService);
  const ingress = container.resolve(IngressService);
  const live = container.resolve(DeploymentService).history.live;
  const forward = (event: LiveEvent) => {
    if (!NOTIFIED.has(event.kind)) return;
    void (async () => {
      const row = await Deployment.query(db).findById(event.deploymentId);
      if (!row) return;
      const [view] = await deploymentViews(db, [row], (host) => ingress.url(host));
      if (!view) return;
      await plugins.notify({
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
    })().catch((err) => logger.warn({ err }, 'notifying plugins failed'));
  };
  live.on('event', forward);
  return () => live.off('event', forward);
}
