import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import type { KubeFake } from '../kube-fake/index.js';
import { schemaErrors } from '../kube-fake/index.js';
import { K8S_API_DIR, openApiSchemas } from '../kube-fake/openapi.js';
import { DEADLINE_MS } from './time.js';

/** One recorded exchange with a real Kubernetes API server. */
export interface Exchange {
  request: {
    method: string;
    path: string;
    query: Record<string, string>;
    headers: { 'content-type'?: string };
    body: unknown;
    auth?: string;
  };
  response: {
    status: number;
    headers: { 'content-type'?: string; warning?: string | string[] };
    body: any;
    events?: { type: string; object: any }[];
  };
  note?: string;
}

export function loadTranscript(name: string): Exchange[] {
  return JSON.parse(readFileSync(join(K8S_API_DIR, 'transcripts', name), 'utf8'));
}

export interface Answer {
  status: number;
  contentType: string;
  warning?: string | string[];
  body: any;
  text: string;
  frames?: { type: string; object: any }[];
}

/** Sends one request to the fake exactly as recorded (auth as given), with a time limit for watches. */
export function send(
  fake: KubeFake,
  input: {
    method: string;
    path: string;
    query: Record<string, string>;
    contentType?: string;
    body?: unknown;
    token?: string | null;
  },
  limitMs = DEADLINE_MS,
  until?: (frames: { type: string; object: any }[]) => boolean,
): Promise<Answer> {
  const url = new URL(fake.url + input.path);
  for (const [k, v] of Object.entries(input.query)) url.searchParams.set(k, v);
  const payload =
    input.body === undefined || input.body === null
      ? undefined
      : typeof input.body === 'string'
        ? input.body
        : JSON.stringify(input.body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: input.method,
        agent: new Agent({ ca: fake.ca }),
        headers: {
          'user-agent': 'curl/8.5.0',
          ...(input.token === null ? {} : { authorization: `Bearer ${input.token ?? fake.adminToken}` }),
          // Node sends DELETE bodies unframed unless their length is given.
          ...(payload !== undefined
            ? {
                'content-type': input.contentType ?? 'application/json',
                'content-length': Buffer.byteLength(payload),
              }
            : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        const timer = setTimeout(() => res.destroy(), limitMs);
        const done = () => {
          clearTimeout(timer);
          const contentType = String(res.headers['content-type'] ?? '');
          let body: any = text;
          try {
            body = contentType.includes('json') && text ? JSON.parse(text) : text;
          } catch {
            body = text;
          }
          const watching = input.query.watch === 'true' || input.query.watch === '1';
          resolve({
            status: res.statusCode ?? 0,
            contentType,
            warning: res.headers.warning,
            body: watching ? text : body,
            text,
            ...(watching ? { frames: framesOf(text) } : {}),
          });
        };
        res.on('data', (c) => {
          text += c;
          if (until?.(framesOf(text))) res.destroy();
        });
        res.on('end', done);
        res.on('close', done);
      },
    );
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

function framesOf(text: string): { type: string; object: any }[] {
  const lines = text.split('\n');
  lines.pop();
  return lines.filter(Boolean).map((l) => JSON.parse(l));
}

/** Values the real server generated (names, resourceVersions, continue tokens) → the fake's. */
export class ValueMap {
  private readonly map = new Map<string, string>();

  /** Learns from two answers to the same request: their objects' metadata, pairwise. */
  learn(recorded: any, ours: any) {
    const walk = (a: any, b: any, inMetadata: boolean) => {
      if (!a || !b || typeof a !== 'object' || typeof b !== 'object') return;
      if (Array.isArray(a)) {
        for (const [i, x] of a.entries()) walk(x, b[i], false);
        return;
      }
      if (inMetadata)
        for (const key of ['name', 'resourceVersion', 'continue', 'uid'])
          if (typeof a[key] === 'string' && typeof b[key] === 'string' && a[key] !== b[key])
            this.map.set(a[key], b[key]);
      for (const [k, v] of Object.entries(a)) if (k !== 'managedFields') walk(v, b[k], k === 'metadata');
    };
    walk(recorded, ours, false);
  }

  has(value: string) {
    return this.map.has(value);
  }

  apply<T>(value: T): T {
    if (typeof value === 'string') {
      let out: string = value;
      for (const [from, to] of this.map) if (from.length > 3) out = out.split(from).join(to);
      return (this.map.get(value) ?? out) as T;
    }
    if (Array.isArray(value)) return value.map((v) => this.apply(v)) as T;
    if (value && typeof value === 'object')
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.apply(v)])) as T;
    return value;
  }
}

