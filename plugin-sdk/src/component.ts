import { z } from 'zod';
import type { DeploymentBudget, RegistryAuth, Runtime, ServiceSpec } from './runtime.js';
import { SDK_VERSION } from './version.js';

/** Identity of the deployment a component runs for. */
export interface DeploymentIdentity {
  id: string;
  name: string;
}

/** What a component gets while it runs on an agent. */
export interface ComponentContext {
  deployment: DeploymentIdentity;
  /** Id of this node in the pipeline graph. */
  nodeId: string;
  runtime: Runtime;
  /** Aborted on cancel, on another branch's failure, and at the component's timeout. */
  signal: AbortSignal;
  /** A log line, streamed live to the UI. */
  log(line: string): void;
  /**
   * What the step waits for now, in words, e.g. its latest probe's result (`GET / → HTTP 502`):
   * shown live beside the step, each replacing the last, and not kept (since 1.7; call it as
   * `ctx.waiting?.(…)`, older agents lack it). The host sends at most one a second.
   */
  waiting?(line: string): void;
  /**
   * Outputs of the nodes that ran before this one, by node id. Params may also reference them as
   * `${output:NODE.KEY}`; the agent substitutes those before `run` is called.
   */
  outputs: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Credentials for pulling an image, when its registry needs them. */
  registryAuth(image: string): RegistryAuth | undefined;
  /** Records a long-running service, so the agent keeps it alive and the ingress can route to it. */
  recordService(spec: ServiceSpec): void;
  /**
   * True when a value holds one of the deployment's secrets (a `${secret:…}` it was resolved from,
   * a registry password, a secret output) (since 1.6): e.g. to list it in `ServiceSpec.secretEnv`.
   */
  isSecret(value: string): boolean;
}

/**
 * What a component's `backup` and `restore` get (since 1.5): the running deployment, the runtime
 * (its `exec` reaches the component's own services), a log and a signal.
 */
export interface DataContext {
  deployment: DeploymentIdentity;
  /** Id of this node in the pipeline graph. */
  nodeId: string;
  runtime: Runtime;
  signal: AbortSignal;
  log(line: string): void;
}

/** What a restore did besides restoring: what it refused or took out of the archive, in words. */
export interface RestoreReport {
  notes: string[];
}

/** One output a component promises, shown on the editor node as a slot later nodes can reference. */
export interface OutputDescription {
  description: string;
  /** Holds a credential: hosts never log or display it. */
  secret?: boolean;
}

/** A pipeline step: validated params in, outputs out, and how to undo it. */
export interface ComponentDefinition<
  P extends z.ZodType = z.ZodType,
  O extends Record<string, unknown> = Record<string, unknown>,
> {
  readonly $$type: '@nullops/Component';
  /** The SDK version the component was defined with. */
  readonly sdkVersion: string;
  /**
   * The params schema as JSON Schema (draft 2020-12, input side): the editor renders it as node
   * widgets and the control plane shows it in the component catalogue.
   */
  readonly paramsJsonSchema: Record<string, unknown>;
  /** Namespaced type, e.g. `container.service`. */
  type: string;
  /**
   * Former type names of this component: saved pipelines that use them keep working (hosts resolve
   * them to this component); editors offer only `type`.
   */
  aliases?: readonly string[];
  /**
   * Declares that the component runs one of the project's services, named by its `service`
   * param: the control plane then fills `image` (registry, image and the deployment's chosen tag)
   * and, unless the pipeline sets them, `cpuMillicores` and `memoryMb` from the project's budget.
   */
  projectService?: boolean;
  /** Bumped when params change incompatibly; saved pipelines record it. */
  version: number;
  title: string;
  category: string;
  /** Validates params on the control plane (at save and deploy) and on the agent. */
  params: P;
  /** Outputs by key, for the editor's slots and for checking `${output:…}` references. */
  outputs?: Record<string, OutputDescription>;
  /**
   * Required params the control plane fills in at deploy time (e.g. an image from the chosen tag);
   * a saved pipeline may leave them out.
   */
  hostFilled?: readonly string[];
  /** Longest a run may take; the executor aborts it then. */
  timeoutMs?: number;
  /**
   * What the component's run starts besides the project's services — a database server, a
   * one-off job — so the deployment's budget (and the node's placement) count it. It gets the
   * params as saved (before defaults; `${output:…}` references unresolved): read only what sizes
   * the run, with the same defaults as the params schema.
   */
  reserves?(params: Readonly<Record<string, unknown>>): DeploymentBudget;
  run(ctx: ComponentContext, params: z.output<P>): Promise<O>;
  /** Undoes what `run` did; called in reverse order when a later step fails or on cancel. */
  rollback?(ctx: ComponentContext, params: z.output<P>, outputs: O | undefined): Promise<void>;
  /**
   * The data this node keeps (a database's contents), as one archive of the component's own
   * format (since 1.5). With it (and `restore`), users back the node up and restore it — into the
   * same deployment or another of the project — and hosts need to know nothing of the format.
   */
  backup?(ctx: DataContext, params: z.output<P>): Promise<Uint8Array>;
  /**
   * Replaces the node's data with an archive `backup` made — possibly of another deployment, so
   * possibly hostile: restore it with no more rights than the deployment's own, and say what was
   * refused or taken out (since 1.5).
   */
  restore?(ctx: DataContext, params: z.output<P>, archive: Uint8Array): Promise<RestoreReport>;
  /** The service a `backup` is of, for people (default: the node id). */
  dataService?(params: Readonly<Record<string, unknown>>): string;
}

/**
 * Declares a component. The returned object is tagged (`$$type`) and carries the SDK version, so a
 * host recognises it across copies of the SDK; its params schema is also exported as JSON Schema.
 *
 * @example
 * export const hello = defineComponent({
 *   type: 'acme.hello', version: 1, title: 'Say hello', category: 'Examples',
 *   params: z.object({ name: z.string() }),
 *   outputs: { greeting: { description: 'what was said' } },
 *   async run(ctx, p) { ctx.log(`hello ${p.name}`); return { greeting: `hello ${p.name}` }; },
 * });
 */
export function defineComponent<P extends z.ZodType, O extends Record<string, unknown>>(
  definition: Omit<ComponentDefinition<P, O>, '$$type' | 'sdkVersion' | 'paramsJsonSchema'>,
): ComponentDefinition<P, O> {
  for (const type of [definition.type, ...(definition.aliases ?? [])])
    if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(type))
      throw new TypeError(`component type "${type}" must be namespaced, e.g. acme.hello`);
  return {
    $$type: '@nullops/Component',
    sdkVersion: SDK_VERSION,
    paramsJsonSchema: paramsToJsonSchema(definition.params),
    ...definition,
  };
}

function paramsToJsonSchema(schema: z.ZodType): Record<string, unknown> {
  // Types JSON Schema cannot express (transforms, custom checks) become `{}` instead of throwing.
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}

/** True for a component from any copy of the SDK. */
export function isComponent(value: unknown): value is ComponentDefinition {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { $$type?: unknown }).$$type === '@nullops/Component'
  );
}
