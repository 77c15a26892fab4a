import {
  AppsV1Api,
  BatchV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  Watch,
} from '@kubernetes/client-node';

/** The field manager of every object the agent applies (server-side apply). */
export const FIELD_MANAGER = 'nullops-agent';

/** A Kubernetes API error with what its `Status` body says. */
export interface KubeError {
  code: number;
  reason: string;
  message: string;
}

/** Reads an error from client-node into code, reason and the server's message. */
export function kubeError(err: unknown): KubeError {
  const e = err as { code?: number; body?: unknown; message?: string; statusCode?: number };
  let body: { reason?: string; message?: string } | undefined;
  try {
    body = typeof e.body === 'string' ? JSON.parse(e.body) : (e.body as typeof body);
  } catch {
    body = undefined;
  }
  return {
    code: e.code ?? e.statusCode ?? 0,
    reason: body?.reason ?? '',
    message: body?.message ?? e.message ?? String(err),
  };
}

export const isNotFound = (err: unknown) => kubeError(err).code === 404;

/** The object, or undefined when it does not exist. */
export async function orUndefined<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Resolves when the promise settles with anything but a 404 error (deleting what is gone is fine). */
export async function ignoreNotFound(work: Promise<unknown>): Promise<void> {
  try {
    await work;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** The API clients the runtime uses, made from one KubeConfig. */
export class KubeApi {
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly batch: BatchV1Api;
  readonly coordination: CoordinationV1Api;
  readonly discovery: DiscoveryV1Api;
  readonly custom: CustomObjectsApi;
  readonly objects: KubernetesObjectApi;
  readonly watcher: Watch;

  constructor(readonly config: KubeConfig) {
    this.core = config.makeApiClient(CoreV1Api);
    this.apps = config.makeApiClient(AppsV1Api);
    this.batch = config.makeApiClient(BatchV1Api);
    this.coordination = config.makeApiClient(CoordinationV1Api);
    this.discovery = config.makeApiClient(DiscoveryV1Api);
    this.custom = config.makeApiClient(CustomObjectsApi);
    this.objects = KubernetesObjectApi.makeApiClient(config);
    this.watcher = new Watch(config);
  }

  /**
   * Server-side apply: creates the object or brings the fields the agent manages to this state,
   * in one idempotent call (the agent is the only manager of what it applies: `force`).
   */
  apply<T extends KubernetesObject>(object: T): Promise<T> {
    return this.objects.patch(
      object,
      undefined,
      undefined,
      FIELD_MANAGER,
      true,
      PatchStrategy.ServerSideApply,
    );
  }
}
