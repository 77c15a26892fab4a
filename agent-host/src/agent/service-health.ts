import type { EventName, Runtime, ServiceHealth, ServiceSpec, ServiceState } from '@nullops/plugin-sdk';
import type { Logger } from 'pino';

/** A running deployment as the monitor needs it: its services, and which a user stopped. */
export interface MonitoredDeployment {
  id: string;
  specs: ServiceSpec[];
  stopped: string[];
}

/** A restart within this long counts as "restarting" (a crash loop), not as running again. */
const RECENT_RESTART_MS = 60_000;
const PROBE_TIMEOUT_MS = 3_000;
/**
 * A look at one deployment that takes longer than this (an engine that stopped answering) is given
 * up: the looks after it wait in one queue, and must not wait for ever.
 */
const CHECK_TIMEOUT_MS = 30_000;
/** Engine events come in bursts (die, then start): one look per deployment after the burst. */
const SETTLE_MS = 100;

/**
 * Watches the health of this node's running deployments and tells the control plane when it
 * changes: each service running, unhealthy (failing its health check), restarting (with how
 * often), crashed (with its exit code), stopped or missing. Changes come from the runtime's own
 * events where it has them (`watchServices`: a crash is seen at once); a sweep every
 * `sweepMs` runs the services' health checks and, for runtimes without events, inspects them.
 */
export class ServiceHealthMonitor {
  /** Each deployment's last report (what the control plane has). */
  private readonly reported = new Map<string, { key: string; services: ServiceHealth[] }>();
  /**
   * Each service's last state from the runtime (dropped when an event says it changed), its
   * restart count then, when that count last grew, and its last exit code (a crash-looping
   * service caught running again still shows why it restarts).
   */
  private readonly seen = new Map<
    string,
    { state: ServiceState | undefined; restartCount: number; restartedAt: number; exitCode?: number }
  >();
  /** Bumped by each engine event about a service: a look begun before it must not be kept. */
  private readonly changes = new Map<string, number>();
  private readonly dirty = new Set<string>();
  private settle: NodeJS.Timeout | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  /** Sweeps and event-driven checks run one after another, never over each other. */
  private queue: Promise<void> = Promise.resolve();
  private sweepQueued = false;

  constructor(
    private readonly deps: {
      runtime: Runtime;
      deployments: () => MonitoredDeployment[];
      emit: (event: EventName, data: unknown) => void;
      sweepMs: number;
      logger: Logger;
      /**
       * Masks a deployment's secrets in a reason (its last log lines may hold one); undefined when
       * the agent does not know them yet — the reason is then withheld, never sent raw.
       */
      mask: (deploymentId: string, text: string) => string | undefined;
    },
  ) {}

  /** Starts the sweep; runtime events arrive through `changed` (the agent host watches the runtime). */
  start(): void {
    this.sweeper = setInterval(() => this.sweep(), this.deps.sweepMs);
    this.sweeper.unref();
    this.sweep();
  }

  stop(): void {
    clearInterval(this.sweeper);
    clearTimeout(this.settle);
  }

  /** The runtime said one of a deployment's services may have changed. */
  changed(deploymentId: string, service: string): void {
    this.invalidate(deploymentId, [service]);
  }

  /** A control plane (re)connected: it hears every deployment's health again. */
  resend(): void {
    for (const [deploymentId, report] of this.reported) this.send(deploymentId, report.services);
  }

  /**
   * Checks now (after a day-2 action, say) instead of at the next event or sweep. A user's restart
   * (`fresh`) is a new start: earlier crashes no longer make it "restarting".
   */
  touch(deploymentId: string, options: { fresh?: boolean } = {}): void {
    const keys = [...this.seen.keys()].filter((key) => key.startsWith(`${deploymentId}/`));
    if (options.fresh)
      for (const key of keys) {
        const seen = this.seen.get(key);
        if (seen) seen.restartedAt = 0;
      }
    const services = keys.map((key) => key.slice(deploymentId.length + 1));
    this.invalidate(deploymentId, services);
  }

  private invalidate(deploymentId: string, services: string[]) {
    for (const service of services) {
      const key = `${deploymentId}/${service}`;
      const seen = this.seen.get(key);
      if (seen) seen.state = undefined;
      this.changes.set(key, (this.changes.get(key) ?? 0) + 1);
    }
    this.dirty.add(deploymentId);
    this.settle ??= setTimeout(() => {
      this.settle = undefined;
      this.enqueue(async () => {
        const ids = new Set(this.dirty);
        this.dirty.clear();
        for (const d of this.deps.deployments()) if (ids.has(d.id)) await this.check(d);
      });
    }, SETTLE_MS);
  }

