import type { V1Pod } from '@kubernetes/client-node';
import type { KubeApi } from './kube-api.js';

/**
 * Waits, by watching (never polling), until `decide` returns something for the pods a label
 * selector picks in a namespace: lists them once, then follows a watch from the list's
 * resourceVersion, re-listing when the server says the version is too old (410) or the stream
 * ends. Resolves with `decide`'s answer, or undefined at the timeout; rejects when `signal` aborts.
 */
export async function untilPods<T>(
  api: KubeApi,
  namespace: string,
  labelSelector: string,
  decide: (pods: V1Pod[]) => T | undefined,
  options: {
    timeoutMs: number;
    signal?: AbortSignal | undefined;
    /**
     * Asked every few seconds while no pod exists: a pod that is never made (admission refused it —
     * quota, Pod Security) shows only on its owner, whose answer this gives.
     */
    whileNone?: () => Promise<T | undefined>;
  },
): Promise<T | undefined> {
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline) {
    options.signal?.throwIfAborted();
    const list = await api.core.listNamespacedPod({ namespace, labelSelector });
    const pods = new Map<string, V1Pod>(list.items.map((p) => [p.metadata?.uid as string, p]));
    const first = decide([...pods.values()]);
    if (first !== undefined) return first;
    const outcome = await new Promise<{ value?: T; relist: boolean }>((resolve, reject) => {
      let settled = false;
      let controller: AbortController | undefined;
      const finish = (result: { value?: T; relist: boolean } | Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearInterval(recheck);
        options.signal?.removeEventListener('abort', onAbort);
        controller?.abort();
        if (result instanceof Error) reject(result);
        else resolve(result);
      };
      const onAbort = () => finish(options.signal?.reason ?? new Error('aborted'));
      const timer = setTimeout(() => finish({ relist: false }), Math.max(0, deadline - Date.now()));
      // Some verdicts depend on time, not on a change (unschedulable for longer than a grace
      // period): the cached pods are judged again every second, without asking the server.
      let ticks = 0;
      const recheck = setInterval(() => {
        const value = decide([...pods.values()]);
        if (value !== undefined) return finish({ value, relist: false });
        if (options.whileNone && pods.size === 0 && ++ticks % 3 === 0)
          void options.whileNone().then(
            (owner) => owner !== undefined && finish({ value: owner, relist: false }),
            () => {},
          );
      }, 1000);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      api.watcher
        .watch(
          `/api/v1/namespaces/${namespace}/pods`,
          {
            labelSelector,
            resourceVersion: list.metadata?.resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds: Math.max(1, Math.ceil((deadline - Date.now()) / 1000)),
          },
          (type, object: V1Pod & { code?: number }) => {
            if (type === 'ERROR') return finish({ relist: true });
            if (type === 'BOOKMARK') return;
            const uid = object.metadata?.uid as string;
            if (type === 'DELETED') pods.delete(uid);
            else pods.set(uid, object);
            const value = decide([...pods.values()]);
            if (value !== undefined) finish({ value, relist: false });
          },
          () => finish({ relist: true }),
        )
        .then((c) => {
          controller = c;
          if (settled) c.abort();
        }, finish);
    });
    if (outcome.value !== undefined) return outcome.value;
    if (!outcome.relist) return undefined;
  }
  return undefined;
}
