import type { Runtime, ServiceState } from '@nullops/plugin-sdk';
import type { Logger } from 'pino';
import type { DeploymentRunner } from './deployment-runner.js';

/** Restart, stop or start one service of a running deployment (a day-2 action the control plane queued). */
export class ServiceControl {
  constructor(private readonly deps: { runtime: Runtime; runner: DeploymentRunner; logger: Logger }) {}

  /**
   * A day-2 action on one service of a running deployment. What the user stopped stays stopped:
   * the deployment's desired state says so from now on (and the control plane's next sync too).
   */
  async run(params: {
    deploymentId: string;
    service: string;
    action: 'restart' | 'stop' | 'start';
  }): Promise<{ service: ServiceState }> {
    const { runtime, runner, logger } = this.deps;
    const record = runner.record(params.deploymentId);
    if (record?.phase !== 'running' || runner.isRunning(params.deploymentId))
      throw new Error('the deployment is not running on this node');
    const spec = record.specs.find((s) => s.name === params.service);
    if (!spec) throw new Error(`the deployment has no service ${params.service}`);
    // What the user wants is recorded first: the reconcile, seeing the service stop, must not
    // start it again meanwhile.
    const stopped = new Set(record.desired.stoppedServices ?? []);
    if (params.action === 'stop') stopped.add(params.service);
    else stopped.delete(params.service);
    record.desired = { ...record.desired, stoppedServices: [...stopped] };
    // Gone from the node (removed behind NullOps' back): starting it means making it again — unless
    // what it kept is gone too, when only a redeploy brings back what later steps built.
    const gone =
      params.action !== 'stop' &&
      (await runtime.inspectService(record.desired.id, spec.name)).status === 'missing';
    if (gone && !(await runtime.hasData(record.desired.id, spec)))
      throw new Error(
        `${spec.name} is gone from the node and so is its data: redeploy the deployment to rebuild it`,
      );
    let service =
      params.action === 'stop'
        ? await runtime.stopService(params.deploymentId, params.service)
        : gone
          ? await runtime.startService(
              params.deploymentId,
              spec,
              runner.registryAuthFor(params.deploymentId, spec.image),
            )
          : await runtime.restartService(params.deploymentId, params.service);
    // Started means running again (a Kubernetes pod takes a moment), or the reason it is not.
    for (const until = Date.now() + 90_000; params.action !== 'stop' && service.status !== 'running'; ) {
      if (Date.now() > until) break;
      await new Promise((r) => setTimeout(r, 250));
      service = await runtime.inspectService(params.deploymentId, params.service);
    }
    await runner.save();
    logger.info(
      { deployment: params.deploymentId, service: params.service, action: params.action },
      'service action',
    );
    return { service };
  }
}
