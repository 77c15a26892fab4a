import {
  type ComponentContext,
  type ComponentDefinition,
  type DeploymentIdentity,
  describeProblem,
  type KeptLogs,
  outputReferences,
  type PipelineRun,
  type RunError,
  type Runtime,
  referenceProblems,
  type ServiceSpec,
  structureProblems,
  substituteOutputs,
} from '@nullops/plugin-sdk';
import { lastLinesOf } from '../kept-logs.js';
import { fencedRuntime } from './fenced-runtime.js';
import { SecretMasker } from './secret-masker.js';

export type StepStatus =
  | 'started'
  | 'succeeded'
  | 'failed'
  | 'rolling-back'
  | 'rolled-back'
  | 'log'
  | 'waiting';

/** A step says what it waits for at most this often (a probe every 250 ms need not cross the wire each time). */
const WAITING_EVERY_MS = 1000;

export interface ExecuteOptions {
  run: PipelineRun;
  deployment: DeploymentIdentity;
  runtime: Runtime;
  components: ReadonlyMap<string, ComponentDefinition>;
  /** Why a component type is not available (its plugin failed to download or load). */
  unavailable?: ReadonlyMap<string, string>;
  /** Aborted on cancel: the run stops and rolls back. */
  signal: AbortSignal;
  onStep(nodeId: string, status: StepStatus, message?: string): void;
  /** Default per-component timeout when the component declares none. */
  defaultTimeoutMs?: number;
  /** Masks the run's secrets in everything reported (one is made from the run when not given). */
  masker?: SecretMasker;
}

export type ExecuteResult =
  | { ok: true; specs: ServiceSpec[] }
  | { ok: false; error: RunError; cancelled: boolean; keptLogs?: KeptLogs };

interface Done {
  nodeId: string;
  component: ComponentDefinition;
  params: unknown;
  outputs: Record<string, unknown> | undefined;
}

/**
 * Runs a pipeline: each node starts once all its predecessors succeeded, so independent branches
 * run in parallel. The first failure (or a cancel) aborts the other branches; then every step that
 * ran is rolled back in reverse order of completion (the failed step too, since it may have done
 * part of its work).
 *
 * Containment: components run in this process. A component that throws fails its run; one that
 * ignores its AbortSignal is abandoned at its timeout (its promise is left behind) and the run
 * proceeds to roll back. That protects the agent from plugin bugs, not from hostile plugin code.
 */
