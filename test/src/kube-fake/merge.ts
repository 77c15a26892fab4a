import { deref, openApiSchemas } from './openapi.js';
import { errors } from './status.js';

type Json = any;
type Schema = Record<string, any>;

const isObject = (v: unknown): v is Record<string, Json> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function child(schema: Schema | undefined, key: string): Schema | undefined {
  const s = deref(schema);
  return s?.properties?.[key] ?? (isObject(s?.additionalProperties) ? s?.additionalProperties : undefined);
}

/** The keys an associative list is merged by (server-side apply and strategic merge), if any. */
function listKeys(arraySchema: Schema | undefined): string[] | undefined {
  if (!arraySchema) return undefined;
  if (arraySchema['x-kubernetes-list-type'] === 'map') return arraySchema['x-kubernetes-list-map-keys'];
  if (arraySchema['x-kubernetes-patch-merge-key']) return [arraySchema['x-kubernetes-patch-merge-key']];
  return undefined;
}

const itemKey = (item: Json, keys: string[]) =>
  JSON.stringify(
    Object.fromEntries(keys.map((k) => [k, item?.[k] ?? (k === 'protocol' ? 'TCP' : undefined)])),
  );

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, Json> = isObject(target) ? structuredClone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Strategic merge patch: like a merge patch, but lists with a merge key are merged by it. */
export function strategicMerge(target: Json, patch: Json, schema: Schema | undefined): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, Json> = isObject(target) ? structuredClone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$')) continue;
    const s = child(schema, k);
    if (v === null) delete out[k];
    else if (
      Array.isArray(v) &&
      listKeys(s) &&
      (s?.['x-kubernetes-patch-strategy'] ?? '').includes('merge')
    ) {
      const keys = listKeys(s) as string[];
      const merged: Json[] = Array.isArray(out[k]) ? structuredClone(out[k]) : [];
      for (const item of v) {
        const at = merged.findIndex((m) => itemKey(m, keys) === itemKey(item, keys));
        if (item?.$patch === 'delete') {
          if (at >= 0) merged.splice(at, 1);
        } else if (at >= 0) merged[at] = strategicMerge(merged[at], item, deref(s?.items));
        else merged.push(structuredClone(item));
      }
      out[k] = merged;
    } else if (isObject(v)) out[k] = strategicMerge(out[k], v, s);
    else out[k] = structuredClone(v);
  }
  return out;
}

/** RFC 6902 JSON patch; a failing `test` or a bad path is a 422 as on a real server. */
export function jsonPatch(target: Json, ops: Json[]): Json {
  const doc = { root: structuredClone(target) };
  const invalid = () => errors.invalidPatch();
  const parse = (path: string) => [
    'root',
    ...path
      .split('/')
      .slice(1)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~')),
  ];
  const parentOf = (path: string) => {
    const parts = parse(path);
    let node: Json = doc;
    for (const p of parts.slice(0, -1)) {
      node = node?.[p];
      if (node === undefined) throw invalid();
    }
    return { node, last: parts[parts.length - 1] as string };
  };
  const read = (path: string) => {
    const { node, last } = parentOf(path);
    return node[last];
  };
  for (const op of ops) {
    const { node, last } = parentOf(op.path);
    switch (op.op) {
      case 'add':
        if (Array.isArray(node))
          node.splice(last === '-' ? node.length : Number(last), 0, structuredClone(op.value));
        else node[last] = structuredClone(op.value);
        break;
      case 'replace':
        if (!(last in node)) throw invalid();
        node[last] = structuredClone(op.value);
        break;
      case 'remove':
        if (!(last in node)) throw invalid();
        if (Array.isArray(node)) node.splice(Number(last), 1);
        else delete node[last];
        break;
      case 'test':
        if (JSON.stringify(node[last]) !== JSON.stringify(op.value)) throw invalid();
        break;
      case 'copy':
      case 'move': {
        const value = structuredClone(read(op.from));
        if (op.op === 'move') {
          const from = parentOf(op.from);
          delete from.node[from.last];
        }
        node[last] = value;
        break;
      }
      default:
        throw invalid();
    }
  }
  return doc.root;
}

// ---------------------------------------------------------------------------------------------
// Field ownership for server-side apply: sets of leaf paths such as `.spec.replicas` or
// `.spec.template.spec.containers[name="web"].image`, and managedFields' FieldsV1 form.

/** The leaf field paths set in `value` (associative lists addressed by their keys). */
export function fieldPaths(value: Json, schema: Schema | undefined, prefix = ''): string[] {
  if (!isObject(value)) return [prefix];
  const out: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    if (!prefix && ['apiVersion', 'kind', 'status'].includes(k)) continue;
    if (!prefix && k === 'metadata') {
      for (const section of ['labels', 'annotations'] as const)
        for (const key of Object.keys(v?.[section] ?? {})) out.push(`.metadata.${section}.${key}`);
      continue;
    }
    const s = child(schema, k);
    const at = `${prefix}.${k}`;
    const keys = listKeys(s);
    if (Array.isArray(v) && keys) {
      for (const item of v) {
        const selector = keys
          .map((key) => `${key}=${JSON.stringify(item?.[key] ?? (key === 'protocol' ? 'TCP' : null))}`)
          .join(',');
        out.push(...fieldPaths(item, deref(s?.items), `${at}[${selector}]`));
      }
    } else if (isObject(v) && Object.keys(v).length) out.push(...fieldPaths(v, s, at));
    else out.push(at);
  }
  return out;
}

