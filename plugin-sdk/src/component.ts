import type { z } from 'zod';
import type { RegistryAuth, Runtime, ServiceSpec } from './runtime.js';

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
  /** Outputs of the nodes that ran before this one, by node id. */
  outputs: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Credentials for pulling an image, when its registry needs them. */
  registryAuth(image: string): RegistryAuth | undefined;
  /** Records a long-running service, so the agent keeps it alive and the ingress can route to it. */
  recordService(spec: ServiceSpec): void;
}

/** A pipeline step: validated params in, outputs out, and how to undo it. */
export interface ComponentDefinition<
  P extends z.ZodType = z.ZodType,
  O extends Record<string, unknown> = Record<string, unknown>,
> {
  readonly $$type: '@nullops/Component';
  /** Namespaced type, e.g. `docker.service`. */
  type: string;
  /** Bumped when params change incompatibly; saved pipelines record it. */
  version: number;
  title: string;
  category: string;
  /** Validates params on the control plane (at save and deploy) and on the agent. */
  params: P;
  /** Longest a run may take; the executor aborts it then. */
  timeoutMs?: number;
  run(ctx: ComponentContext, params: z.output<P>): Promise<O>;
  /** Undoes what `run` did; called in reverse order when a later step fails or on cancel. */
  rollback?(ctx: ComponentContext, params: z.output<P>, outputs: O | undefined): Promise<void>;
}

/** Declares a component; the tag lets hosts recognise it across copies of the SDK. */
export function defineComponent<P extends z.ZodType, O extends Record<string, unknown>>(
  definition: Omit<ComponentDefinition<P, O>, '$$type'>,
): ComponentDefinition<P, O> {
  return { $$type: '@nullops/Component', ...definition };
}

/** True for a component from any copy of the SDK. */
export function isComponent(value: unknown): value is ComponentDefinition {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { $$type?: unknown }).$$type === '@nullops/Component'
  );
}
