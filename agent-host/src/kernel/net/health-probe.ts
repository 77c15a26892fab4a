import { connect } from 'node:net';
import type { HealthCheck, HealthResult } from '@nullops/plugin-sdk';

/**
 * One try of an HTTP or TCP health check against an address the agent reaches (a container's,
 * a pod's): HTTP passes on `expectStatus`, or on 200–399 without one. Callers retry until their
 * timeout; the detail says what was seen.
 */
export async function probeAddress(
  address: { host: string; port: number },
  check: Exclude<HealthCheck, { kind: 'command' }>,
  timeoutMs: number,
): Promise<HealthResult> {
  if (check.kind === 'tcp') return tcpProbe(address.host, address.port, timeoutMs);
  try {
    const res = await fetch(`http://${address.host}:${address.port}${check.path}`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.body?.cancel();
    const ok = check.expectStatus ? res.status === check.expectStatus : res.status >= 200 && res.status < 400;
    return {
      healthy: ok,
      detail: `HTTP ${res.status}${ok || !check.expectStatus ? '' : ` (expected ${check.expectStatus})`}`,
    };
  } catch (err) {
    return { healthy: false, detail: fetchFailure(err) };
  }
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<HealthResult> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (result: HealthResult) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () =>
      done({ healthy: false, detail: `no TCP answer within ${timeoutMs} ms` }),
    );
    socket.once('connect', () => done({ healthy: true, detail: `TCP ${port} accepts connections` }));
    socket.once('error', (err) => done({ healthy: false, detail: err.message }));
  });
}

/** What a failed fetch says, with its cause (ECONNREFUSED…). */
export function fetchFailure(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return e.cause
    ? `${e.message}: ${e.cause.code ?? ''} ${e.cause.message ?? ''}`.trim()
    : String(e.message ?? err);
}
