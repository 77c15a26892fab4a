/**
 * References inside pipeline params. `${secret:NAME}` is replaced by the control plane with a
 * secret's value before the run leaves it; `${output:NODE.KEY}` is replaced by the agent with an
 * output of an earlier node just before the referencing node runs.
 */
export const SECRET_REFERENCE = /\$\{secret:([A-Za-z_][A-Za-z0-9_]{0,127})\}/g;
export const OUTPUT_REFERENCE = /\$\{output:([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_]{1,64})\}/g;

/** Every `${output:…}` reference in a value (params are walked deeply). */
export function outputReferences(value: unknown): { node: string; key: string }[] {
  const found: { node: string; key: string }[] = [];
  walkStrings(value, (s) => {
    for (const m of s.matchAll(OUTPUT_REFERENCE)) found.push({ node: m[1] as string, key: m[2] as string });
    return s;
  });
  return found;
}

/**
 * Replaces `${output:NODE.KEY}` with the outputs' values. A missing output is an error naming it,
 * never an empty string: a SQL script must not run against `""`.
 */
export function substituteOutputs<T>(
  value: T,
  outputs: Readonly<Record<string, Readonly<Record<string, unknown>>>>,
): T {
  return walkStrings(value, (s) =>
    s.replace(OUTPUT_REFERENCE, (_, node: string, key: string) => {
      const v = outputs[node]?.[key];
      if (v === undefined || v === null)
        throw new Error(`\${output:${node}.${key}} has no value: node ${node} did not output "${key}"`);
      return typeof v === 'string' ? v : JSON.stringify(v);
    }),
  ) as T;
}

/** Applies `map` to every string in a JSON-like value, returning a new value. */
export function walkStrings(value: unknown, map: (s: string) => string): unknown {
  if (typeof value === 'string') return map(value);
  if (Array.isArray(value)) return value.map((v) => walkStrings(v, map));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walkStrings(v, map)]));
  return value;
}
