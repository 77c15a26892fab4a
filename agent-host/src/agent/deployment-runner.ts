import type {
  ActualDeployment,
  DesiredDeployment,
  EventName,
  ReconcileReport,
  Runtime,
  ServiceSpec,
  ServiceState,
} from '@nullops/plugin-sdk';
import type { Logger } from 'pino';
import type { PluginHost } from '../plugins/plugin-host.js';
import { type ExecuteResult, executePipeline } from './pipeline/executor.js';
import { SecretMasker } from './pipeline/secret-masker.js';
import type { MonitoredDeployment } from './service-health.js';
import type { LocalDeployment } from './state-store.js';

const MAX_LOG_STREAMS = 50;

/**
 * The agent's deployments: runs their pipelines, keeps what they started alive, removes them on
 * request, and reconciles the node with the control plane's desired state. Runs survive a lost
 * connection: the outcome is reported on the next sync.
 */
export class DeploymentRunner {
  private readonly records = new Map<string, LocalDeployment>();
  private readonly active = new Map<string, { controller: AbortController; done: Promise<void> }>();
  private readonly logStreams = new Map<string, AbortController>();
  /** Each deployment's secrets, from its run: masked in what leaves the agent. Memory only. */
  private readonly maskers = new Map<string, SecretMasker>();

  constructor(
    private readonly deps: {
      runtime: Runtime;
      plugins: PluginHost;
      logger: Logger;
      emit: (event: EventName, data: unknown) => void;
      persist: (records: LocalDeployment[]) => Promise<void>;
    },
  ) {}

  /** The port of a service of one of this node's live deployments (the edge serves only those). */
  servicePort(deploymentId: string, service: string): number | undefined {
    const record = this.records.get(deploymentId);
    if (!record || record.phase === 'failed') return undefined;
    return record.specs.find((s) => s.name === service)?.port;
  }

  /** The deployments whose pipeline has finished and whose services should be running. */
  running(): MonitoredDeployment[] {
    return [...this.records.values()]
      .filter((r) => r.phase === 'running' && !this.active.has(r.desired.id))
      .map((r) => ({ id: r.desired.id, specs: r.specs, stopped: r.desired.stoppedServices ?? [] }));
  }

  load(records: LocalDeployment[]): void {
    for (const record of records) this.records.set(record.desired.id, record);
  }

  private save() {
    return this.deps.persist([...this.records.values()]);
  }

  /** Starts the deployment's pipeline unless it is already running. */
  async deploy(
    desired: DesiredDeployment & { run: NonNullable<DesiredDeployment['run']> },
  ): Promise<{ accepted: boolean }> {
    if (this.active.has(desired.id)) return { accepted: true };
    const record: LocalDeployment = { desired, phase: 'deploying', specs: [] };
    this.records.set(desired.id, record);
    await this.save();
    this.startRun(record);
    return { accepted: true };
  }

  private startRun(record: LocalDeployment) {
    const { runtime, plugins, logger, emit } = this.deps;
    const { desired } = record;
    const run = desired.run;
    if (!run) return;
    const controller = new AbortController();
    const log = logger.child({ deployment: desired.id });
    const masker = new SecretMasker(run.secretValues ?? []);
    this.maskers.set(desired.id, masker);
    log.info({ steps: run.nodes.length }, 'pipeline started');
    const execute = async (): Promise<ExecuteResult> => {
      // The deployment's boundary (capped at its budget) first, then the run's plugin releases (a
      // pinned release this node lacks is downloaded). Either failing fails the run, in plain words.
      try {
        await runtime.prepareDeployment(desired.id, run.budget ? { budget: run.budget } : {});
      } catch (err) {
        const message = masker.mask(
          `could not prepare the deployment on this node: ${(err as Error).message}`,
        );
        return { ok: false, cancelled: controller.signal.aborted, error: { step: null, message } };
      }
      const { components, unavailable } = await plugins.componentsFor(run);
      return executePipeline({
        run,
        deployment: { id: desired.id, name: desired.name },
        runtime,
        components,
        unavailable,
        masker,
        signal: controller.signal,
        onStep: (nodeId, status, message) =>
          emit('pipeline.step', {
            deploymentId: desired.id,
            nodeId,
            status,
            message,
            at: new Date().toISOString(),
          }),
      });
    };
    const done = execute()
      .then(async (result) => {
        if (result.ok) {
          record.phase = 'running';
          record.specs = result.specs;
          record.error = undefined;
          await this.publishRoutes(record).catch((err) =>
            log.error({ err }, 'could not write the Ingress of the deployment'),
          );
        } else {
          // Components rolled back what they know; the labels catch anything else they left.
          await runtime
            .removeDeployment(desired.id)
            .catch((err) => log.error({ err }, 'cleanup after rollback failed'));
          record.phase = 'failed';
          record.specs = [];
          record.error = result.error;
          if (result.cancelled) {
            log.info('pipeline cancelled and rolled back');
            return;
          }
        }
        log.info({ phase: record.phase, error: record.error }, 'pipeline finished');
        await this.save();
        emit('deployment.finished', await this.actual(record));
      })
      .catch((err) => log.error({ err }, 'pipeline crashed'))
      .finally(() => this.active.delete(desired.id));
    this.active.set(desired.id, { controller, done });
  }

