import type { Deployment } from '@nullops/core/api-types';
import { type Api, ApiError } from './api.js';
import { print, progress } from './output.js';

/** The states a created deployment ends its run in. */
export const TERMINAL = new Set(['running', 'failed', 'deleted']);

/** A service's live health as its node reports it ("restarting (3×)", "crashed (exit 137)"), else its status. */
function serviceCondition(s: Deployment['services'][number]): string {
  const h = s.health;
  if (!h) return s.status;
  if (h.condition === 'restarting')
    return `restarting (${h.restartCount}×)${h.exitCode !== undefined ? `, last exit ${h.exitCode}` : ''}`;
  if (h.condition === 'crashed') return `crashed (exit ${h.exitCode ?? '?'})`;
  return h.condition;
}

export function summary(d: Deployment): string {
  const lines = [
    `${d.name}  ${d.state}${d.stateMessage ? ` (${d.stateMessage})` : ''}`,
    `  project ${d.projectName}, environment ${d.environmentName}${d.nodeName ? `, node ${d.nodeName}` : ''}`,
    `  tags ${
      Object.entries(d.tags)
        .map(([k, v]) => `${k}=${v}${d.digests?.[k] ? `@${d.digests[k]?.slice(0, 19)}` : ''}`)
        .join(' ') || '—'
    }`,
  ];
  if (d.expiresAt) lines.push(`  expires ${d.expiresAt}`);
  if (d.error) lines.push(`  error${d.error.step ? ` in step ${d.error.step}` : ''}: ${d.error.message}`);
  for (const s of d.services) lines.push(`  ${s.name.padEnd(16)} ${s.url}  ${serviceCondition(s)}`);
  return lines.join('\n');
}

/**
 * Follows a deployment's events until it reaches one of `until` (or the deadline): each pipeline
 * step and image pull progress line on stderr. A dropped stream is reopened where it left off.
 */
export async function follow(
  client: Api,
  id: string,
  until: Set<string>,
  timeoutMs: number,
  history: 'all' | 'none' = 'all',
) {
  const deadline = Date.now() + timeoutMs;
  let seen = -1;
  // What a step waits for is said each second; a terminal shows it when it changes.
  const waiting = new Map<string, string>();
  while (Date.now() < deadline) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), deadline - Date.now());
    try {
      // After an action on an existing deployment only what follows it is news (`none`).
      const events = client.events<ProgressEvent>(
        `/api/deployments/${id}/events?history=${history}`,
        controller.signal,
      );
      for await (const { event, data } of events) {
        if (event === 'state') {
          if (until.has(data.state ?? '')) return;
          continue;
        }
        if (data.seq !== undefined && data.seq !== null) {
          if (data.seq <= seen) continue;
          seen = data.seq;
        }
        const step = data.details?.step ? `[${data.details.step}] ` : '';
        if (data.kind === 'step.waiting') {
          const key = data.details?.step ?? '';
          if (waiting.get(key) !== data.message) progress(`  ${step}waiting: ${data.message}`);
          waiting.set(key, data.message ?? '');
        } else if (data.kind === 'step.log') progress(`  ${step}${data.message}`);
        else if (data.kind?.startsWith('step.'))
          progress(`${step}${data.kind.slice(5)}${data.message ? `: ${data.message}` : ''}`);
        else if (data.state) progress(`→ ${data.state}${data.message ? `: ${data.message}` : ''}`);
        if (data.state && until.has(data.state)) return;
      }
    } catch (err) {
      if (controller.signal.aborted) break;
      if (err instanceof ApiError && err.status >= 400 && err.status < 500) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      clearTimeout(timer);
    }
  }
  throw new TimeoutError(`gave up waiting after ${Math.round(timeoutMs / 1000)} s`);
}
export class TimeoutError extends Error {}

/** What `/events` sends: `state` once (the state now), then `progress` events. */
interface ProgressEvent {
  seq?: number | null;
  kind?: string;
  state?: string | null;
  message?: string | null;
  details?: { step?: string } | null;
}

/** After waiting: the result, and exit 1 with the failing step's error when it did not come up. */
export async function finish(client: Api, id: string, want: string) {
  const d = await client.get<Deployment>(`/api/deployments/${id}`);
  print(summary(d), d);
  if (d.state !== want) {
    process.exitCode = 1;
    if (d.error) progress(`failed${d.error.step ? ` in step ${d.error.step}` : ''}: ${d.error.message}`);
  }
}
