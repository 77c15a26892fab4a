import type {
  ActualDeployment,
  DesiredDeployment,
  EventName,
  ReconcileReport,
  Runtime,
} from '@nullops/plugin-sdk';
import type { Logger } from 'pino';
import { type DeploymentRunner, generationOf } from './deployment-runner.js';
import type { LocalDeployment } from './state-store.js';

/** Runtime events come in bursts (a die, a destroy, a network disconnect): one look after the burst. */
const SETTLE_MS = 200;

/**
 * Keeps the node as the control plane wants it, all the time — not only when it connects. On a
 * sync it removes deployments being deleted and every labelled resource nobody wants, resumes
 * pipelines that should be running, and restores live deployments. Between syncs it follows the
 * runtime's own events (and sweeps now and then, for what events miss) and restores each live
 * deployment to its spec within seconds: a service that was stopped behind NullOps' back is
 * started, one that vanished is made again, a boundary that vanished (a Kubernetes namespace) is
 * rebuilt with its policy and quota. What a user stopped stays stopped. A service whose data is
 * gone is not made again empty — the deployment is degraded until redeployed. All of it runs one
 * piece of work at a time (`serialised`), with syncs and deploys.
 */
export class Reconciler {
  private readonly dirty = new Set<string>();
  private settle: NodeJS.Timeout | undefined;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: {
      runtime: Runtime;
      runner: DeploymentRunner;
      logger: Logger;
      emit: (event: EventName, data: unknown) => void;
      /** Runs work after everything queued before it (syncs, deploys, other repairs). */
      serialised: <T>(work: () => Promise<T>) => Promise<T>;
      sweepMs: number;
    },
  ) {}

  start(): void {
    this.sweeper = setInterval(() => void this.repairAll(), this.deps.sweepMs);
    this.sweeper.unref();
  }

  stop(): void {
    clearInterval(this.sweeper);
    clearTimeout(this.settle);
  }

  /** The runtime said something about one of this node's deployments changed: look at it soon. */
  touched(deploymentId: string): void {
    if (!this.deps.runner.record(deploymentId)) return;
    this.dirty.add(deploymentId);
    this.settle ??= setTimeout(() => {
      this.settle = undefined;
      const ids = [...this.dirty];
      this.dirty.clear();
      void this.deps.serialised(async () => {
        for (const id of ids) await this.repair(id);
      });
    }, SETTLE_MS);
  }

  /** Restores every live deployment (the periodic sweep). */
  repairAll(): Promise<void> {
    return this.deps.serialised(async () => {
      for (const record of this.deps.runner.settled()) await this.repair(record.desired.id);
    });
  }

  /**
   * Makes the node match the control plane's desired state and answers with what it runs. Runs
   * inside `serialised` (the caller queues it).
   */
  async sync(
    desired: DesiredDeployment[],
  ): Promise<{ deployments: ActualDeployment[]; report: ReconcileReport }> {
    const { runtime, runner, logger } = this.deps;
    const report: ReconcileReport = { kept: [], restarted: [], recreated: [], removedDeployments: [] };
    const live = desired.filter((d) => d.state !== 'deleting');
    for (const d of desired.filter((x) => x.state === 'deleting')) {
      await runner.remove(d.id);
      report.removedDeployments.push(d.id);
    }
    const wanted = new Set(live.map((d) => d.id));
    for (const id of await runtime.listDeployments()) {
      if (!wanted.has(id) && !runner.isRunning(id)) {
        logger.info({ deployment: id }, 'removing resources of a deployment the control plane does not want');
        await runtime.removeDeployment(id);
        runner.forget(id);
        report.removedDeployments.push(id);
      }
    }
    for (const id of runner.ids()) if (!wanted.has(id) && !runner.isRunning(id)) runner.forget(id);

    const deployments: ActualDeployment[] = [];
    for (const d of live) {
      runner.remember(d.id, d);
      const record = runner.record(d.id);
      if (d.state === 'deploying' || d.state === 'pending') {
        const later = record !== undefined && generationOf(d) > generationOf(record.desired);
        // A record read back from disk lacks its env values: its outcome cannot be reported from it.
        const lost = !runner.isRunning(d.id) && (!record || record.phase === 'deploying' || record.redacted);
        // The agent restarted mid-run, never got the request, or holds an earlier run (a retry or
        // redeploy it missed): run again; components are idempotent.
        if (d.run && (lost || later)) await runner.deploy({ ...d, run: d.run });
      } else {
        const kept: LocalDeployment = record ?? { desired: d, phase: 'running', specs: [] };
        kept.desired = d;
        kept.phase = 'running';
        if (d.services.length) {
          kept.specs = d.services;
          kept.redacted = undefined;
        }
        runner.keep(kept);
        await runner
          .publishRoutes(kept)
          .catch((err) => logger.error({ deployment: d.id, err }, 'could not write the Ingress'));
        await this.restore(kept, report);
      }
      deployments.push(await runner.actual(runner.record(d.id) as LocalDeployment));
    }
    await runner.save();
    return { deployments, report };
  }

  /** Restores one settled deployment (after a runtime event, or a sweep). */
  private async repair(id: string): Promise<void> {
    const record = this.deps.runner.record(id);
    if (record?.phase !== 'running' || this.deps.runner.isRunning(id) || this.deps.runner.isRemoving(id))
      return;
    const report: ReconcileReport = { kept: [], restarted: [], recreated: [], removedDeployments: [] };
    try {
      await this.restore(record, report);
    } catch (err) {
      this.deps.logger.warn(
        { deployment: id, err: (err as Error).message },
        'could not restore a deployment',
      );
    }
    if (report.restarted.length || report.recreated.length) await this.deps.runner.save();
  }

  /**
   * Brings each service of a running deployment back to its spec: started again when it stopped
   * by itself (not by a user), made again when it vanished — unless what it kept is gone too,
   * when the deployment turns degraded instead. Each repair is told to the control plane.
   */
  private async restore(record: LocalDeployment, report: ReconcileReport): Promise<void> {
    const { runtime, runner, logger, emit } = this.deps;
    const d = record.desired;
    // Specs without their env would start broken services: wait for the control plane's.
    if (record.redacted) {
      logger.warn({ deployment: d.id }, 'no complete specs for this deployment yet');
      return;
    }
    // Read at each decision, not once: a user's stop may arrive while this runs.
    const stoppedByUser = (service: string) => (record.desired.stoppedServices ?? []).includes(service);
    const repaired = (service: string, action: 'restarted' | 'recreated', message: string) => {
      logger.warn({ deployment: d.id, service }, message);
      (action === 'restarted' ? report.restarted : report.recreated).push(`${d.name}/${service}`);
      emit('deployment.repaired', {
        deploymentId: d.id,
        service,
        action,
        message,
        at: new Date().toISOString(),
      });
    };
    for (const spec of record.specs) {
      const key = `${d.name}/${spec.name}`;
      // A delete that began meanwhile wins: nothing of it comes back.
      if (runner.isRemoving(d.id)) return;
      if (stoppedByUser(spec.name)) {
        report.kept.push(key);
        continue;
      }
      try {
        const state = await runtime.inspectService(d.id, spec.name);
        // Running, or being brought up by the runtime itself (a restart policy, a pod starting).
        if (state.status === 'running' || state.restarting || state.starting) {
          report.kept.push(key);
        } else if (state.status === 'stopped') {
          if (stoppedByUser(spec.name)) continue;
          await runtime.restartService(d.id, spec.name);
          repaired(spec.name, 'restarted', `${spec.name} had stopped; started again`);
        } else if (!(await runtime.hasData(d.id, spec))) {
          // Left as it is (told once): an empty one would pass for what later steps built.
          if (!record.degraded)
            await this.degrade(
              record,
              `${spec.name} is gone from the node and so is its data (${Object.keys(spec.volumes ?? {}).join(', ')}): making it again would give an empty ${spec.name}. Redeploy rebuilds the deployment.`,
            );
        } else {
          // Its boundary (network, namespace with policy and quota) may be gone with it.
          await runtime.prepareDeployment(d.id, {
            ...(d.budget ? { budget: d.budget } : {}),
            ...(d.egressAllow ? { egressAllow: d.egressAllow } : {}),
          });
          if (runner.isRemoving(d.id)) return;
          await runtime.startService(d.id, spec, runner.registryAuthFor(d.id, spec.image));
          repaired(spec.name, 'recreated', `${spec.name} was gone; recreated`);
        }
      } catch (err) {
        logger.error({ deployment: d.id, service: spec.name, err }, 'could not bring a service back');
      }
    }
  }

  private async degrade(record: LocalDeployment, reason: string): Promise<void> {
    record.degraded = reason;
    this.deps.logger.warn({ deployment: record.desired.id, reason }, 'deployment degraded');
    await this.deps.runner.save();
    this.deps.emit('deployment.degraded', {
      deploymentId: record.desired.id,
      reason,
      at: new Date().toISOString(),
    });
  }
}