  /** Aborts (and rolls back) a running pipeline, then removes everything the deployment owns. */
  async remove(id: string): Promise<{ removed: boolean }> {
    const active = this.active.get(id);
    if (active) {
      active.controller.abort();
      await active.done;
    }
    await this.deps.runtime.removeDeployment(id);
    const existed = this.records.delete(id);
    this.maskers.delete(id);
    await this.save();
    return { removed: existed || Boolean(active) };
  }

  /**
   * Makes the node match the desired state: removes deployments being deleted and every labelled
   * resource nobody wants, resumes pipelines that should be running, and brings back services of
   * live deployments that died. Running services are only inspected.
   */
  async sync(
    desired: DesiredDeployment[],
  ): Promise<{ deployments: ActualDeployment[]; report: ReconcileReport }> {
    const { runtime, logger } = this.deps;
    const report: ReconcileReport = { kept: [], restarted: [], recreated: [], removedDeployments: [] };
    const live = desired.filter((d) => d.state !== 'deleting');
    for (const d of desired.filter((x) => x.state === 'deleting')) {
      await this.remove(d.id);
      report.removedDeployments.push(d.id);
    }
    const wanted = new Set(live.map((d) => d.id));
    for (const id of await runtime.listDeployments()) {
      if (!wanted.has(id) && !this.active.has(id)) {
        logger.info({ deployment: id }, 'removing resources of a deployment the control plane does not want');
        await runtime.removeDeployment(id);
        this.records.delete(id);
        report.removedDeployments.push(id);
      }
    }
    for (const id of [...this.records.keys()])
      if (!wanted.has(id) && !this.active.has(id)) this.records.delete(id);

    const deployments: ActualDeployment[] = [];
    for (const d of live) {
      const record = this.records.get(d.id);
      if (d.state === 'deploying' || d.state === 'pending') {
        // A record read back from disk lacks its env values: its outcome cannot be reported from it.
        if (!this.active.has(d.id) && (!record || record.phase === 'deploying' || record.redacted) && d.run) {
          // The agent restarted mid-run (or never got the request): run again; components are idempotent.
          const fresh: LocalDeployment = { desired: d, phase: 'deploying', specs: [] };
          this.records.set(d.id, fresh);
          this.startRun(fresh);
        }
      } else {
        const kept: LocalDeployment = record ?? { desired: d, phase: 'running', specs: [] };
        kept.desired = d;
        kept.phase = 'running';
        if (d.services.length) {
          kept.specs = d.services;
          kept.redacted = undefined;
        }
        this.records.set(d.id, kept);
        // Specs without their env would start broken services: wait for the control plane's.
        if (kept.redacted) logger.warn({ deployment: d.id }, 'no complete specs for this deployment yet');
        else await this.keepAlive(d, kept.specs, report);
      }
      deployments.push(await this.actual(this.records.get(d.id) as LocalDeployment));
    }
    await this.save();
    return { deployments, report };
  }

  /** Ingress objects for clusters with an ingress controller (the environment asks for them). */
  private async publishRoutes(record: LocalDeployment) {
    const { ingress, id, name } = record.desired;
    if (!ingress || !this.deps.runtime.publishRoutes) return;
    const routes = record.specs
      .filter((s) => s.port)
      .map((s) => ({ service: s.name, host: `${s.name}.${name}.${ingress.domain}`, port: s.port as number }));
    await this.deps.runtime.publishRoutes(id, routes, ingress.className);
  }

