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
    const ok = check.expectStatus ? res.status === check.expectStatus : res.status >= 200 && res.status < 400;
    // A failing answer's first words say why (a proxy's "upstream unavailable", a stack trace).
    let body = '';
    if (ok) await res.body?.cancel();
    else {
      const text = await firstText(res, 2048);
      // An HTML error page says it in its text, not its markup.
      const html = /html/i.test(res.headers.get('content-type') ?? '') || /^\s*<(!doctype|html)/i.test(text);
      body = inOneLine(html ? text.replace(/<[^>]*>/g, ' ') : text, 200, 'start');
    }
    return {
      healthy: ok,
      detail: `HTTP ${res.status}${ok || !check.expectStatus ? '' : ` (expected ${check.expectStatus})`}${body ? `: ${body}` : ''}`,
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

/** Up to `bytes` of a response's body, as text; the rest is never read. */
async function firstText(res: Response, bytes: number): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < bytes) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // What arrived before the connection broke is enough.
  } finally {
    await reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks).subarray(0, bytes).toString('utf8');
}

/**
 * Text (a body, a command's output) as one line of at most `max` characters, for a health
 * check's detail: its start (an answer's first words) or its end (a command's last words).
 */
export function inOneLine(text: string, max: number, keep: 'start' | 'end'): string {
  const line = text.replace(/\s+/g, ' ').trim();
  if (line.length <= max) return line;
  return keep === 'start' ? `${line.slice(0, max)}…` : `…${line.slice(-max)}`;
}

/** What a failed fetch says, with its cause (ECONNREFUSED…). */
export function fetchFailure(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return e.cause
    ? `${e.message}: ${e.cause.code ?? ''} ${e.cause.message ?? ''}`.trim()
    : String(e.message ?? err);
}
