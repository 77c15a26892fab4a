import type { Runtime } from '@nullops/plugin-sdk';

/**
 * The runtime as a run's components see it, fenced by the run's signal. Once the run is aborted
 * (cancelled, or another branch failed) nothing new may appear: a call that would create something
 * is refused, and one that was already under way when the abort came — a pull finishing, then the
 * container starting, after the rollback already removed everything — has its result removed as
 * soon as it returns. Without this, a cancel at the wrong instant leaves a running container behind
 * a deployment the control plane calls deleted.
 */
export function fencedRuntime(
  runtime: Runtime,
  deploymentId: string,
  signal: AbortSignal,
): Runtime & { idle(): Promise<void>; started: ReadonlySet<string> } {
  const refuse = () => {
    if (signal.aborted) throw new Error('the run was cancelled: nothing new is started');
  };
  /** The services the run started (whose last lines are kept if it fails). */
  const started = new Set<string>();
  /** Creating calls under way (a component abandoned on abort may still be in one). */
  const inFlight = new Set<Promise<unknown>>();
  /** Runs a creating call; if the run was aborted meanwhile, undoes it (all of the deployment's). */
  const creating = <T>(work: () => Promise<T>): Promise<T> => {
    const call = (async () => {
      refuse();
      let result: T;
      try {
        result = await work();
      } finally {
        if (signal.aborted) await runtime.removeDeployment(deploymentId).catch(() => {});
      }
      refuse();
      return result;
    })();
    inFlight.add(call);
    void call.catch(() => {}).finally(() => inFlight.delete(call));
    return call;
  };
  return {
    started,
    /**
     * Resolves once no creating call is under way: after it, nothing of this run appears any more
     * (each call gets the run's signal, so an aborted run's calls end soon).
     */
    async idle() {
      while (inFlight.size) await Promise.allSettled([...inFlight]);
    },
    get kind() {
      return runtime.kind;
    },
    get engine() {
      return runtime.engine;
    },
    get capabilities() {
      return runtime.capabilities;
    },
    capacity: () => runtime.capacity(),
    prepareDeployment: (id, options) => creating(() => runtime.prepareDeployment(id, options)),
    pullImage: (image, auth, onProgress, pullSignal) =>
      runtime.pullImage(image, auth, onProgress, pullSignal),
    startService: (id, spec, auth, startSignal) => {
      started.add(spec.name);
      return creating(() => runtime.startService(id, spec, auth, startSignal));
    },
    inspectService: (id, name) => runtime.inspectService(id, name),
    restartService: (id, name) => creating(() => runtime.restartService(id, name)),
    stopService: (id, name) => runtime.stopService(id, name),
    removeService: (id, name) => runtime.removeService(id, name),
    serviceEndpoint: (id, name, port) => runtime.serviceEndpoint(id, name, port),
    checkHealth: (id, name, check, timeoutMs) => runtime.checkHealth(id, name, check, timeoutMs),
    exec: (id, name, command, timeoutMs) => runtime.exec(id, name, command, timeoutMs),
    runJob: (id, spec, jobSignal) => creating(() => runtime.runJob(id, spec, jobSignal)),
    logs: (id, name, options) => runtime.logs(id, name, options),
    usage: () => runtime.usage(),
    hasData: (id, spec) => runtime.hasData(id, spec),
    // The node's claim is the agent's, never a component's.
    claim: async () => {
      throw new Error('components do not claim nodes');
    },
    release: async () => {},
    listDeployments: () => runtime.listDeployments(),
    removeDeployment: (id) => runtime.removeDeployment(id),
    // Routes, watches and the runtime's lifetime are the agent's, never a component's.
    publishRoutes: async () => {
      throw new Error('components do not publish routes');
    },
    watchServices: () => {
      throw new Error('components do not watch services');
    },
    close: async () => {},
  };
}