  private sweep() {
    if (this.sweepQueued) return;
    this.sweepQueued = true;
    this.enqueue(async () => {
      this.sweepQueued = false;
      const deployments = this.deps.deployments();
      const live = new Set(deployments.map((d) => d.id));
      for (const id of this.reported.keys()) if (!live.has(id)) this.forget(id);
      for (const d of deployments) await this.check(d);
    });
  }

  private enqueue(work: () => Promise<void>) {
    this.queue = this.queue
      .then(work)
      .catch((err) => this.deps.logger.warn({ err: (err as Error).message }, 'service health check failed'));
  }

  private forget(deploymentId: string) {
    this.reported.delete(deploymentId);
    for (const map of [this.seen, this.changes])
      for (const key of map.keys()) if (key.startsWith(`${deploymentId}/`)) map.delete(key);
  }

  private async check(d: MonitoredDeployment) {
    let services: ServiceHealth[];
    let timer: NodeJS.Timeout | undefined;
    try {
      services = await Promise.race([
        Promise.all(d.specs.map((spec) => this.healthOf(d, spec))),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no answer from the runtime in ${CHECK_TIMEOUT_MS / 1000} s`)),
            CHECK_TIMEOUT_MS,
          );
        }),
      ]);
    } catch (err) {
      // Looked at again at the next sweep, from the runtime (not from what was seen before).
      for (const spec of d.specs) {
        const seen = this.seen.get(`${d.id}/${spec.name}`);
        if (seen) seen.state = undefined;
      }
      this.deps.logger.warn(
        { deployment: d.id, err: (err as Error).message },
        'could not check service health',
      );
      return;
    } finally {
      clearTimeout(timer);
    }
    const key = JSON.stringify(services.map(({ since: _, ...rest }) => rest));
    if (this.reported.get(d.id)?.key === key) return;
    this.reported.set(d.id, { key, services });
    this.send(d.id, services);
  }

  private masked(deploymentId: string, reason: string): string {
    return (
      this.deps.mask(deploymentId, reason) ??
      'details withheld until the node has this deployment’s secrets from the control plane'
    );
  }

  private send(deploymentId: string, services: ServiceHealth[]) {
    this.deps.emit('services.health', { deploymentId, at: new Date().toISOString(), services });
  }

  private async healthOf(d: MonitoredDeployment, spec: ServiceSpec): Promise<ServiceHealth> {
    const { runtime } = this.deps;
    const key = `${d.id}/${spec.name}`;
    const before = this.seen.get(key);
    const change = this.changes.get(key);
    // With engine events, a service is inspected again only when an event says it changed.
    const state =
      before?.state && runtime.capabilities.events
        ? before.state
        : await runtime.inspectService(d.id, spec.name);
    const restartCount = state.restartCount ?? 0;
    const grew = before !== undefined && restartCount > before.restartCount;
    // Seen for the first time having restarted already (it crashed before the first look, or while
    // the engine could not be asked): it restarted when it last started.
    const restartedAt = grew
      ? Date.now()
      : before
        ? before.restartedAt
        : restartCount > 0
          ? Date.parse(state.startedAt ?? '') || Date.now()
          : 0;
    // An event that arrived while it was being inspected makes this look old: the next one counts.
    const current = this.changes.get(key) === change;
    const exitCode = state.exitCode ?? before?.exitCode;
    this.seen.set(key, {
      state: current ? state : undefined,
      restartCount,
      restartedAt,
      ...(exitCode !== undefined ? { exitCode } : {}),
    });
    const previous = this.reported.get(d.id)?.services.find((s) => s.name === spec.name);
    const health = (condition: ServiceHealth['condition'], reason?: string): ServiceHealth => ({
      name: spec.name,
      condition,
      restartCount,
      ...(exitCode !== undefined && condition !== 'running' && condition !== 'unhealthy' ? { exitCode } : {}),
      ...(reason ? { reason: this.masked(d.id, reason).slice(0, 1000) } : {}),
      since: previous?.condition === condition ? previous.since : new Date().toISOString(),
    });
    if (state.status === 'missing') return health('missing', `${spec.name} is gone from the node`);
    if (state.restarting || (state.status === 'running' && Date.now() - restartedAt < RECENT_RESTART_MS))
      return health('restarting', state.reason);
    // Not up yet and on its way (a pod scheduled, its image pulled): not crashed.
    if (state.starting) return health('unhealthy', state.reason ?? `${spec.name} is starting`);
    if (state.status === 'stopped')
      return d.stopped.includes(spec.name) ? health('stopped') : health('crashed', state.reason);
    if (!spec.healthCheck) return health('running');
    try {
      const result = await runtime.checkHealth(d.id, spec.name, spec.healthCheck, PROBE_TIMEOUT_MS);
      return result.healthy ? health('running') : health('unhealthy', result.detail);
    } catch (err) {
      return health('unhealthy', (err as Error).message);
    }
  }
}