/** What must agree between a recorded Status and the fake's: code, reason and details. */
export function statusShape(body: any) {
  if (body?.kind !== 'Status') return undefined;
  const d = body.details;
  return {
    status: body.status,
    code: body.code,
    reason: body.reason,
    details: d
      ? {
          ...(d.name !== undefined ? { name: d.name } : {}),
          ...(d.group !== undefined ? { group: d.group } : {}),
          ...(d.kind !== undefined ? { kind: d.kind } : {}),
          ...(d.uid !== undefined ? { uid: 'present' } : {}),
          ...(d.causes ? { causes: d.causes.map((c: any) => ({ reason: c.reason, field: c.field })) } : {}),
        }
      : undefined,
  };
}

const IGNORED_KEYS = new Set(['managedFields', 'imageID', 'containerID', 'message', 'lastProbeTime']);

/**
 * The key paths of `recorded` that `ours` lacks: every field a real server wrote (defaults,
 * generated fields, status) must be there too. Values are compared separately, where they matter.
 */
export function missingKeys(recorded: any, ours: any, path = ''): string[] {
  if (!recorded || typeof recorded !== 'object') return [];
  if (Array.isArray(recorded)) {
    if (!Array.isArray(ours)) return [path];
    return recorded.flatMap((r, i) => (i < ours.length ? missingKeys(r, ours[i], `${path}[${i}]`) : []));
  }
  if (!ours || typeof ours !== 'object') return [path];
  const out: string[] = [];
  for (const [k, v] of Object.entries(recorded)) {
    if (IGNORED_KEYS.has(k)) continue;
    // Service-account token volumes come from an admission plugin this fake does not run.
    if (k === 'volumes' || k === 'volumeMounts') continue;
    if (!(k in ours)) out.push(`${path}.${k}`);
    else out.push(...missingKeys(v, ours[k], `${path}.${k}`));
  }
  return out;
}

/** Values that show the state a recorded response was taken in. */
export function stateOf(body: any): unknown {
  if (!body || typeof body !== 'object') return body;
  if (Array.isArray(body.items)) return { kind: body.kind, items: body.items.map(stateOf) };
  // While an object is being deleted its status races the deletion: compare the markers only.
  if (body.metadata?.deletionTimestamp && body.kind !== 'Namespace')
    return { deleting: true, finalizers: body.metadata.finalizers };
  const s = body.status;
  const conditions = (s?.conditions ?? [])
    .map((c: any) => `${c.type}=${c.status}${c.reason ? `/${c.reason}` : ''}`)
    .sort();
  switch (body.kind ?? (body.spec?.containers ? 'Pod' : undefined)) {
    case 'Deployment':
      return {
        replicas: s?.replicas,
        readyReplicas: s?.readyReplicas,
        availableReplicas: s?.availableReplicas,
        deleting: Boolean(body.metadata?.deletionTimestamp),
        finalizers: body.metadata?.finalizers,
        conditions: conditions.filter((c: string) => !c.startsWith('Progressing')),
      };
    case 'Job':
      return { active: s?.active, succeeded: s?.succeeded, failed: s?.failed, conditions };
    case 'Namespace':
      return { phase: s?.phase, deleting: Boolean(body.metadata?.deletionTimestamp) };
    case 'Endpoints':
      return (body.subsets ?? []).map((x: any) => ({
        addresses: x.addresses?.length,
        notReady: x.notReadyAddresses?.length,
      }));
    default:
      if (body.spec?.containers)
        return {
          phase: s?.phase,
          scheduled: Boolean(body.spec?.nodeName),
          finalizers: body.metadata?.finalizers,
          conditions,
          containers: (s?.containerStatuses ?? []).map(
            (c: any) =>
              Object.keys(c.state ?? {})[0] + (c.state?.waiting ? `/${c.state.waiting.reason}` : ''),
          ),
        };
      if (body.metadata?.ownerReferences && body.spec?.replicas !== undefined)
        return {
          replicas: s?.replicas,
          ready: s?.readyReplicas,
          owners: body.metadata.ownerReferences.length,
        };
      return undefined;
  }
}

/** OpenAPI schema of a kind the fake answers with (undefined for Status and lists of other APIs). */
export function schemaOf(body: any): string | undefined {
  const kind = body?.kind as string | undefined;
  const apiVersion = body?.apiVersion as string | undefined;
  if (!kind || !apiVersion || kind === 'Status' || kind.endsWith('Review') || kind === 'TokenRequest')
    return undefined;
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['core', apiVersion];
  const prefix = {
    core: 'io.k8s.api.core',
    apps: 'io.k8s.api.apps',
    batch: 'io.k8s.api.batch',
    'networking.k8s.io': 'io.k8s.api.networking',
    'discovery.k8s.io': 'io.k8s.api.discovery',
    autoscaling: 'io.k8s.api.autoscaling',
  }[group as string];
  const name = prefix ? `${prefix}.${version}.${kind}` : undefined;
  return name && openApiSchemas()[name] ? name : undefined;
}

/** Errors of `body` against its OpenAPI schema. */
export function responseSchemaErrors(body: any): string[] {
  const schema = schemaOf(body);
  return schema ? schemaErrors(schema, body) : [];
}
