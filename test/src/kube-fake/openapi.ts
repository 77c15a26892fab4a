import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import { errors } from './status.js';

/**
 * The recordings of a real Kubernetes 1.28 API server (OpenAPI documents and transcripts), kept as
 * fixtures of this repository: the suite reads nothing outside it.
 */
export const K8S_API_DIR = fileURLToPath(new URL('../../fixtures/k8s-api', import.meta.url));

const DOCUMENTS = [
  'api/v1.json',
  'apis/apps/v1.json',
  'apis/batch/v1.json',
  'apis/networking.k8s.io/v1.json',
  'apis/discovery.k8s.io/v1.json',
  'apis/authorization.k8s.io/v1.json',
  'apis/authentication.k8s.io/v1.json',
  'apis/autoscaling/v1.json',
  'apis/coordination.k8s.io/v1.json',
  'apis/rbac.authorization.k8s.io/v1.json',
  'apis/policy/v1.json',
];

type Schema = Record<string, any>;

let schemas: Record<string, Schema> | undefined;

/** Every component schema of the recorded OpenAPI v3 documents, by name. */
export function openApiSchemas(): Record<string, Schema> {
  if (!schemas) {
    schemas = {};
    for (const doc of DOCUMENTS) {
      const parsed = JSON.parse(readFileSync(join(K8S_API_DIR, 'openapi', doc), 'utf8'));
      Object.assign(schemas, parsed.components?.schemas ?? {});
    }
  }
  return schemas;
}

/** The schema behind `$ref` / single-`allOf` wrappers. */
export function deref(schema: Schema | undefined): Schema | undefined {
  let s = schema;
  for (let i = 0; s && i < 10; i++) {
    const ref = s.$ref ?? (s.allOf?.length === 1 ? s.allOf[0].$ref : undefined);
    if (!ref) return s;
    s = openApiSchemas()[String(ref).replace('#/components/schemas/', '')];
  }
  return s;
}

const refName = (schema: Schema | undefined) =>
  String(schema?.$ref ?? schema?.allOf?.[0]?.$ref ?? '').replace('#/components/schemas/', '');

/**
 * Decodes a request body as the API server's JSON decoder would: a value of the wrong type is a
 * 400 BadRequest (not a 422), unknown fields are collected (a `Warning` header, or a 400 with
 * `fieldValidation=Strict`), and `format: byte` strings must be base64.
 */
export function decode(schemaName: string, kind: string, body: unknown): { unknownFields: string[] } {
  const unknownFields: string[] = [];
  const fail = (message: string) => {
    throw errors.badRequest(
      `${kind} in version "${versionOf(schemaName)}" cannot be handled as a ${kind}: ${message}`,
    );
  };
  const walk = (value: unknown, schema: Schema | undefined, path: string, struct: string) => {
    const s = deref(schema);
    if (!s || value === null || value === undefined) return;
    if (s['x-kubernetes-int-or-string']) {
      if (typeof value !== 'string' && typeof value !== 'number')
        fail(`json: cannot unmarshal ${goType(value)} into Go value of type intstr.IntOrString`);
      return;
    }
    const t = s.type;
    if (t === 'object' || s.properties) {
      if (typeof value !== 'object' || Array.isArray(value))
        fail(
          `json: cannot unmarshal ${goType(value)} into Go struct field ${struct}.${path} of type ${structName(schema)}`,
        );
      const obj = value as Record<string, unknown>;
      if (s.properties) {
        for (const [key, v] of Object.entries(obj)) {
          const child = s.properties[key];
          const at = path ? `${path}.${key}` : key;
          if (!child) {
            if (!s.additionalProperties) unknownFields.push(at);
            continue;
          }
          walk(v, child, at, s.properties && refName(schema) ? structName(schema) : struct);
        }
      } else if (s.additionalProperties) {
        for (const [key, v] of Object.entries(obj))
          walk(v, s.additionalProperties, `${path}[${key}]`, struct);
      }
      return;
    }
    if (t === 'array') {
      if (!Array.isArray(value))
        fail(
          `json: cannot unmarshal ${goType(value)} into Go struct field ${struct}.${path} of type []${s.items?.type ?? 'object'}`,
        );
      for (const [i, v] of (value as unknown[]).entries()) walk(v, s.items, `${path}[${i}]`, struct);
      return;
    }
    if (t === 'integer' && (typeof value !== 'number' || !Number.isInteger(value)))
      fail(
        `json: cannot unmarshal ${goType(value)} into Go struct field ${struct}.${path} of type ${s.format ?? 'int64'}`,
      );
    if (t === 'number' && typeof value !== 'number')
      fail(`json: cannot unmarshal ${goType(value)} into Go struct field ${struct}.${path} of type float64`);
    if (t === 'boolean' && typeof value !== 'boolean')
      fail(`json: cannot unmarshal ${goType(value)} into Go struct field ${struct}.${path} of type bool`);
    if (t === 'string') {
      if (typeof value !== 'string')
        fail(`json: cannot unmarshal ${goType(value)} into Go struct field ${struct}.${path} of type string`);
      if (s.format === 'byte') {
        const text = value as string;
        const bad = /[^A-Za-z0-9+/=]/.exec(text);
        if (bad || text.length % 4 !== 0)
          fail(`illegal base64 data at input byte ${bad?.index ?? text.length}`);
      }
    }
  };
  const top = openApiSchemas()[schemaName];
  walk(body, top, '', schemaName.split('.').pop() as string);
  return { unknownFields };
}

function versionOf(schemaName: string) {
  return schemaName.split('.').slice(-2, -1)[0] ?? 'v1';
}

function structName(schema: Schema | undefined): string {
  return refName(schema).split('.').pop() || 'object';
}

function goType(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'object' : typeof value;
}

// ---------------------------------------------------------------------------------------------
// Strict validation with ajv, for tests: is an object valid against its OpenAPI schema?

let ajv: Ajv | undefined;
const compiled = new Map<string, ValidateFunction>();

/** Validation errors of `value` against the named schema (`[]` when valid). */
export function schemaErrors(schemaName: string, value: unknown): string[] {
  if (!ajv) {
    ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    // One document holding every component, so `#/components/schemas/…` references resolve.
    ajv.addSchema({ $id: 'k8s', components: { schemas: rewriteRefs(openApiSchemas()) } } as object);
  }
  let validate = compiled.get(schemaName);
  if (!validate) {
    if (!openApiSchemas()[schemaName]) throw new Error(`no OpenAPI schema ${schemaName}`);
    validate = ajv.compile({ $ref: `k8s#/components/schemas/${schemaName}` });
    compiled.set(schemaName, validate);
  }
  // Go writes some unset fields as null (creationTimestamp, lastProbeTime) where the schema says
  // string: a real server's own answers do it, so null counts as absent.
  if (validate(withoutNulls(value))) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`);
}

/** ajv resolves `$ref`s against schema ids: keep the documents' `#/components/schemas/…` form. */
function rewriteRefs(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(rewriteRefs);
  if (!schema || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'x-kubernetes-int-or-string' && v) {
      out.type = ['integer', 'string'];
      continue;
    }
    out[k] = rewriteRefs(v);
  }
  return out;
}

function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== null)
      .map(([k, v]) => [k, withoutNulls(v)]),
  );
}
