import { createHash } from 'node:crypto';
import { InvalidArgumentError, Option } from 'commander';

// Option parsers and options several commands share.

export function keyValue(what: string) {
  return (value: string, previous: Record<string, string> = {}) => {
    const eq = value.indexOf('=');
    if (eq < 1) throw new InvalidArgumentError(`${what} must look like name=value`);
    return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
  };
}

export function duration(value: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(value);
  if (!m) throw new InvalidArgumentError('must be a duration like 90s, 10m or 1h');
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
}

/**
 * The same deploy command run again (a CI retry) is the same request: its key is made from what
 * it asks for. The server releases a key when its deployment is deleted.
 */
export function idempotencyKey(
  projectId: string,
  environmentId: string,
  name: string,
  tags: Record<string, string>,
) {
  const sorted = Object.entries(tags).sort(([a], [b]) => a.localeCompare(b));
  const what = JSON.stringify([projectId, environmentId, name, sorted]);
  return `cli-${createHash('sha256').update(what).digest('hex').slice(0, 40)}`;
}

export const timeout = (what: string, ms: number, shown: string) =>
  new Option('--timeout <duration>', what).argParser(duration).default(ms, shown);