  /**
   * A day-2 action on one service of a running deployment. What the user stopped stays stopped:
   * the deployment's desired state says so from now on (and the control plane's next sync too).
   */
  async control(params: {
    deploymentId: string;
    service: string;
    action: 'restart' | 'stop' | 'start';
  }): Promise<{ service: ServiceState }> {
    const { runtime, logger } = this.deps;
    const record = this.records.get(params.deploymentId);
    if (record?.phase !== 'running' || this.active.has(params.deploymentId))
      throw new Error('the deployment is not running on this node');
    if (!record.specs.some((s) => s.name === params.service))
      throw new Error(`the deployment has no service ${params.service}`);
    const stopped = new Set(record.desired.stoppedServices ?? []);
    let service =
      params.action === 'stop'
        ? await runtime.stopService(params.deploymentId, params.service)
        : await runtime.restartService(params.deploymentId, params.service);
    // Started means running again (a Kubernetes pod takes a moment), or the reason it is not.
    for (const until = Date.now() + 90_000; params.action !== 'stop' && service.status !== 'running'; ) {
      if (Date.now() > until) break;
      await new Promise((r) => setTimeout(r, 250));
      service = await runtime.inspectService(params.deploymentId, params.service);
    }
    if (params.action === 'stop') stopped.add(params.service);
    else stopped.delete(params.service);
    record.desired = { ...record.desired, stoppedServices: [...stopped] };
    await this.save();
    logger.info(
      { deployment: params.deploymentId, service: params.service, action: params.action },
      'service action',
    );
    return { service };
  }

  /** Dumps or restores a PostgreSQL service of a running deployment (see database-transfer). */
  async database<T>(
    target: { deploymentId: string; service: string },
    work: (runtime: Runtime) => Promise<T>,
  ): Promise<T> {
    const record = this.records.get(target.deploymentId);
    if (record?.phase !== 'running' || this.active.has(target.deploymentId))
      throw new Error('the deployment is not running on this node');
    if (!record.specs.some((s) => s.name === target.service))
      throw new Error(`the deployment has no service ${target.service}`);
    return work(this.deps.runtime);
  }

  private async keepAlive(d: DesiredDeployment, specs: ServiceSpec[], report: ReconcileReport) {
    const { runtime, logger } = this.deps;
    const record = this.records.get(d.id);
    if (record)
      await this.publishRoutes(record).catch((err) =>
        logger.error({ deployment: d.id, err }, 'could not write the Ingress'),
      );
    const stopped = new Set(d.stoppedServices ?? []);
    for (const spec of specs) {
      const key = `${d.name}/${spec.name}`;
      if (stopped.has(spec.name)) {
        report.kept.push(key);
        continue;
      }
      try {
        const state = await runtime.inspectService(d.id, spec.name);
        if (state.status === 'stopped') {
          logger.warn({ deployment: d.id, service: spec.name }, 'service had stopped; restarting it');
          await runtime.restartService(d.id, spec.name);
          report.restarted.push(key);
        } else if (state.status === 'missing') {
          logger.warn({ deployment: d.id, service: spec.name }, 'service is gone; recreating it');
          await runtime.startService(d.id, spec);
          report.recreated.push(key);
        } else {
          report.kept.push(key);
        }
      } catch (err) {
        logger.error({ deployment: d.id, service: spec.name, err }, 'could not bring a service back');
      }
    }
  }

  private async actual(record: LocalDeployment): Promise<ActualDeployment> {
    const services = await Promise.all(
      record.specs.map((s) => this.deps.runtime.inspectService(record.desired.id, s.name)),
    );
    return {
      id: record.desired.id,
      phase: record.phase,
      services,
      specs: record.specs,
      ...(record.error ? { error: record.error } : {}),
    };
  }

  openLogs(params: {
    streamId: string;
    deploymentId: string;
    service: string;
    follow: boolean;
    tail: number;
  }): { opened: boolean } {
    if (this.logStreams.size >= MAX_LOG_STREAMS || this.logStreams.has(params.streamId))
      return { opened: false };
    const controller = new AbortController();
    this.logStreams.set(params.streamId, controller);
    void (async () => {
      let reason: string | undefined;
      try {
        const lines = this.deps.runtime.logs(params.deploymentId, params.service, {
          follow: params.follow,
          tail: params.tail,
          signal: controller.signal,
        });
        const masker = this.maskers.get(params.deploymentId);
        for await (const line of lines)
          this.deps.emit('log.line', {
            streamId: params.streamId,
            ...line,
            line: masker ? masker.mask(line.line) : line.line,
          });
      } catch (err) {
        reason = (err as Error).message;
      } finally {
        this.logStreams.delete(params.streamId);
        this.deps.emit('log.end', { streamId: params.streamId, ...(reason ? { reason } : {}) });
      }
    })();
    return { opened: true };
  }

  closeLogs(streamId: string): { closed: boolean } {
    const stream = this.logStreams.get(streamId);
    stream?.abort();
    return { closed: Boolean(stream) };
  }

  closeAllLogs(): void {
    for (const stream of this.logStreams.values()) stream.abort();
  }
}
