import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** Raised when an environment variable holds a bad value; the message names the variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Reads a configuration object from environment variables. Each key of `shape` is the variable's
 * name; each value is a zod schema over the raw string (use the helpers below). Every bad variable
 * is reported at once, so an operator fixes them in one go.
 */
export function loadConfig<S extends z.ZodRawShape>(shape: S, env: NodeJS.ProcessEnv = process.env) {
  const raw: Record<string, string | undefined> = {};
  const unreadable: string[] = [];
  for (const key of Object.keys(shape)) {
    // An empty variable means "unset": shells and compose files produce them by accident.
    raw[key] = env[key] || undefined;
    // `NAME_FILE` holds the path of a file with the value (Docker and Kubernetes secrets): the value
    // then never appears in the process environment.
    const file = env[`${key}_FILE`];
    if (raw[key] === undefined && file) {
      try {
        raw[key] = readFileSync(file, 'utf8').replace(/\r?\n$/, '') || undefined;
      } catch (err) {
        unreadable.push(
          `${key}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        );
      }
    }
  }
  if (unreadable.length) throw new ConfigError(unreadable);
  const result = z.object(shape).safeParse(raw);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? '?');
        return `${name}: ${issue.message} (got ${describeValue(name, raw[name])})`;
      }),
    );
  }
  return result.data;
}

const SECRET_NAME = /SECRET|PASSWORD|TOKEN|KEY|DATABASE_URL/;

/**
 * Once read, secret variables (and their `_FILE` paths) leave the process environment: child
 * processes do not inherit them and code that lists the environment does not find them. (The
 * environment the process started with stays in /proc/self/environ; use `NAME_FILE` to keep a
 * value out of that too.)
 */
export function forgetSecretVariables(shape: z.ZodRawShape, env: NodeJS.ProcessEnv = process.env): void {
  for (const key of Object.keys(shape))
    if (SECRET_NAME.test(key)) {
      delete env[key];
      delete env[`${key}_FILE`];
    }
}

// Values of variables that look secret are never echoed back, even in an error.
function describeValue(name: string, value: string | undefined): string {
  if (value === undefined) return 'nothing';
  if (SECRET_NAME.test(name)) return 'a hidden value';
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
}

/** An integer variable within bounds, with a default. */
export const intVar = (fallback: number, min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`))
    .optional()
    .transform((v) => v ?? fallback);

/** A boolean variable: true/false/1/0/yes/no. */
export const boolVar = (fallback: boolean) =>
  z
    .string()
    .transform((v) => v.toLowerCase())
    .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' }))
    .transform((v) => v === 'true' || v === '1' || v === 'yes')
    .optional()
    .transform((v) => v ?? fallback);

/** One of a fixed set of words. */
export const enumVar = <const T extends readonly [string, ...string[]]>(values: T, fallback: T[number]) =>
  z
    .enum(values, { error: `must be one of ${values.join(', ')}` })
    .optional()
    .transform((v) => v ?? fallback);

/** A string variable with a default. */
export const stringVar = (fallback: string) =>
  z
    .string()
    .optional()
    .transform((v) => v ?? fallback);
