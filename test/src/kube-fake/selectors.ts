/** Label and field selectors as the API server parses them (`=`, `==`, `!=`, `in`, `notin`, `x`, `!x`). */

export type Requirement =
  | { key: string; op: 'eq' | 'neq'; values: [string] }
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | 'notexists'; values: [] };

export class SelectorError extends Error {}

/** Parses a label selector; throws SelectorError with the API server's wording on garbage. */
export function parseLabelSelector(text: string | undefined): Requirement[] {
  if (!text) return [];
  const requirements: Requirement[] = [];
  let rest = text.trim();
  const key = /^!?\s*([A-Za-z0-9][-A-Za-z0-9_./]*)/;
  while (rest.length) {
    const m = key.exec(rest);
    if (!m) throw new SelectorError(`unable to parse requirement: found '${rest[0]}', expected: identifier`);
    const negated = m[0].startsWith('!');
    const name = m[1] as string;
    rest = rest.slice(m[0].length).trimStart();
    if (negated) {
      requirements.push({ key: name, op: 'notexists', values: [] });
    } else if (rest.startsWith('==') || rest.startsWith('!=') || rest.startsWith('=')) {
      const op = rest.startsWith('!=') ? 'neq' : 'eq';
      rest = rest.slice(rest.startsWith('=') && !rest.startsWith('==') ? 1 : 2).trimStart();
      const v = /^[A-Za-z0-9._-]*/.exec(rest)?.[0] ?? '';
      rest = rest.slice(v.length).trimStart();
      requirements.push({ key: name, op, values: [v] });
    } else if (/^(in|notin)\s*\(/.test(rest)) {
      const op = rest.startsWith('in') ? 'in' : 'notin';
      const close = rest.indexOf(')');
      if (close < 0) throw new SelectorError("found 'end of string', expected: ')'");
      const values = rest
        .slice(rest.indexOf('(') + 1, close)
        .split(',')
        .map((v) => v.trim());
      rest = rest.slice(close + 1).trimStart();
      requirements.push({ key: name, op, values });
    } else {
      requirements.push({ key: name, op: 'exists', values: [] });
    }
    if (!rest.length) break;
    if (!rest.startsWith(','))
      throw new SelectorError(`found '${rest[0]}', expected: ',' or 'end of string'`);
    rest = rest.slice(1).trimStart();
  }
  return requirements;
}

export function matches(requirements: Requirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return requirements.every((r) => {
    const has = Object.hasOwn(l, r.key);
    const value = l[r.key];
    switch (r.op) {
      case 'eq':
        return has && value === r.values[0];
      case 'neq':
        return !has || value !== r.values[0];
      case 'in':
        return has && r.values.includes(value as string);
      case 'notin':
        return !has || !r.values.includes(value as string);
      case 'exists':
        return has;
      case 'notexists':
        return !has;
      default:
        return false;
    }
  });
}

/** Field selectors: `a.b=c`, `a.b!=c`, comma-separated, on a few well-known fields. */
export function parseFieldSelector(text: string | undefined): ((obj: Record<string, unknown>) => boolean)[] {
  if (!text) return [];
  return text.split(',').map((part) => {
    const m = /^\s*([A-Za-z0-9.]+)\s*(==|!=|=)\s*(.*?)\s*$/.exec(part);
    if (!m) throw new SelectorError(`invalid selector: '${text}'; can't understand '${part}'`);
    const [, path, op, value] = m as unknown as [string, string, string, string];
    return (obj) => {
      const actual = path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)?.[k], obj);
      const equal = String(actual ?? '') === value;
      return op === '!=' ? !equal : equal;
    };
  });
}

/** A LabelSelector object (matchLabels + matchExpressions) as requirements. */
export function fromLabelSelector(selector: {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}): Requirement[] {
  const out: Requirement[] = Object.entries(selector.matchLabels ?? {}).map(([key, v]) => ({
    key,
    op: 'eq' as const,
    values: [v] as [string],
  }));
  for (const e of selector.matchExpressions ?? []) {
    const op = e.operator.toLowerCase();
    if (op === 'in' || op === 'notin') out.push({ key: e.key, op, values: e.values ?? [] });
    else out.push({ key: e.key, op: op === 'exists' ? 'exists' : 'notexists', values: [] });
  }
  return out;
}
