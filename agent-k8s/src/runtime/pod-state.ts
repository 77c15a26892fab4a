import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';

/** Where a service's pod stands, in the words a user reads in a step's error. */
export type PodVerdict =
  | { kind: 'running'; startedAt?: string | undefined; ready: boolean }
  | { kind: 'waiting'; detail: string }
  | { kind: 'failed'; message: string; crashed?: boolean; evicted?: boolean }
  | { kind: 'succeeded' };

/** Pull failures that may pass (a pull secret the node may not read yet, a registry hiccup). */
const PULL_RETRIED = ['ErrImagePull', 'ImagePullBackOff', 'RegistryUnavailable'];
/** Pull failures no waiting mends. */
const PULL_FINAL = ['InvalidImageName', 'ErrImageNeverPull'];
const CONFIG_FAILURES = ['CreateContainerConfigError', 'CreateContainerError', 'RunContainerError'];

/**
 * Reads a pod as the kubelet reports it. Failures that will not heal by waiting are `failed`: the
 * image cannot be pulled (its name is invalid at once; not found or unauthorized once
 * `pullGraceMs` has passed since the pod was made — a pull secret just created may not be
 * readable by the node yet), the container keeps crashing (with its exit code), it was
 * OOM-killed or evicted (with the node's reason), it cannot be scheduled (with the scheduler's
 * message, once `unschedulableGraceMs` has passed), or its configuration is wrong.
 */
export function podVerdict(
  pod: V1Pod,
  service: string,
  options: { unschedulableGraceMs: number; pullGraceMs?: number; now?: number },
): PodVerdict {
  const status = pod.status ?? {};
  const container: V1ContainerStatus | undefined = status.containerStatuses?.[0];
  if (status.phase === 'Succeeded') return { kind: 'succeeded' };
  const waiting = container?.state?.waiting;
  const terminated = container?.state?.terminated ?? container?.lastState?.terminated;
  const age = (options.now ?? Date.now()) - timeOf(pod.metadata?.creationTimestamp);
  if (status.reason === 'Evicted')
    return {
      kind: 'failed',
      evicted: true,
      message: `${service} was evicted by its node: ${status.message ?? 'the node ran short of resources'}`,
    };
  if (waiting?.reason && (PULL_RETRIED.includes(waiting.reason) || PULL_FINAL.includes(waiting.reason))) {
    const image = pod.spec?.containers?.[0]?.image ?? 'its image';
    const said = waiting.message ? ` — ${waiting.message}` : '';
    if (PULL_RETRIED.includes(waiting.reason) && age < (options.pullGraceMs ?? 0))
      return {
        kind: 'waiting',
        detail: `the node is still trying to pull ${image} (${waiting.reason}${said})`,
      };
    return {
      kind: 'failed',
      message: `the image ${image} of ${service} cannot be pulled (${waiting.reason}): it does not exist or the registry refused the credentials${said}`,
    };
  }
  if (waiting?.reason && CONFIG_FAILURES.includes(waiting.reason))
    return {
      kind: 'failed',
      message: `${service} cannot start (${waiting.reason}): ${waiting.message ?? ''}`.trim(),
    };
  if (terminated?.reason === 'OOMKilled') {
    const limit = pod.spec?.containers?.[0]?.resources?.limits?.memory;
    return {
      kind: 'failed',
      crashed: true,
      message: `${service} was killed for using more memory than its limit${limit ? ` (${limit})` : ''} (OOMKilled)`,
    };
  }
  const restarts = container?.restartCount ?? 0;
  if (
    waiting?.reason === 'CrashLoopBackOff' ||
    (terminated && terminated.exitCode !== 0 && (restarts > 0 || status.phase === 'Failed'))
  )
    return {
      kind: 'failed',
      crashed: true,
      message: `${service} keeps crashing: it exited with code ${terminated?.exitCode ?? 'unknown'}${restarts ? ` (restarted ${restarts}×)` : ''}`,
    };
  if (status.phase === 'Failed')
    return {
      kind: 'failed',
      message: `${service} failed: ${status.message ?? status.reason ?? 'the pod failed'}`,
    };
  const scheduled = status.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
    const detail = `${service} cannot be scheduled: ${scheduled.message ?? 'no node fits'}`;
    return age >= options.unschedulableGraceMs
      ? { kind: 'failed', message: detail }
      : { kind: 'waiting', detail };
  }
  if (container?.state?.running) {
    const ready = status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    const started = container.state.running.startedAt;
    return { kind: 'running', startedAt: started ? new Date(started).toISOString() : undefined, ready };
  }
  if (waiting)
    return {
      kind: 'waiting',
      detail: `${service} is ${waiting.reason ?? 'waiting'}${waiting.message ? `: ${waiting.message}` : ''}`,
    };
  if (!pod.spec?.nodeName) return { kind: 'waiting', detail: `${service} is waiting to be scheduled` };
  return { kind: 'waiting', detail: `${service} is starting` };
}

/** The pod of a service to look at: the newest one that is not being deleted. */
export function currentPod(pods: V1Pod[]): V1Pod | undefined {
  return pods
    .filter((p) => !p.metadata?.deletionTimestamp)
    .sort((a, b) => timeOf(b.metadata?.creationTimestamp) - timeOf(a.metadata?.creationTimestamp))[0];
}

/** client-node gives timestamps as Dates (or strings, from raw watch frames). */
function timeOf(value: Date | string | undefined): number {
  return value ? new Date(value).getTime() : 0;
}