/** Reads the value at a field path (undefined when absent). */
function valueAt(obj: Json, path: string): Json {
  let node = obj;
  for (const part of splitPath(path)) {
    if (node === undefined) return undefined;
    if (part.startsWith('[')) {
      const wanted = Object.fromEntries(
        part
          .slice(1, -1)
          .split(',')
          .map((kv) => {
            const i = kv.indexOf('=');
            return [kv.slice(0, i), JSON.parse(kv.slice(i + 1))];
          }),
      );
      node = (Array.isArray(node) ? node : []).find((item: Json) =>
        Object.entries(wanted).every(([k, v]) => (item?.[k] ?? (k === 'protocol' ? 'TCP' : null)) === v),
      );
    } else node = node[part];
  }
  return node;
}

function splitPath(path: string): string[] {
  const parts: string[] = [];
  const re = /\.((?:[^.[\\]|\\.)+)|(\[[^\]]*\])/g;
  for (const m of path.matchAll(re)) parts.push((m[1] ?? m[2]) as string);
  return parts;
}

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: Record<string, Json>;
  subresource?: string;
}

/** Path set → FieldsV1 (`f:spec`, `k:{"name":"web"}`, `.` for a map that is set itself). */
export function toFieldsV1(paths: string[]): Record<string, Json> {
  const root: Record<string, Json> = {};
  for (const path of paths) {
    let node = root;
    const parts = splitPath(path);
    parts.forEach((part, i) => {
      const key = part.startsWith('[')
        ? `k:${JSON.stringify(
            Object.fromEntries(
              part
                .slice(1, -1)
                .split(',')
                .map((kv) => [kv.slice(0, kv.indexOf('=')), JSON.parse(kv.slice(kv.indexOf('=') + 1))]),
            ),
          )}`
        : `f:${part}`;
      node[key] ??= {};
      if (i < parts.length - 1) node[key]['.'] = {};
      node = node[key];
    });
  }
  return root;
}

/** FieldsV1 → the path set it describes (leaves only). */
export function fromFieldsV1(fields: Record<string, Json>, prefix = ''): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(fields)) {
    if (key === '.') continue;
    const part = key.startsWith('k:')
      ? `[${Object.entries(JSON.parse(key.slice(2)))
          .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
          .join(',')}]`
      : `.${key.slice(2)}`;
    const children = Object.keys(value).filter((k) => k !== '.');
    if (children.length) out.push(...fromFieldsV1(value, prefix + part));
    else out.push(prefix + part);
  }
  return out;
}

/** Removes the value at a field path, if present. */
function removeAt(obj: Json, path: string) {
  const parts = splitPath(path);
  const last = parts.pop() as string;
  const parent = valueAt(obj, parts.map((p) => (p.startsWith('[') ? p : `.${p}`)).join(''));
  if (!parent) return;
  if (last.startsWith('[')) return;
  delete parent[last];
}

/**
 * Server-side apply of `config` by `manager` onto `live` (undefined when creating): fields owned
 * by another manager with a different value conflict unless `force`; the applier then owns exactly
 * the fields of its config, and fields it owned before but no longer applies are removed.
 */
export function serverSideApply(input: {
  live: Json | undefined;
  config: Json;
  manager: string;
  force: boolean;
  schemaName: string;
  apiVersion: string;
  now: string;
}): { object: Json; managedFields: ManagedFieldsEntry[] } {
  const schema = openApiSchemas()[input.schemaName];
  const managed: ManagedFieldsEntry[] = structuredClone(input.live?.metadata?.managedFields ?? []);
  const applied = fieldPaths(input.config, schema);
  const conflicts: { manager: string; field: string }[] = [];
  for (const entry of managed) {
    if (entry.manager === input.manager && entry.operation === 'Apply') continue;
    const owned = new Set(fromFieldsV1(entry.fieldsV1));
    for (const field of applied) {
      if (!owned.has(field)) continue;
      if (JSON.stringify(valueAt(input.live, field)) !== JSON.stringify(valueAt(input.config, field)))
        conflicts.push({ manager: entry.manager, field });
    }
  }
  if (conflicts.length && !input.force) throw errors.applyConflicts(conflicts);

  const previous = managed.find((e) => e.manager === input.manager && e.operation === 'Apply');
  const stillOwnedByOthers = new Set(
    managed.filter((e) => e !== previous).flatMap((e) => fromFieldsV1(e.fieldsV1)),
  );
  let object = strategicMerge(input.live ?? {}, input.config, schema);
  for (const dropped of previous ? fromFieldsV1(previous.fieldsV1).filter((f) => !applied.includes(f)) : [])
    if (!stillOwnedByOthers.has(dropped)) removeAt(object, dropped);
  if (input.force) {
    // Forcing takes the conflicting fields away from their owners.
    const taken = new Set(conflicts.map((c) => c.field));
    for (const entry of managed) {
      if (entry === previous) continue;
      const kept = fromFieldsV1(entry.fieldsV1).filter((f) => !taken.has(f));
      entry.fieldsV1 = toFieldsV1(kept);
    }
  }
  const entry: ManagedFieldsEntry = {
    manager: input.manager,
    operation: 'Apply',
    apiVersion: input.apiVersion,
    time: input.now,
    fieldsType: 'FieldsV1',
    fieldsV1: toFieldsV1(applied),
  };
  const others = managed.filter((e) => e !== previous && Object.keys(e.fieldsV1).length);
  object = { ...object, metadata: { ...object.metadata } };
  return { object, managedFields: [...others, entry] };
}
