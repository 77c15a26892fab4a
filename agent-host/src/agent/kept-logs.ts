import { KEPT_LINE_CHARS, KEPT_LINES, type KeptLogs, type Runtime } from '@nullops/plugin-sdk';
import type { SecretMasker } from './pipeline/secret-masker.js';

/** What a deployment's kept lines may weigh in all (a message to the control plane, a row). */
const KEPT_BYTES = 256 * 1024;
/** A runtime that does not answer for one service's logs soon gives none: removal goes on. */
const READ_TIMEOUT_MS = 5000;

/**
 * The last lines of each of a deployment's services, read just before they are removed (a failed
 * run rolled back, a deletion): what a user needs to see why it failed, kept after the containers
 * are gone. Masked first (a secret cut in two by the bound would leak its half), then bounded.
 */
export async function lastLinesOf(
  runtime: Runtime,
  deploymentId: string,
  services: string[],
  masker: SecretMasker,
): Promise<KeptLogs> {
  const names = [...new Set(services)].slice(0, 50);
  const budget = Math.floor(KEPT_BYTES / Math.max(1, names.length));
  const kept: KeptLogs = [];
  for (const service of names) {
    const lines: KeptLogs[number]['lines'] = [];
    try {
      const signal = AbortSignal.timeout(READ_TIMEOUT_MS);
      for await (const l of runtime.logs(deploymentId, service, { follow: false, tail: KEPT_LINES, signal }))
        lines.push({ time: l.time, stream: l.stream, line: masker.mask(l.line).slice(0, KEPT_LINE_CHARS) });
    } catch {
      // A service that never started (or is already gone) has nothing to keep.
    }
    const last = lines.slice(-KEPT_LINES);
    let bytes = last.reduce((sum, l) => sum + Buffer.byteLength(l.line) + 40, 0);
    while (bytes > budget && last.length) bytes -= Buffer.byteLength(last.shift()?.line ?? '') + 40;
    if (last.length) kept.push({ service, lines: last });
  }
  return kept;
}