export async function executePipeline(options: ExecuteOptions): Promise<ExecuteResult> {
  const masker = options.masker ?? new SecretMasker(options.run.secretValues ?? []);
  // Everything reported leaves the agent: secrets are masked first.
  const onStep = (nodeId: string, status: StepStatus, message?: string) =>
    options.onStep(nodeId, status, message === undefined ? undefined : masker.mask(message));
  const { run, components } = options;
  const byId = new Map(run.nodes.map((n) => [n.id, n]));
  const specs: ServiceSpec[] = [];
  const outputs: Record<string, Record<string, unknown>> = {};

  // The graph (its shape, its output references) and every node's component and params are
  // checked before anything runs — the same rules the editor and the control plane applied;
  // params that reference outputs are validated once those outputs exist.
  const outputsOf = (type: string) => {
    const declared = components.get(type)?.outputs;
    return declared ? Object.keys(declared) : undefined;
  };
  for (const node of run.nodes)
    if (!components.has(node.type))
      return failed(
        node.id,
        options.unavailable?.get(node.type) ?? `no installed component provides "${node.type}"`,
      );
  const problem = [...structureProblems(run), ...referenceProblems(run, outputsOf)][0];
  if (problem) {
    const at = problem.path[0] === 'nodes' ? run.nodes[problem.path[1] as number]?.id : undefined;
    return failed(at ?? null, at ? problem.message : describeProblem(problem));
  }
  const resolved = new Map<string, { component: ComponentDefinition; params: unknown; deferred: boolean }>();
  for (const node of run.nodes) {
    const component = components.get(node.type) as ComponentDefinition;
    if (outputReferences(node.params).length) {
      resolved.set(node.id, { component, params: node.params, deferred: true });
      continue;
    }
    const params = component.params.safeParse(node.params);
    if (!params.success) return failed(node.id, invalidParams(params.error));
    resolved.set(node.id, { component, params: params.data, deferred: false });
  }

  const internal = new AbortController();
  const signal = AbortSignal.any([options.signal, internal.signal]);
  const waitingOn = new Map(run.nodes.map((n) => [n.id, 0]));
  const next = new Map<string, string[]>();
  for (const edge of run.edges) {
    waitingOn.set(edge.to, (waitingOn.get(edge.to) ?? 0) + 1);
    next.set(edge.from, [...(next.get(edge.from) ?? []), edge.to]);
  }
  const completed: Done[] = [];
  // Components run against a runtime that refuses (and undoes) new resources once the run aborts;
  // rollbacks use the plain one.
  const fenced = fencedRuntime(options.runtime, options.deployment.id, signal);
  let firstError: RunError | undefined;
  const running = new Set<Promise<void>>();

  const waitingSaid = new Map<string, number>();
  const context = (nodeId: string, stepSignal: AbortSignal, runtime: Runtime = fenced): ComponentContext => ({
    deployment: options.deployment,
    nodeId,
    runtime,
    signal: stepSignal,
    log: (line) => onStep(nodeId, 'log', line.slice(0, 4000)),
    waiting: (line) => {
      const now = Date.now();
      if (stepSignal.aborted || now - (waitingSaid.get(nodeId) ?? 0) < WAITING_EVERY_MS) return;
      waitingSaid.set(nodeId, now);
      onStep(nodeId, 'waiting', line.slice(0, 500));
    },
    outputs: { ...outputs },
    registryAuth: (image) => run.registryAuth.find((a) => image.startsWith(`${a.serveraddress}/`)),
    recordService: (spec) => {
      const at = specs.findIndex((s) => s.name === spec.name);
      if (at >= 0) specs.splice(at, 1, spec);
      else specs.push(spec);
    },
    isSecret: (value) => masker.holdsSecret(value),
  });

  const start = (nodeId: string) => {
    const {
      component,
      params: raw,
      deferred,
    } = resolved.get(nodeId) as {
      component: ComponentDefinition;
      params: unknown;
      deferred: boolean;
    };
    const timeoutMs = component.timeoutMs ?? options.defaultTimeoutMs ?? 15 * 60_000;
    // A timer of our own, held until the step ends: a bare AbortSignal.timeout() inside
    // AbortSignal.any() can be garbage-collected before it fires, and the step would never time out.
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new DOMException('the step timed out', 'TimeoutError')),
      timeoutMs,
    );
    const stepSignal = AbortSignal.any([signal, deadline.signal]);
    const entry: Done = { nodeId, component, params: raw, outputs: undefined };
    onStep(nodeId, 'started', byId.get(nodeId)?.title ?? component.title);
    const task = (async () => {
      try {
        let params = raw;
        if (deferred) {
          const parsed = component.params.safeParse(substituteOutputs(raw, outputs));
          if (!parsed.success) throw new Error(invalidParams(parsed.error));
          params = entry.params = parsed.data;
        }
        entry.outputs = await untilAborted(
          component.run(context(nodeId, stepSignal), params),
          stepSignal,
          timeoutMs,
        );
        completed.push(entry);
        outputs[nodeId] = entry.outputs ?? {};
        // An output the component declares secret (a generated password) is masked from now on.
        for (const [key, description] of Object.entries(component.outputs ?? {}))
          if (description.secret) masker.add(outputs[nodeId]?.[key]);
        onStep(nodeId, 'succeeded');
        for (const child of next.get(nodeId) ?? []) {
          const left = (waitingOn.get(child) ?? 1) - 1;
          waitingOn.set(child, left);
          if (left === 0 && !signal.aborted) start(child);
        }
      } catch (err) {
        completed.push(entry);
        const message = options.signal.aborted ? 'cancelled' : (err as Error).message || String(err);
        onStep(nodeId, 'failed', message);
        if (!firstError && !options.signal.aborted)
          firstError = { step: nodeId, message: masker.mask(message) };
        internal.abort();
      } finally {
        clearTimeout(timer);
      }
    })();
    running.add(task);
    void task.finally(() => running.delete(task));
  };

  // Cancelled before it began (during preparation): nothing starts.
  for (const [id, count] of waitingOn) if (count === 0 && !signal.aborted) start(id);
  while (running.size) await Promise.race(running);

  if (!firstError && !options.signal.aborted) return { ok: true, specs };

  // What the services printed is read before the rollback removes them: the why of a failure.
  const keptLogs = await lastLinesOf(options.runtime, options.deployment.id, [...fenced.started], masker);
  // Roll back in reverse order of completion, each with a fresh signal (the run's is aborted).
  for (const done of completed.reverse()) {
    if (!done.component.rollback) continue;
    onStep(done.nodeId, 'rolling-back');
    try {
      const rollbackSignal = AbortSignal.timeout(5 * 60_000);
      await untilAborted(
        done.component.rollback(
          context(done.nodeId, rollbackSignal, options.runtime),
          done.params,
          done.outputs,
        ),
        rollbackSignal,
        5 * 60_000,
      );
      onStep(done.nodeId, 'rolled-back');
    } catch (err) {
      onStep(done.nodeId, 'log', `rollback failed: ${(err as Error).message}`);
    }
  }
  // A call a component was still in when the run aborted ends (undone by the fence) before the
  // run does: once a run is over, nothing of it appears on the node any more.
  await fenced.idle();
  const cancelled = options.signal.aborted;
  return { ok: false, cancelled, error: firstError ?? { step: null, message: 'cancelled' }, keptLogs };

  function failed(step: string | null, message: string): ExecuteResult {
    if (step) onStep(step, 'failed', message);
    return { ok: false, cancelled: false, error: { step, message: masker.mask(message) } };
  }
}

/** The promise's result, unless the signal aborts first (then a rejection saying why). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, timeoutMs: number): Promise<T> {
  // An abandoned promise may still reject later: that must not be an unhandled rejection (which
  // would crash the agent).
  promise.catch(() => {});
  if (signal.aborted) return Promise.reject(reason(signal, timeoutMs));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(reason(signal, timeoutMs));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

function reason(signal: AbortSignal, timeoutMs: number): Error {
  const r = signal.reason as { name?: string } | undefined;
  return new Error(r?.name === 'TimeoutError' ? `timed out after ${timeoutMs / 1000} s` : 'aborted');
}

function invalidParams(error: { issues: { path: PropertyKey[]; message: string }[] }): string {
  return `invalid params: ${error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`;
}
