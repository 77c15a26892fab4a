import type { PluginHost } from '@nullops/kernel/plugins';
import type {
  ActualDeployment,
  DesiredDeployment,
  EventName,
  KeptLogs,
  RegistryAuth,
  Runtime,
} from '@nullops/plugin-sdk';
import type { Logger } from 'pino';
import { lastLinesOf } from './kept-logs.js';
import { type ExecuteResult, executePipeline } from './pipeline/executor.js';
import { SecretMasker } from './pipeline/secret-masker.js';
import type { MonitoredDeployment } from './service-health.js';
import type { LocalDeployment } from './state-store.js';

/**
 * The agent's deployments: runs their pipelines, removes them on request, and keeps the record of
 * each (what was asked, where its run stands, what it started). Runs survive a lost connection:
 * the outcome is reported on the next sync. Keeping them as recorded is the reconciler's work.
 */
export class DeploymentRunner {
  private readonly records = new Map<string, LocalDeployment>();
  private readonly active = new Map<string, { controller: AbortController; done: Promise<void> }>();
  private readonly removing = new Set<string>();
  /**
   * Each deployment's secrets (its run's, and those the control plane sends with its desired
   * state): masked in everything that leaves the agent. Memory only.
   */
  private readonly maskers = new Map<string, SecretMasker>();
  /** Each live deployment's registry credentials, for bringing a service back. Memory only. */
  private readonly credentials = new Map<string, RegistryAuth[]>();

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
    return this.settled().map((r) => ({
      id: r.desired.id,
      specs: r.specs,
      stopped: r.desired.stoppedServices ?? [],
    }));
  }

  /** Records of deployments whose pipeline has finished running (none of it is in flight). */
  settled(): LocalDeployment[] {
    return [...this.records.values()].filter(
      (r) => r.phase === 'running' && !this.active.has(r.desired.id) && !this.removing.has(r.desired.id),
    );
  }

  /** Being removed: nothing may bring any of it back. */
  isRemoving(id: string): boolean {
    return this.removing.has(id);
  }

  load(records: LocalDeployment[]): void {
    for (const record of records) this.records.set(record.desired.id, record);
  }

  record(id: string): LocalDeployment | undefined {
    return this.records.get(id);
  }

  ids(): string[] {
    return [...this.records.keys()];
  }

  isRunning(id: string): boolean {
    return this.active.has(id);
  }

  keep(record: LocalDeployment): void {
    this.records.set(record.desired.id, record);
  }

  forget(id: string): void {
    this.records.delete(id);
    this.maskers.delete(id);
    this.credentials.delete(id);
  }

  save(): Promise<void> {
    return this.deps.persist([...this.records.values()]);
  }

  /** The masker of a deployment: its secrets never leave the agent (none known yet: nothing is). */
  masker(id: string): SecretMasker | undefined {
    return this.maskers.get(id);
  }

  /** What the control plane sent with a live deployment: its secret values and registry credentials. */
  remember(id: string, secrets: { secretValues?: string[]; registryAuth?: RegistryAuth[] }): void {
    if (secrets.secretValues) {
      const masker = this.maskers.get(id) ?? new SecretMasker([]);
      for (const value of secrets.secretValues) masker.add(value);
      this.maskers.set(id, masker);
    }
    if (secrets.registryAuth) this.credentials.set(id, secrets.registryAuth);
  }

  registryAuthFor(id: string, image: string): RegistryAuth | undefined {
    return this.credentials.get(id)?.find((a) => image.startsWith(`${a.serveraddress}/`));
  }

  /**
   * Starts the deployment's pipeline unless this very run is already under way. A run of a later
   * generation (a retry, a redeploy) starts from nothing: whatever the earlier one left — a run
   * still going, its services — is removed first.
   */
  async deploy(
    desired: DesiredDeployment & { run: NonNullable<DesiredDeployment['run']> },
  ): Promise<{ accepted: boolean }> {
    const earlier = this.records.get(desired.id);
    if (earlier && generationOf(desired) > generationOf(earlier.desired)) {
      await this.cancel(desired.id);
      await this.deps.runtime.removeDeployment(desired.id);
    } else if (this.active.has(desired.id)) return { accepted: true };
    const record: LocalDeployment = { desired, phase: 'deploying', specs: [] };
    this.records.set(desired.id, record);
    await this.save();
    this.startRun(record);
    return { accepted: true };
  }

  private startRun(record: LocalDeployment): void {
    const { runtime, plugins, logger, emit } = this.deps;
    const { desired } = record;
    const run = desired.run;
    if (!run) return;
    const controller = new AbortController();
    const log = logger.child({ deployment: desired.id });
    const masker = new SecretMasker(run.secretValues ?? []);
    this.maskers.set(desired.id, masker);
    this.credentials.set(desired.id, run.registryAuth);
    log.info({ steps: run.nodes.length }, 'pipeline started');
    const execute = async (): Promise<ExecuteResult> => {
      // The deployment's boundary (capped at its budget) first, then the run's plugin releases (a
      // pinned release this node lacks is downloaded). Either failing fails the run, in plain words.
      try {
        await runtime.prepareDeployment(desired.id, {
          ...(run.budget ? { budget: run.budget } : {}),
          ...(run.egressAllow ? { egressAllow: run.egressAllow } : {}),
        });
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
          record.degraded = undefined;
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
          record.keptLogs = result.keptLogs;
          if (result.cancelled) {
            log.info('pipeline cancelled and rolled back');
            return;
          }
        }
        log.info({ phase: record.phase, error: record.error }, 'pipeline finished');
        await this.save();
        const keptLogs = record.phase === 'failed' ? record.keptLogs : undefined;
        emit('deployment.finished', {
          ...(await this.actual(record)),
          ...(keptLogs?.length ? { keptLogs } : {}),
        });
      })
      .catch((err) => log.error({ err }, 'pipeline crashed'))
      .finally(() => this.active.delete(desired.id));
    this.active.set(desired.id, { controller, done });
  }

  /** Aborts a running pipeline (it rolls back) and waits until it has ended. */
  private async cancel(id: string): Promise<boolean> {
    const active = this.active.get(id);
    if (!active) return false;
    active.controller.abort();
    await active.done;
    return true;
  }

  /** Aborts (and rolls back) a running pipeline, then removes everything the deployment owns. */
  async remove(id: string): Promise<{ removed: boolean; keptLogs?: KeptLogs }> {
    this.removing.add(id);
    try {
      const cancelled = await this.cancel(id);
      // Its services' last lines, read before they go (a cancelled run read them before its rollback).
      const record = this.records.get(id);
      const keptLogs =
        record?.phase === 'running'
          ? await lastLinesOf(
              this.deps.runtime,
              id,
              record.specs.map((s) => s.name),
              this.maskers.get(id) ?? new SecretMasker(record.desired.run?.secretValues ?? []),
            )
          : cancelled
            ? record?.keptLogs
            : undefined;
      await this.deps.runtime.removeDeployment(id);
      const existed = this.records.has(id);
      this.forget(id);
      await this.save();
      return { removed: existed || cancelled, ...(keptLogs?.length ? { keptLogs } : {}) };
    } finally {
      this.removing.delete(id);
    }
  }

  /** Ingress objects for clusters with an ingress controller (the environment asks for them). */
  async publishRoutes(record: LocalDeployment): Promise<void> {
    const { ingress, id, name } = record.desired;
    if (!ingress || !this.deps.runtime.capabilities.ingress) return;
    const routes = record.specs
      .filter((s) => s.port)
      .map((s) => ({ service: s.name, host: `${s.name}.${name}.${ingress.domain}`, port: s.port as number }));
    await this.deps.runtime.publishRoutes(id, routes, ingress.className);
  }

  async actual(record: LocalDeployment): Promise<ActualDeployment> {
    const services = await Promise.all(
      record.specs.map((s) => this.deps.runtime.inspectService(record.desired.id, s.name)),
    );
    return {
      id: record.desired.id,
      phase: record.phase,
      services,
      specs: record.specs,
      ...(record.error ? { error: record.error } : {}),
      ...(record.degraded ? { degraded: record.degraded } : {}),
    };
  }
}

/** Which run of its deployment a desired state is (1 for agents of protocol 1's time). */
export const generationOf = (desired: DesiredDeployment): number => desired.generation ?? 1;
