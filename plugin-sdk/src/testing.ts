import type { z } from 'zod';
import type { ComponentContext, ComponentDefinition, DeploymentIdentity } from './component.js';
import { NO_CAPABILITIES, type Runtime, type ServiceSpec } from './runtime.js';

/**
 * Helpers for a plugin's own tests (`@nullops/plugin-sdk/testing`, since 1.7): run a component the
 * way an agent does, against a runtime the test gives. The plugin template's tests show how; a
 * plugin's end-to-end proof is installing it into a NullOps and deploying with it.
 */

/** What one run of a component did. */
export interface ComponentRun<O> {
  ok: boolean;
  /** What `run` returned, when it succeeded. */
  outputs?: O;
  /** Why it failed: invalid params, or what `run` threw (its rollback ran then). */
  error?: string;
  /** `log` and `waiting` lines, in order, as `log <line>` / `waiting <line>`. */
  lines: string[];
  /** The services it recorded for the agent to keep alive. */
  services: ServiceSpec[];
}

/**
 * Runs a component as an agent does: params validated (defaults filled) by its schema, `run` with
 * a context, `rollback` if `run` throws. `${output:…}` references in params must already be
 * resolved (give `outputs` for components that read `ctx.outputs`).
 */
export async function runComponent<P extends z.ZodType, O extends Record<string, unknown>>(
  component: ComponentDefinition<P, O>,
  params: unknown,
  options: {
    runtime: Runtime;
    deployment?: DeploymentIdentity;
    nodeId?: string;
    outputs?: Record<string, Record<string, unknown>>;
    signal?: AbortSignal;
  },
): Promise<ComponentRun<O>> {
  const lines: string[] = [];
  const services: ServiceSpec[] = [];
  const parsed = component.params.safeParse(params);
  if (!parsed.success)
    return {
      ok: false,
      error: `invalid params: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      lines,
      services,
    };
  const ctx: ComponentContext = {
    deployment: options.deployment ?? { id: '00000000-0000-4000-8000-000000000000', name: 'plugin-test' },
    nodeId: options.nodeId ?? 'node',
    runtime: options.runtime,
    signal: options.signal ?? new AbortController().signal,
    log: (line) => lines.push(`log ${line}`),
    waiting: (line) => lines.push(`waiting ${line}`),
    outputs: options.outputs ?? {},
    registryAuth: () => undefined,
    recordService: (spec) => services.push(spec),
    isSecret: () => false,
  };
  try {
    const outputs = await component.run(ctx, parsed.data);
    return { ok: true, outputs, lines, services };
  } catch (err) {
    await component.rollback?.(ctx, parsed.data, undefined);
    return { ok: false, error: (err as Error).message, lines, services };
  }
}

/**
 * A runtime with only the calls a test gives; any other call fails, naming itself — so a test
 * says exactly what of the runtime its component uses.
 */
export function testRuntime(calls: Partial<Runtime>): Runtime {
  return new Proxy(calls as Runtime, {
    get(target, key) {
      if (key === 'kind') return target.kind ?? 'docker';
      if (key === 'engine') return target.engine ?? 'test engine';
      if (key === 'capabilities') return target.capabilities ?? NO_CAPABILITIES;
      if (key in target || typeof key === 'symbol' || key === 'then') return target[key as keyof Runtime];
      return () => {
        throw new Error(`the test runtime has no ${String(key)}: give it in testRuntime({ ${String(key)} })`);
      };
    },
  });
}
