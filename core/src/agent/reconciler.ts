import type {
  ActualDeployment,
  DesiredDeployment,
  ReconcileReport,
  Runtime,
  ServiceState,
} from '@nullops/plugin-sdk';
import type { Logger } from 'pino';

/**
 * Makes the node match the control plane's desired state: services of live deployments that died
 * are restarted (or recreated when gone), deployments being deleted and every labelled resource
 * of a deployment nobody wants (orphans, zombies, leftovers of failed runs) are removed. Running
 * services are only inspected, never touched.
 */
export async function reconcile(
  runtime: Runtime,
  desired: DesiredDeployment[],
  logger: Logger,
): Promise<{ deployments: ActualDeployment[]; report: ReconcileReport }> {
  const report: ReconcileReport = { kept: [], restarted: [], recreated: [], removedDeployments: [] };
  const live = desired.filter((d) => d.state !== 'deleting');
  const wanted = new Set(live.map((d) => d.id));

  for (const id of await runtime.listDeployments()) {
    if (!wanted.has(id)) {
      logger.info({ deployment: id }, 'removing resources of a deployment the control plane does not want');
      await runtime.removeDeployment(id);
      report.removedDeployments.push(id);
    }
  }

  const deployments: ActualDeployment[] = [];
  for (const deployment of live) {
    const services: ServiceState[] = [];
    for (const spec of deployment.services) {
      const key = `${deployment.name}/${spec.name}`;
      let state = await runtime.inspectService(deployment.id, spec.name);
      try {
        if (state.status === 'stopped') {
          logger.warn(
            { deployment: deployment.id, service: spec.name },
            'service had stopped; restarting it',
          );
          state = await runtime.restartService(deployment.id, spec.name);
          report.restarted.push(key);
        } else if (state.status === 'missing') {
          logger.warn({ deployment: deployment.id, service: spec.name }, 'service is gone; recreating it');
          state = await runtime.startService(deployment.id, spec);
          report.recreated.push(key);
        } else {
          report.kept.push(key);
        }
      } catch (err) {
        logger.error(
          { deployment: deployment.id, service: spec.name, err },
          'could not bring a service back',
        );
      }
      services.push(state);
    }
    deployments.push({ id: deployment.id, services });
  }
  return { deployments, report };
}
