import { parseDocument } from 'yaml';

/**
 * What a compose file may grow to once its YAML aliases are resolved and its variables
 * substituted: a small file can describe an enormous document (a "billion laughs", or `${A}`
 * repeated until the string cannot be built). Expansion stops as soon as it passes these.
 */
export const COMPOSE_LIMITS = {
  /** The file as sent. */
  fileBytes: 1024 * 1024,
  /** The document once aliases are resolved and variables substituted (its strings, summed). */
  expandedBytes: 4 * 1024 * 1024,
  /** YAML aliases resolved (each `*anchor` or `<<: *anchor`). */
  aliases: 100,
} as const;

/** A problem with the file, at a field of the request. */
export class ComposeProblem extends Error {
  constructor(
    readonly field: string,
    message: string,
    /** A limit passed (answered 422), rather than a file that is not valid (400). */
    readonly limit = false,
  ) {
    super(message);
  }
}

/**
 * The YAML read into plain data with its aliases resolved and compose's variable substitution
 * applied (`$$` is a literal `$`, `${X:-default}` / `${X-default}` fall back, `${X:?message}` /
 * `${X?message}` insist, an unset `${X}` / `$X` is empty and reported in `missing`), within
 * COMPOSE_LIMITS. Runs in a worker thread of its own (compose-reader.ts): memory and time are
 * bounded there too, and the control plane's event loop never waits for it.
 */
export function expandCompose(
  text: string,
  variables: Record<string, string>,
  field: string,
): { value: unknown; missing: string[] } {
  if (Buffer.byteLength(text) > COMPOSE_LIMITS.fileBytes)
    throw new ComposeProblem(field, `must be at most ${COMPOSE_LIMITS.fileBytes / 1024 / 1024} MiB`, true);
  const doc = parseDocument(text, { merge: true, uniqueKeys: true });
  if (doc.errors.length) {
    const first = doc.errors[0];
    const line = first?.linePos?.[0];
    throw new ComposeProblem(
      field,
      `is not valid YAML${line ? ` (line ${line.line}, column ${line.col})` : ''}: ${first?.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '')}`,
    );
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: COMPOSE_LIMITS.aliases });
  } catch (err) {
    const message = (err as Error).message;
    throw /alias/i.test(message)
      ? new ComposeProblem(
          field,
          `uses its YAML aliases more than ${COMPOSE_LIMITS.aliases} times over: expanded, it would be far larger than the file`,
          true,
        )
      : new ComposeProblem(field, `could not be read: ${message}`);
  }
  const missing = new Set<string>();
  let left = COMPOSE_LIMITS.expandedBytes;
  const spend = (bytes: number) => {
    left -= bytes;
    if (left < 0)
      throw new ComposeProblem(
        field,
        `is more than ${COMPOSE_LIMITS.expandedBytes / 1024 / 1024} MiB once its aliases and variables are expanded`,
        true,
      );
  };
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (node && typeof node === 'object')
      return Object.fromEntries(
        Object.entries(node).map(([k, v]) => {
          spend(k.length);
          return [k, walk(v)];
        }),
      );
    if (typeof node !== 'string') return node;
    const substituted = substitute(node, variables, missing, spend);
    spend(substituted.length);
    return substituted;
  };
  return { value: walk(value), missing: [...missing].sort() };
}

function substitute(
  value: string,
  variables: Record<string, string>,
  missing: Set<string>,
  spend: (bytes: number) => void,
): string {
  return value.replace(
    /\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g,
    (_m, dollar, braced, op, arg, bare) => {
      if (dollar) return '$';
      const name = (braced ?? bare) as string;
      const set = Object.hasOwn(variables, name);
      const val = variables[name];
      const empty = !set || (op?.startsWith(':') && val === '');
      let out: string;
      if (op?.endsWith('-')) out = empty ? arg : (val as string);
      else if (op?.endsWith('?')) {
        if (empty) throw new ComposeProblem(`variables.${name}`, arg || 'is required by the compose file');
        out = val as string;
      } else {
        if (!set) missing.add(name);
        out = val ?? '';
      }
      // Counted as it is built: a value repeated until the string cannot exist stops here.
      spend(out.length);
      return out;
    },
  );
}
