import type { ApiClient } from './api-client.js';
import { DEADLINE_MS, eventually } from './time.js';

/**
 * Waits until a deployment is in `state` and returns its view. It fails at once when the
 * deployment settles in another state (`failed`, unless that is the one awaited, and any of
 * `settled`), and a failure says where it got stuck: the last steps of its history.
 */
export async function deploymentReaches(
  client: ApiClient,
  id: string,
  state: string,
  options: { timeoutMs?: number; settled?: readonly string[] } = {},
): Promise<any> {
  const settled = new Set(['failed', ...(options.settled ?? [])]);
  try {
    return await eventually(
      `deployment ${id} ${state}`,
      async () => {
        const d = (await client.get(`/api/deployments/${id}`)).body;
        if (d.state !== state && settled.has(d.state))
          throw new Error(`${d.state}: ${JSON.stringify(d.error)}`);
        return d.state === state ? d : undefined;
      },
      options.timeoutMs ?? DEADLINE_MS,
    );
  } catch (err) {
    const history = ((await client.get(`/api/deployments/${id}/history`).catch(() => undefined))?.body
      ?.items ?? []) as { kind: string; message: string | null }[];
    const tail = history.slice(-8).map((h) => `${h.kind}${h.message ? ` ${h.message}` : ''}`);
    throw new Error(`${(err as Error).message}; last history: ${tail.join(' | ')}`);
  }
}
