import type { DesiredDeployment } from '@nullops/plugin-sdk';

/** What the request around one deployment adds (type, id, method, syncId). */
export const ENVELOPE_BYTES = 1024;

/** The bytes one desired deployment takes in a message to its agent. */
export function desiredBytes(d: DesiredDeployment): number {
  return Buffer.byteLength(JSON.stringify(d)) + ENVELOPE_BYTES;
}

/**
 * The largest values of a desired deployment, by where they are (`run.nodes[web].params.env.BLOB`)
 * and how large — never what they hold (they may be resolved secrets).
 */
export function largestFields(d: DesiredDeployment, count = 3): string[] {
  const found: { path: string; bytes: number }[] = [];
  const walk = (value: unknown, path: string) => {
    if (typeof value === 'string') {
      found.push({ path, bytes: Buffer.byteLength(value) });
      return;
    }
    if (Array.isArray(value)) {
      value.forEach((item, i) => {
        const id = item && typeof item === 'object' ? (item as { id?: unknown; name?: unknown }) : undefined;
        walk(
          item,
          `${path}[${typeof id?.id === 'string' ? id.id : typeof id?.name === 'string' ? id.name : i}]`,
        );
      });
      return;
    }
    if (value && typeof value === 'object')
      for (const [key, v] of Object.entries(value)) walk(v, path ? `${path}.${key}` : key);
  };
  walk(d, '');
  return found
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, count)
    .map((f) => `${f.path} (${Math.ceil(f.bytes / 1024)} KiB)`);
}

/**
 * A live deployment's entry made to fit a message: without the secrets and credentials it carries
 * for masking and repairs, then without its service specs (the agent keeps the ones it has).
 * Undefined when even that does not fit.
 */
export function slimmed(d: DesiredDeployment, maxBytes: number): DesiredDeployment | undefined {
  const { secretValues: _s, registryAuth: _a, ...lean } = d;
  if (desiredBytes(lean) <= maxBytes) return lean;
  const bare = { ...lean, services: [] };
  return desiredBytes(bare) <= maxBytes ? bare : undefined;
}
