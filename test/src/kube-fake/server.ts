import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { parse as parseYaml } from 'yaml';
import { fieldPaths, jsonPatch, mergePatch, serverSideApply, strategicMerge, toFieldsV1 } from './merge.js';
import { decode, openApiSchemas } from './openapi.js';
import {
  apiVersionOf,
  applyDefaults,
  findResource,
  type KubeObject,
  RESOURCES,
  type ResourceType,
  validate,
} from './resources.js';
import { matches, parseFieldSelector, parseLabelSelector, SelectorError } from './selectors.js';
import { ApiError, errors, successStatus } from './status.js';
import type { Store, StoreEvent } from './store.js';

/** A policy rule, as in a (Cluster)Role. */
/**
 * One RBAC rule: a ClusterRole's holds cluster-wide; a Role's (`namespace` set) only inside its
 * namespace. `resourceNames` limits it to those objects, as in RBAC.
 */
export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
  namespace?: string;
}

/** Who a bearer token is; `rules` undefined means a cluster admin (system:masters). */
export interface FakeUser {
  name: string;
  rules?: PolicyRule[];
}

/** One request as the fake saw it (tests count them and validate what was sent). */
export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string;
  body: unknown;
  status: number;
  user: string;
  resource?: string;
  verb?: string;
}

/** What the kubelet side of the fake serves: pod logs and exec. */
export interface NodeAgent {
  logs(pod: KubeObject, options: LogOptions, res: ServerResponse): Promise<void>;
  exec(
    pod: KubeObject,
    container: string,
    command: string[],
    socket: Duplex,
    req: IncomingMessage,
    head: Buffer,
  ): void;
  metrics?(namespace: string | undefined): Promise<KubeObject[] | undefined>;
}

export interface LogOptions {
  container: string;
  follow: boolean;
  timestamps: boolean;
  tailLines?: number;
  previous: boolean;
}

interface Target {
  resource: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
}

const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
const NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789';
const randomSuffix = (n = 5) =>
  Array.from({ length: n }, () => NAME_CHARS[Math.floor(Math.random() * NAME_CHARS.length)]).join('');
const PROTECTED_NAMESPACES = ['default', 'kube-system', 'kube-public'];

/**
 * The HTTP side of the fake Kubernetes API server: discovery, authentication and RBAC, CRUD with
 * resourceVersion semantics, list paging and selectors, watches, the four patch types including
 * server-side apply, delete propagation, and the pod subresources a kubelet serves.
 */
export class KubeApiServer {
  readonly requests: RecordedRequest[] = [];
  private serviceIp = 10;

  constructor(
    private readonly store: Store,
    readonly options: {
      users: Map<string, FakeUser>;
      node: NodeAgent;
      /** Serve metrics.k8s.io (a cluster with metrics-server). */
      metrics: boolean;
      /** Admission of a pod about to be created (ResourceQuota); throws to refuse it. */
      admitPod?: (namespace: string, pod: KubeObject) => void;
    },
  ) {}

  // -------------------------------------------------------------------------------------------
  // Entry points

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const query = Object.fromEntries(url.searchParams);
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query,
      contentType: String(req.headers['content-type'] ?? ''),
      body: undefined,
      status: 0,
      user: '',
    };
    this.requests.push(record);
    res.on('finish', () => {
      record.status = res.statusCode;
    });
    try {
      const raw = await readBody(req);
      const user = this.authenticate(req);
      record.user = user?.name ?? 'system:anonymous';
      if (this.nonResource(url.pathname, user, res)) return;
      if (!user) throw errors.unauthorized();
      if (user.name === 'system:anonymous' && !url.pathname.startsWith('/api'))
        throw errors.forbidden('forbidden');
      const target = this.resolve(url.pathname);
      if (!target) {
        if (this.discovery(url.pathname, res)) return;
        throw errors.unknownResource();
      }
      const verb = verbOf(record.method, target, query);
      record.resource = `${target.resource.plural}${target.subresource ? `/${target.subresource}` : ''}`;
      record.verb = verb;
      // Every user may ask what it may do.
      if (target.resource.plural !== 'selfsubjectaccessreviews') this.authorize(user, verb, target);
      const body = raw.length ? this.parseBody(record.method, record.contentType, raw, target) : undefined;
      record.body = body;
      if (body && ['create', 'update', 'patch'].includes(verb))
        this.refuseEscalation(user, target, body as KubeObject);
      await this.dispatch(record.method, verb, target, query, body, req, res, user);
    } catch (err) {
      const e =
        err instanceof ApiError
          ? err
          : err instanceof SelectorError
            ? errors.badRequest(err.message)
            : new ApiError(500, 'InternalError', `Internal error occurred: ${(err as Error).message}`);
      if (!res.headersSent) sendJson(res, e.code, e.toStatus());
      else res.end();
    }
  }

  /** WebSocket upgrades: only `pods/exec`. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const fail = (e: ApiError) => {
      const body = JSON.stringify(e.toStatus());
      socket.end(
        `HTTP/1.1 ${e.code} ${e.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    };
    try {
      const user = this.authenticate(req);
      if (!user) throw errors.unauthorized();
      const target = this.resolve(url.pathname);
      if (target?.resource.plural !== 'pods' || target.subresource !== 'exec' || !target.name)
        throw errors.unknownResource();
      this.authorize(user, 'create', target);
      const pod = this.store.get(target.resource, target.namespace, target.name);
      if (!pod) throw errors.notFound(target.resource, target.name);
      const command = url.searchParams.getAll('command');
      const container = url.searchParams.get('container') ?? pod.spec.containers[0].name;
      if (!pod.spec.containers.some((c: { name: string }) => c.name === container))
        throw errors.badRequest(`container ${container} is not valid for pod ${pod.metadata.name}`);
      this.requests.push({
        method: 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        contentType: '',
        body: undefined,
        status: 101,
        user: user.name,
        resource: 'pods/exec',
        verb: 'create',
      });
      this.options.node.exec(pod, container, command, socket, req, head);
    } catch (err) {
      fail(err instanceof ApiError ? err : new ApiError(500, 'InternalError', (err as Error).message));
    }
  }

  // -------------------------------------------------------------------------------------------
  // Authentication, authorization, routing

  private authenticate(req: IncomingMessage): FakeUser | undefined {
    const header = req.headers.authorization;
    if (!header) return { name: 'system:anonymous', rules: [] };
    const token = /^Bearer (.+)$/.exec(header)?.[1];
    return token ? this.options.users.get(token) : undefined;
  }

  /**
   * The rules that hold for a user in a namespace (or at the cluster scope): its own, plus what
   * the stored ClusterRoleBindings and — in that namespace — RoleBindings grant it, as RBAC does.
   */
  private rulesOf(user: FakeUser, namespace: string | undefined): PolicyRule[] {
    const rules = [...(user.rules ?? [])];
    const isMe = (subject: { kind: string; name: string; namespace?: string }) =>
      subject.kind === 'ServiceAccount'
        ? user.name === `system:serviceaccount:${subject.namespace}:${subject.name}`
        : subject.kind === 'User' && subject.name === user.name;
    const roleRules = (ref: { kind: string; name: string }, ns: string | undefined): PolicyRule[] => {
      const role =
        ref.kind === 'ClusterRole'
          ? this.store.get(resourceByPlural('clusterroles', RBAC_GROUP), undefined, ref.name)
          : this.store.get(resourceByPlural('roles', RBAC_GROUP), ns, ref.name);
      return (role?.rules ?? []) as PolicyRule[];
    };
    for (const binding of this.store.list(resourceByPlural('clusterrolebindings', RBAC_GROUP)))
      if ((binding.subjects ?? []).some(isMe)) rules.push(...roleRules(binding.roleRef, undefined));
    if (namespace)
      for (const binding of this.store.list(resourceByPlural('rolebindings', RBAC_GROUP), namespace))
        if ((binding.subjects ?? []).some(isMe))
          rules.push(...roleRules(binding.roleRef, namespace).map((r) => ({ ...r, namespace })));
    return rules;
  }

  /**
   * RBAC's escalation check: a (Cluster)RoleBinding may reference only a role the user may `bind`
   * (or holds every rule of — not modelled: the fake asks for `bind`).
   */
  private refuseEscalation(user: FakeUser, target: Target, body: KubeObject) {
    if (!user.rules || !['rolebindings', 'clusterrolebindings'].includes(target.resource.plural)) return;
    const ref = body.roleRef as { kind?: string; name?: string } | undefined;
    if (!ref?.name) return;
    const roleResource = resourceByPlural(ref.kind === 'ClusterRole' ? 'clusterroles' : 'roles', RBAC_GROUP);
    try {
      this.authorize(user, 'bind', {
        resource: roleResource,
        ...(ref.kind === 'ClusterRole' ? {} : { namespace: target.namespace }),
        name: ref.name,
      });
    } catch {
      throw errors.forbidden(
        `${target.resource.plural}.rbac.authorization.k8s.io "${body.metadata?.name ?? ''}" is forbidden: user "${user.name}" (groups=["system:serviceaccounts" "system:authenticated"]) is attempting to grant RBAC permissions not currently held`,
        { name: body.metadata?.name ?? '', group: 'rbac.authorization.k8s.io', kind: target.resource.plural },
      );
    }
  }

  private authorize(user: FakeUser, verb: string, target: Target) {
    if (!user.rules) return;
    const resource = target.subresource
      ? `${target.resource.plural}/${target.subresource}`
      : target.resource.plural;
    const allowed = this.rulesOf(user, target.resource.namespaced ? target.namespace : undefined).some(
      (r) =>
        (r.apiGroups.includes('*') || r.apiGroups.includes(target.resource.group)) &&
        (r.resources.includes('*') || r.resources.includes(resource)) &&
        (r.verbs.includes('*') || r.verbs.includes(verb)) &&
        (r.namespace === undefined || (target.resource.namespaced && r.namespace === target.namespace)) &&
        (!r.resourceNames?.length || (target.name !== undefined && r.resourceNames.includes(target.name))),
    );
    if (allowed) return;
    const scope =
      target.resource.namespaced && target.namespace
        ? `in the namespace "${target.namespace}"`
        : 'at the cluster scope';
    throw errors.forbidden(
      `${resource}${target.name ? ` "${target.name}"` : ''} is forbidden: User "${user.name}" cannot ${verb} resource "${resource}" in API group "${target.resource.group}" ${scope}`,
      {
        ...(target.name ? { name: target.name } : {}),
        ...(target.resource.group ? { group: target.resource.group } : {}),
        kind: target.resource.plural,
      },
    );
  }

  /** `/api/v1/...` or `/apis/<group>/<version>/...` → resource, namespace, name, subresource. */
  private resolve(path: string): Target | undefined {
    const parts = path.split('/').filter(Boolean);
    let group: string;
    let version: string;
    let rest: string[];
    if (parts[0] === 'api' && parts[1]) {
      group = '';
      version = parts[1];
      rest = parts.slice(2);
    } else if (parts[0] === 'apis' && parts[2]) {
      group = parts[1] as string;
      version = parts[2];
      rest = parts.slice(3);
    } else return undefined;
    if (!rest.length) return undefined;
    if (group === 'metrics.k8s.io' || group === 'authorization.k8s.io')
      return this.virtual(group, version, rest);
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      const resource = findResource(group, version, rest[2] as string);
      if (!resource?.namespaced) return undefined;
      return { resource, namespace: rest[1], name: rest[3], subresource: rest[4] };
    }
    const resource = findResource(group, version, rest[0] as string);
    if (!resource) return undefined;
    if (resource.plural === 'namespaces') return { resource, name: rest[1], subresource: rest[2] };
    if (resource.namespaced && rest.length > 1) return undefined;
    return { resource, name: rest[1], subresource: rest[2] };
  }

  /** Resources that are not stored: metrics and access reviews. */
  private virtual(group: string, version: string, rest: string[]): Target | undefined {
    const resource: ResourceType = {
      group,
      version,
      plural: group === 'metrics.k8s.io' ? 'pods' : 'selfsubjectaccessreviews',
      kind: group === 'metrics.k8s.io' ? 'PodMetrics' : 'SelfSubjectAccessReview',
      listKind: 'PodMetricsList',
      namespaced: group === 'metrics.k8s.io',
      schema: '',
      generation: false,
      verbs: group === 'metrics.k8s.io' ? ['get', 'list'] : ['create'],
      statusSubresource: false,
    };
    if (group === 'metrics.k8s.io') {
      if (!this.options.metrics || version !== 'v1beta1') return undefined;
      if (rest[0] === 'pods') return { resource };
      if (rest[0] === 'namespaces' && rest[2] === 'pods')
        return { resource, namespace: rest[1], name: rest[3] };
      return undefined;
    }
    return version === 'v1' && rest[0] === 'selfsubjectaccessreviews' ? { resource } : undefined;
  }

  private nonResource(path: string, user: FakeUser | undefined, res: ServerResponse): boolean {
    if (path === '/healthz' || path === '/livez') {
      sendText(res, 200, 'ok');
      return true;
    }
    if (path === '/readyz') {
      sendText(res, 200, '[+]ping ok\n[+]log ok\n[+]etcd ok\nreadyz check passed\n');
      return true;
    }
    if (path === '/version') {
      sendJson(res, 200, {
        major: '1',
        minor: '28',
        gitVersion: 'v1.28.7',
        gitCommit: 'nullops-kube-fake',
        gitTreeState: 'archive',
        buildDate: '2026-12-01T00:00:00Z',
        goVersion: 'go1.23.5',
        compiler: 'gc',
        platform: 'linux/amd64',
      });
      return true;
    }
    if (!user) return false;
    if (path === '/api') {
      sendJson(res, 200, {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1:6443' }],
      });
      return true;
    }
    if (path === '/apis') {
      const groups = [...new Set(RESOURCES.filter((r) => r.group).map((r) => `${r.group}/${r.version}`))];
      if (this.options.metrics) groups.push('metrics.k8s.io/v1beta1');
      groups.push('authorization.k8s.io/v1');
      sendJson(res, 200, {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: groups.map((gv) => {
          const [name, version] = gv.split('/') as [string, string];
          return {
            name,
            versions: [{ groupVersion: gv, version }],
            preferredVersion: { groupVersion: gv, version },
          };
        }),
      });
      return true;
    }
    return false;
  }

  private discovery(path: string, res: ServerResponse): boolean {
    const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))\/?$/.exec(path);
    if (!m) return false;
    const group = m[2] ?? '';
    const version = (m[1] ?? m[3]) as string;
    const resources = RESOURCES.filter((r) => r.group === group && r.version === version);
    if (!resources.length) return false;
    const subresources: Record<string, string[]> = {
      pods: ['log', 'exec', 'status'],
      deployments: ['scale', 'status'],
      replicasets: ['scale', 'status'],
      jobs: ['status'],
      namespaces: ['status', 'finalize'],
      serviceaccounts: ['token'],
      services: ['status'],
    };
    sendJson(res, 200, {
      kind: 'APIResourceList',
      ...(group ? { apiVersion: 'v1' } : {}),
      groupVersion: group ? `${group}/${version}` : version,
      resources: resources.flatMap((r) => [
        {
          name: r.plural,
          singularName: r.kind.toLowerCase(),
          namespaced: r.namespaced,
          kind: r.kind,
          verbs: r.verbs,
          ...(r.shortNames ? { shortNames: r.shortNames } : {}),
          ...(r.categories ? { categories: r.categories } : {}),
          storageVersionHash: `${Buffer.from(r.plural).toString('base64').slice(0, 11)}=`,
        },
        ...(subresources[r.plural] ?? []).map((sub) => ({
          name: `${r.plural}/${sub}`,
          singularName: '',
          namespaced: r.namespaced,
          ...(sub === 'scale' ? { group: 'autoscaling', version: 'v1' } : {}),
          ...(sub === 'token' ? { group: 'authentication.k8s.io', version: 'v1' } : {}),
          kind: sub === 'scale' ? 'Scale' : sub === 'token' ? 'TokenRequest' : r.kind,
          verbs:
            sub === 'log'
              ? ['get']
              : sub === 'exec' || sub === 'token'
                ? ['create', 'get']
                : ['get', 'patch', 'update'],
        })),
      ]),
    });
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // Bodies

  private parseBody(method: string, contentType: string, raw: Buffer, target: Target): unknown {
    const type = contentType.split(';')[0]?.trim() ?? '';
    const text = raw.toString('utf8');
    if (method === 'PATCH') {
      const patchTypes = [
        'application/apply-patch+yaml',
        'application/merge-patch+json',
        'application/strategic-merge-patch+json',
        'application/json-patch+json',
      ];
      if (!patchTypes.includes(type)) throw errors.unsupportedMediaType('415: Unsupported Media Type', {});
      try {
        return type === 'application/apply-patch+yaml' ? parseYaml(text) : JSON.parse(text);
      } catch (err) {
        throw errors.badRequest(`error decoding patch: ${(err as Error).message}`);
      }
    }
    if (type !== 'application/json' && type !== 'application/yaml' && type !== '')
      throw errors.unsupportedMediaType(
        'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf',
      );
    try {
      return type === 'application/yaml' ? parseYaml(text) : JSON.parse(text);
    } catch {
      throw errors.badRequest(
        `the object provided is unrecognized (must be of type ${target.resource.kind}): couldn't get version/kind; json parse error: unexpected end of JSON input (${text.slice(0, 30)} ...)`,
      );
    }
  }

  /** Kind/apiVersion/namespace of a posted object match the URL, its types decode; warnings out. */
  private checkPosted(target: Target, body: unknown, query: Record<string, string>): { warnings: string[] } {
    const r = target.resource;
    if (!body || typeof body !== 'object' || Array.isArray(body))
      throw errors.badRequest(`the object provided is unrecognized (must be of type ${r.kind})`);
    const obj = body as KubeObject;
    const bodyKind = obj.kind ?? r.kind;
    const bodyVersion = obj.apiVersion ?? apiVersionOf(r);
    if (bodyKind !== r.kind || bodyVersion !== apiVersionOf(r)) {
      const version = bodyVersion.split('/').pop();
      throw errors.badRequest(
        `${bodyKind} in version "${version}" cannot be handled as a ${r.kind}: converting (${version}.${bodyKind}) to (${r.group || 'core'}.${r.kind}): unknown conversion`,
      );
    }
    obj.metadata ??= {};
    if (r.namespaced && obj.metadata.namespace && obj.metadata.namespace !== target.namespace)
      throw errors.badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    const { unknownFields } = decode(r.schema, r.kind, obj);
    if (unknownFields.length && query.fieldValidation === 'Strict')
      throw errors.badRequest(
        `${r.kind} in version "${r.version}" cannot be handled as a ${r.kind}: strict decoding error: ${unknownFields
          .map((f) => `unknown field "${f}"`)
          .join(', ')}`,
      );
    return {
      warnings:
        query.fieldValidation === 'Ignore'
          ? []
          : unknownFields.map((f) => `299 - "unknown field \\"${f}\\""`),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Verbs

  private async dispatch(
    method: string,
    verb: string,
    target: Target,
    query: Record<string, string>,
    body: unknown,
    req: IncomingMessage,
    res: ServerResponse,
    user: FakeUser,
  ): Promise<void> {
    const r = target.resource;
    const manager = managerOf(req, query);
    if (r.group === 'authorization.k8s.io') return this.accessReview(body as KubeObject, user, manager, res);
    if (r.group === 'metrics.k8s.io') return this.podMetrics(target, query, res);
    if (target.subresource) return this.subresource(method, target, query, body, manager, req, res);
    switch (verb) {
      case 'watch':
        return this.watch(target, query, req, res);
      case 'list':
        return sendJson(res, 200, this.list(target, query));
      case 'get':
        return sendJson(res, 200, withKind(r, this.mustGet(target)));
      case 'create': {
        const { warnings } = this.checkPosted(target, body, query);
        const created = this.create(target, body as KubeObject, manager, query.dryRun === 'All');
        return sendJson(res, 201, created, warnings);
      }
      case 'update':
        return this.update(target, body, query, manager, res);
      case 'patch':
        return this.patch(target, body, query, manager, req, res);
      case 'delete':
        return this.delete(target, body, query, res);
      case 'deletecollection':
        return this.deleteCollection(target, query, res);
    }
    throw errors.methodNotAllowed();
  }

  private mustGet(target: Target): KubeObject {
    const obj = this.store.get(target.resource, target.namespace, target.name as string);
    if (!obj) throw errors.notFound(target.resource, target.name as string);
    return obj;
  }

  private list(target: Target, query: Record<string, string>) {
    const r = target.resource;
    const labels = parseLabelSelector(query.labelSelector);
    const fields = parseFieldSelector(query.fieldSelector);
    let items = this.store
      .list(r, target.namespace)
      .filter((o) => matches(labels, o.metadata.labels) && fields.every((f) => f(o)));
    let listRv = this.store.resourceVersion;
    let start = '';
    if (query.continue) {
      try {
        const token = JSON.parse(Buffer.from(query.continue, 'base64url').toString('utf8'));
        listRv = token.rv;
        start = String(token.start).slice(0, -1); // the key ends with a NUL byte
      } catch {
        throw errors.badRequest('continue key is not valid: illegal base64 data');
      }
      items = items.filter((o) => keyOf(o) > start);
    }
    const limit = query.limit ? Number(query.limit) : 0;
    const metadata: Record<string, unknown> = { resourceVersion: String(listRv) };
    if (limit > 0 && items.length > limit) {
      const last = items[limit - 1] as KubeObject;
      metadata.continue = Buffer.from(
        JSON.stringify({ v: 'meta.k8s.io/v1', rv: listRv, start: `${keyOf(last)}\u0000` }),
      ).toString('base64url');
      if (!query.labelSelector && !query.fieldSelector) metadata.remainingItemCount = items.length - limit;
      items = items.slice(0, limit);
    }
    return {
      kind: r.listKind,
      apiVersion: apiVersionOf(r),
      metadata,
      items: items.map(({ kind: _k, apiVersion: _a, ...rest }) => rest),
    };
  }

  /** Creates an object through the API (also used by the fake's own controllers). */
  create(
    target: Target,
    posted: KubeObject,
    manager: string,
    dryRun = false,
    managedFields?: unknown[],
  ): KubeObject {
    const r = target.resource;
    const obj = structuredClone(posted);
    obj.metadata ??= {};
    if (r.namespaced) {
      obj.metadata.namespace = target.namespace;
      this.checkNamespaceOpen(
        r,
        target.namespace as string,
        obj.metadata.name ?? obj.metadata.generateName ?? '',
      );
    }
    if (!obj.metadata.name && obj.metadata.generateName)
      obj.metadata.name = `${obj.metadata.generateName}${randomSuffix()}`;
    if (r.kind === 'Secret') foldStringData(obj);
    const causes = validate(r, obj);
    if (causes.length) throw errors.invalid(r, obj.metadata.name ?? '', causes);
    if (this.store.get(r, target.namespace, obj.metadata.name as string))
      throw errors.alreadyExists(r, obj.metadata.name as string);
    const { resourceVersion: _rv, ...meta } = obj.metadata;
    obj.metadata = { ...meta, uid: randomUUID(), creationTimestamp: now() };
    if (r.generation) obj.metadata.generation = 1;
    if (r.statusSubresource) delete obj.status;
    applyDefaults(r, obj);
    if (r.kind === 'Service') this.allocateClusterIp(obj);
    if (r.kind === 'Pod') this.options.admitPod?.(target.namespace as string, obj);
    obj.metadata.managedFields = managedFields ?? [updateEntry(manager, apiVersionOf(r), obj, r)];
    const stored = { apiVersion: apiVersionOf(r), kind: r.kind, ...obj } as KubeObject;
    reorderMetadata(stored);
    if (dryRun) return stored;
    return this.write(r, stored);
  }

  private checkNamespaceOpen(r: ResourceType, namespace: string, name: string) {
    const ns = this.store.get(resourceByPlural('namespaces'), undefined, namespace);
    if (!ns) throw errors.notFound(resourceByPlural('namespaces'), namespace);
    if (ns.metadata.deletionTimestamp)
      throw errors.forbidden(
        `${r.group ? `${r.plural}.${r.group}` : r.plural} "${name}" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`,
        {
          name,
          ...(r.group ? { group: r.group } : {}),
          kind: r.plural,
          causes: [
            {
              reason: 'NamespaceTerminating',
              message: `namespace ${namespace} is being terminated`,
              field: 'metadata.namespace',
            },
          ],
        },
      );
  }

  private allocateClusterIp(obj: KubeObject) {
    const requested = obj.spec.clusterIP;
    if (requested && requested !== 'None') {
      if (!requested.startsWith('10.96.'))
        throw errors.invalid(resourceByPlural('services'), obj.metadata.name as string, [
          {
            reason: 'FieldValueInvalid',
            message: `Invalid value: []string{"${requested}"}: failed to allocate IP ${requested}: the provided IP (${requested}) is not in the valid range. The range of valid IPs is 10.96.0.0/16`,
            field: 'spec.clusterIPs',
          },
        ]);
    } else if (!requested) {
      this.serviceIp++;
      obj.spec.clusterIP = `10.96.${Math.floor(this.serviceIp / 250)}.${(this.serviceIp % 250) + 1}`;
    }
    obj.spec.clusterIPs = [obj.spec.clusterIP];
    const ordered: Record<string, unknown> = {};
    for (const key of [
      'ports',
      'selector',
      'clusterIP',
      'clusterIPs',
      'type',
      'sessionAffinity',
      'ipFamilies',
      'ipFamilyPolicy',
      'internalTrafficPolicy',
    ])
      if (obj.spec[key] !== undefined) ordered[key] = obj.spec[key];
    obj.spec = { ...ordered, ...obj.spec };
  }

  /** Stores an object and lets the controllers know. */
  write(r: ResourceType, obj: KubeObject): KubeObject {
    const stored = this.store.put(r, obj);
    return stored;
  }

  private update(
    target: Target,
    body: unknown,
    query: Record<string, string>,
    manager: string,
    res: ServerResponse,
  ) {
    const r = target.resource;
    const { warnings } = this.checkPosted(target, body, query);
    const incoming = body as KubeObject;
    const current = this.store.get(r, target.namespace, target.name as string);
    if (!current) throw errors.notFound(r, target.name as string);
    if (
      incoming.metadata.resourceVersion &&
      incoming.metadata.resourceVersion !== current.metadata.resourceVersion
    )
      throw errors.conflict(r, target.name as string);
    const next = this.merged(r, current, incoming, manager);
    sendJson(res, 200, query.dryRun === 'All' ? next : this.replace(r, current, next), warnings);
  }

  /** The object an update leads to: identity and status kept, generation bumped on spec changes. */
  private merged(r: ResourceType, current: KubeObject, incoming: KubeObject, manager: string): KubeObject {
    const next = structuredClone(incoming);
    next.apiVersion = apiVersionOf(r);
    next.kind = r.kind;
    next.metadata = {
      ...next.metadata,
      name: current.metadata.name,
      ...(r.namespaced ? { namespace: current.metadata.namespace } : {}),
      uid: current.metadata.uid,
      creationTimestamp: current.metadata.creationTimestamp,
      ...(current.metadata.deletionTimestamp
        ? { deletionTimestamp: current.metadata.deletionTimestamp }
        : {}),
    } as KubeObject['metadata'];
    if (r.statusSubresource) next.status = current.status;
    if (r.kind === 'Secret') foldStringData(next);
    if (r.kind === 'Namespace')
      next.metadata.labels = {
        ...next.metadata.labels,
        'kubernetes.io/metadata.name': current.metadata.name as string,
      };
    const causes = validate(r, next);
    if (causes.length) throw errors.invalid(r, current.metadata.name as string, causes);
    if (r.generation)
      next.metadata.generation =
        JSON.stringify(next.spec) === JSON.stringify(current.spec)
          ? current.metadata.generation
          : (current.metadata.generation ?? 1) + 1;
    const changed = changedPaths(current, next, r);
    const others = (
      (current.metadata.managedFields ?? []) as { manager: string; operation: string }[]
    ).filter((e) => !(e.manager === manager && e.operation === 'Update'));
    next.metadata.managedFields = changed.length
      ? [
          ...others,
          {
            manager,
            operation: 'Update',
            apiVersion: apiVersionOf(r),
            time: now(),
            fieldsType: 'FieldsV1',
            fieldsV1: toFieldsV1(changed),
          },
        ]
      : current.metadata.managedFields;
    reorderMetadata(next);
    return next;
  }

  /** Writes `next` unless it changes nothing (then the stored version, resourceVersion kept). */
  private replace(r: ResourceType, current: KubeObject, next: KubeObject): KubeObject {
    const strip = (o: KubeObject) =>
      JSON.stringify({
        ...o,
        metadata: { ...o.metadata, resourceVersion: undefined, managedFields: undefined },
      });
    if (strip(current) === strip(next)) return current;
    return this.write(r, next);
  }

  private patch(
    target: Target,
    body: unknown,
    query: Record<string, string>,
    manager: string,
    req: IncomingMessage,
    res: ServerResponse,
  ) {
    const r = target.resource;
    const type = String(req.headers['content-type']).split(';')[0]?.trim();
    const current = this.store.get(r, target.namespace, target.name as string);
    if (type === 'application/apply-patch+yaml') {
      if (!query.fieldManager)
        throw new ApiError(
          422,
          'Invalid',
          'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
          {
            group: 'meta.k8s.io',
            kind: 'PatchOptions',
            causes: [
              {
                reason: 'FieldValueRequired',
                message: 'Required value: is required for apply patch',
                field: 'fieldManager',
              },
            ],
          },
        );
      const config = body as KubeObject;
      const { warnings } = this.checkPosted(target, config, query);
      if (config.metadata?.name && config.metadata.name !== target.name)
        throw errors.badRequest('the name of the object (…) does not match the name on the URL');
      const applied = serverSideApply({
        live: current,
        config,
        manager: query.fieldManager,
        force: query.force === 'true',
        schemaName: r.schema,
        apiVersion: apiVersionOf(r),
        now: now(),
      });
      if (!current) {
        const created = this.create(
          target,
          { ...applied.object, metadata: { ...applied.object.metadata, name: target.name } },
          query.fieldManager,
          query.dryRun === 'All',
          applied.managedFields,
        );
        return sendJson(res, 201, created, warnings);
      }
      const next = this.merged(r, current, applied.object, query.fieldManager);
      next.metadata.managedFields = applied.managedFields as never;
      // Containers, ports… added by this apply get their defaults, as on create.
      const defaulted = { ...next, metadata: { ...next.metadata }, status: undefined };
      applyDefaults(r, defaulted);
      next.spec = defaulted.spec;
      return sendJson(res, 200, query.dryRun === 'All' ? next : this.replace(r, current, next), warnings);
    }
    if (!current) throw errors.notFound(r, target.name as string);
    let patched: KubeObject;
    if (type === 'application/merge-patch+json') patched = mergePatch(current, body);
    else if (type === 'application/strategic-merge-patch+json')
      patched = strategicMerge(current, body, openApiSchemas()[r.schema]);
    else patched = jsonPatch(current, body as unknown[]);
    if (
      patched.metadata?.resourceVersion &&
      patched.metadata.resourceVersion !== current.metadata.resourceVersion
    )
      throw errors.conflict(r, target.name as string);
    const next = this.merged(r, current, patched, manager);
    sendJson(res, 200, query.dryRun === 'All' ? next : this.replace(r, current, next));
  }

  private delete(target: Target, body: unknown, query: Record<string, string>, res: ServerResponse) {
    const r = target.resource;
    const options = { ...(body as Record<string, unknown> | undefined), ...query } as Record<string, unknown>;
    const policy = options.propagationPolicy as string | undefined;
    if (policy && !['Foreground', 'Background', 'Orphan'].includes(policy))
      throw new ApiError(
        422,
        'Invalid',
        `DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan", "nil"`,
        {
          group: 'meta.k8s.io',
          kind: 'DeleteOptions',
          causes: [
            {
              reason: 'FieldValueNotSupported',
              message: `Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan", "nil"`,
              field: 'propagationPolicy',
            },
          ],
        },
      );
    const current = this.mustGet(target);
    if (r.plural === 'namespaces' && PROTECTED_NAMESPACES.includes(current.metadata.name as string))
      throw errors.forbidden(
        `namespaces "${current.metadata.name}" is forbidden: this namespace may not be deleted`,
        {
          name: current.metadata.name,
          kind: 'namespaces',
        },
      );
    if (options.dryRun === 'All') return sendJson(res, 200, current);
    sendJson(
      res,
      200,
      this.deleteObject(r, current, policy, options.gracePeriodSeconds as number | undefined),
    );
  }

  /**
   * Deletes as the registry does: objects with finalizers, pods on a node (graceful), namespaces
   * and Foreground/Orphan deletes stay with a deletionTimestamp and the object is returned; the
   * rest goes at once and a `Status` is returned.
   */
  deleteObject(
    r: ResourceType,
    current: KubeObject,
    policy?: string,
    gracePeriodSeconds?: number,
  ): KubeObject {
    const meta = current.metadata;
    const deleting = structuredClone(current);
    if (meta.deletionTimestamp) {
      return deleting;
    }
    if (r.plural === 'namespaces') {
      deleting.metadata.deletionTimestamp = now();
      deleting.status = { ...deleting.status, phase: 'Terminating' };
      return this.write(r, deleting);
    }
    const finalizers = [...(meta.finalizers ?? [])];
    const grace =
      r.plural === 'pods' && current.spec?.nodeName
        ? Number(gracePeriodSeconds ?? current.spec.terminationGracePeriodSeconds ?? 30)
        : 0;
    if (policy === 'Foreground' && !finalizers.includes('foregroundDeletion'))
      finalizers.push('foregroundDeletion');
    if (policy === 'Orphan' && !finalizers.includes('orphan')) finalizers.push('orphan');
    if (finalizers.length || grace > 0) {
      deleting.metadata.deletionTimestamp = new Date(Date.now() + grace * 1000)
        .toISOString()
        .replace(/\.\d{3}Z$/, 'Z');
      // Marking an object as deleting is a spec-level change: its generation moves on.
      if (deleting.metadata.generation !== undefined) deleting.metadata.generation += 1;
      deleting.metadata.deletionGracePeriodSeconds = grace;
      if (finalizers.length) deleting.metadata.finalizers = finalizers;
      reorderMetadata(deleting);
      return this.write(r, deleting);
    }
    const gone = this.store.remove(r, current) as KubeObject;
    return (
      r.plural === 'pods' ? gone : successStatus(r, meta.name as string, meta.uid as string)
    ) as KubeObject;
  }

  private deleteCollection(target: Target, query: Record<string, string>, res: ServerResponse) {
    const listed = this.list(target, query);
    const items = listed.items.map((o) =>
      this.deleteObject(
        target.resource,
        { ...o, apiVersion: apiVersionOf(target.resource), kind: target.resource.kind } as KubeObject,
        query.propagationPolicy,
      ),
    );
    sendJson(res, 200, {
      kind: target.resource.listKind,
      apiVersion: apiVersionOf(target.resource),
      metadata: { resourceVersion: String(this.store.resourceVersion) },
      items: listed.items.map((o, i) => (items[i]?.kind === 'Status' ? o : items[i])),
    });
  }

  // -------------------------------------------------------------------------------------------
  // Watch

  private watch(target: Target, query: Record<string, string>, req: IncomingMessage, res: ServerResponse) {
    const r = target.resource;
    const labels = parseLabelSelector(query.labelSelector);
    const fields = parseFieldSelector(query.fieldSelector);
    const inScope = (o: KubeObject | undefined) =>
      Boolean(o) &&
      (!r.namespaced || target.namespace === undefined || o?.metadata.namespace === target.namespace) &&
      (!target.name || o?.metadata.name === target.name);
    const selected = (o: KubeObject | undefined) =>
      inScope(o) && matches(labels, o?.metadata.labels) && fields.every((f) => f(o as KubeObject));
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    // A real API server answers a watch's headers at once, before any event: clients (an informer
    // starting) wait for them.
    res.flushHeaders();
    const send = (type: string, object: unknown) => {
      // A watch the server ended (timeoutSeconds) or the client left hears nothing more.
      if (!res.writableEnded && !res.destroyed) res.write(`${JSON.stringify({ type, object })}\n`);
    };
    const frame = (e: StoreEvent) => {
      if (e.resource !== r) return;
      const now = selected(e.object);
      const before = e.type !== 'ADDED' && selected(e.previous);
      const object = withKind(r, e.object);
      if (e.type === 'DELETED') {
        if (before) send('DELETED', object);
      } else if (now && before) send('MODIFIED', object);
      else if (now) send('ADDED', object);
      else if (before) send('DELETED', object);
    };
    const rv = query.resourceVersion;
    if (!rv || rv === '0') {
      for (const o of this.store.list(r, target.namespace)) if (selected(o)) send('ADDED', withKind(r, o));
    } else {
      const missed = this.store.since(Number(rv));
      if (!missed) {
        send(
          'ERROR',
          errors.expired(`too old resource version: ${rv} (${this.store.oldestWatchable + 1})`).toStatus(),
        );
        res.end();
        return;
      }
      for (const e of missed) frame(e);
    }
    const listener = (e: StoreEvent) => frame(e);
    this.store.changes.on('change', listener);
    const stop = () => {
      clearTimeout(timeout);
      this.store.changes.off('change', listener);
    };
    const timeout = query.timeoutSeconds
      ? setTimeout(() => {
          stop();
          res.end();
        }, Number(query.timeoutSeconds) * 1000)
      : undefined;
    res.on('close', stop);
    req.on('close', stop);
  }

  // -------------------------------------------------------------------------------------------
  // Subresources

  private async subresource(
    method: string,
    target: Target,
    query: Record<string, string>,
    body: unknown,
    manager: string,
    req: IncomingMessage,
    res: ServerResponse,
  ) {
    const r = target.resource;
    const sub = target.subresource;
    if (r.plural === 'pods' && sub === 'log' && method === 'GET') return this.podLog(target, query, res);
    if ((r.plural === 'deployments' || r.plural === 'replicasets') && sub === 'scale' && method === 'GET') {
      const o = this.mustGet(target);
      return sendJson(res, 200, {
        kind: 'Scale',
        apiVersion: 'autoscaling/v1',
        metadata: {
          name: o.metadata.name,
          namespace: o.metadata.namespace,
          uid: o.metadata.uid,
          resourceVersion: o.metadata.resourceVersion,
          creationTimestamp: o.metadata.creationTimestamp,
        },
        spec: { replicas: o.spec.replicas },
        status: {
          replicas: o.status?.replicas ?? 0,
          selector: Object.entries(o.spec.selector?.matchLabels ?? {})
            .map(([k, v]) => `${k}=${v}`)
            .join(','),
        },
      });
    }
    if (r.plural === 'serviceaccounts' && sub === 'token' && method === 'POST') {
      const request = body as KubeObject;
      const token = `fake-sa-${randomUUID()}`;
      this.options.users.set(token, {
        name: `system:serviceaccount:${target.namespace}:${target.name}`,
        rules: [],
      });
      const expirationSeconds = request?.spec?.expirationSeconds ?? 3600;
      return sendJson(res, 201, {
        kind: 'TokenRequest',
        apiVersion: 'authentication.k8s.io/v1',
        metadata: { name: target.name, namespace: target.namespace, creationTimestamp: now() },
        spec: {
          audiences: ['https://kubernetes.default.svc.cluster.local'],
          expirationSeconds,
          boundObjectRef: null,
        },
        status: {
          token,
          expirationTimestamp: new Date(Date.now() + expirationSeconds * 1000)
            .toISOString()
            .replace(/\.\d{3}Z$/, 'Z'),
        },
      });
    }
    if (sub === 'status' && r.statusSubresource) {
      const current = this.mustGet(target);
      if (method === 'GET') return sendJson(res, 200, current);
      const patched =
        method === 'PUT'
          ? (body as KubeObject)
          : String(req.headers['content-type']).includes('merge-patch')
            ? mergePatch(current, body)
            : strategicMerge(current, body, openApiSchemas()[r.schema]);
      const next = { ...current, status: patched.status };
      next.metadata = { ...current.metadata };
      void manager;
      return sendJson(res, 200, this.replace(r, current, next));
    }
    throw errors.unknownResource();
  }

  private async podLog(target: Target, query: Record<string, string>, res: ServerResponse) {
    const pod = this.mustGet(target);
    const containers: { name: string }[] = pod.spec.containers;
    const container = query.container ?? (containers.length === 1 ? containers[0]?.name : undefined);
    if (!container)
      throw errors.badRequest(
        `a container name must be specified for pod ${pod.metadata.name}, choose one of: [${containers.map((c) => c.name).join(' ')}]`,
      );
    if (!containers.some((c) => c.name === container))
      throw errors.badRequest(`container ${container} is not valid for pod ${pod.metadata.name}`);
    if (!pod.spec.nodeName) {
      res.writeHead(204).end();
      return;
    }
    const status = (pod.status?.containerStatuses ?? []).find((s: { name: string }) => s.name === container);
    const started =
      status && (status.state?.running || status.state?.terminated || status.lastState?.terminated);
    if (!started) {
      const reason = status?.state?.waiting?.reason ?? 'ContainerCreating';
      throw errors.badRequest(
        `container "${container}" in pod "${pod.metadata.name}" is waiting to start: ${reason}`,
      );
    }
    await this.options.node.logs(
      pod,
      {
        container,
        follow: query.follow === 'true' || query.follow === '1',
        timestamps: query.timestamps === 'true',
        tailLines: query.tailLines ? Number(query.tailLines) : undefined,
        previous: query.previous === 'true',
      },
      res,
    );
  }

  private async podMetrics(target: Target, query: Record<string, string>, res: ServerResponse) {
    const items = (await this.options.node.metrics?.(target.namespace)) ?? [];
    const labels = parseLabelSelector(query.labelSelector);
    const selected = items.filter((m) => matches(labels, m.metadata.labels));
    if (target.name) {
      const one = selected.find((m) => m.metadata.name === target.name);
      if (!one)
        throw errors.notFound({ plural: 'pods', group: 'metrics.k8s.io', kind: 'PodMetrics' }, target.name);
      return sendJson(res, 200, one);
    }
    sendJson(res, 200, {
      kind: 'PodMetricsList',
      apiVersion: 'metrics.k8s.io/v1beta1',
      metadata: {},
      items: selected,
    });
  }

  private accessReview(review: KubeObject, user: FakeUser, manager: string, res: ServerResponse) {
    const a = review?.spec?.resourceAttributes ?? {};
    let allowed = true;
    try {
      const resource = RESOURCES.find((r) => r.group === (a.group ?? '') && r.plural === a.resource);
      if (!resource) allowed = !user.rules;
      else this.authorize(user, a.verb, { resource, namespace: a.namespace, subresource: a.subresource });
    } catch {
      allowed = false;
    }
    sendJson(res, 201, {
      kind: 'SelfSubjectAccessReview',
      apiVersion: 'authorization.k8s.io/v1',
      metadata: {
        creationTimestamp: null,
        managedFields: [updateEntry(manager, 'authorization.k8s.io/v1', review, undefined)],
      },
      spec: review.spec,
      status: { allowed },
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

function resourceByPlural(plural: string, group = ''): ResourceType {
  return RESOURCES.find((r) => r.plural === plural && r.group === group) as ResourceType;
}

const RBAC_GROUP = 'rbac.authorization.k8s.io';

function verbOf(method: string, target: Target, query: Record<string, string>): string {
  switch (method) {
    case 'GET':
      if (target.name) return 'get';
      return query.watch === 'true' || query.watch === '1' ? 'watch' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return target.name ? 'delete' : 'deletecollection';
    default:
      return method.toLowerCase();
  }
}

/** The field manager of a non-apply write: the User-Agent's first word, as the API server does. */
function managerOf(req: IncomingMessage, query: Record<string, string>): string {
  if (query.fieldManager) return query.fieldManager;
  const agent = String(req.headers['user-agent'] ?? 'unknown');
  return agent.split('/')[0]?.split(' ')[0] || 'unknown';
}

function updateEntry(manager: string, apiVersion: string, obj: KubeObject, r: ResourceType | undefined) {
  const schema = r ? openApiSchemas()[r.schema] : undefined;
  return {
    manager,
    operation: 'Update',
    apiVersion,
    time: now(),
    fieldsType: 'FieldsV1',
    fieldsV1: toFieldsV1(
      fieldPaths({ ...obj, status: undefined }, schema).filter(
        (p) => !p.startsWith('.metadata.managedFields'),
      ),
    ),
  };
}

/** The fields an update sets (none when it changes nothing): what its manager then owns. */
function changedPaths(current: KubeObject, next: KubeObject, r: ResourceType): string[] {
  const strip = (o: KubeObject) => ({
    ...o,
    status: undefined,
    metadata: { labels: o.metadata.labels, annotations: o.metadata.annotations },
  });
  if (JSON.stringify(strip(current)) === JSON.stringify(strip(next))) return [];
  return fieldPaths(strip(next), openApiSchemas()[r.schema]);
}

function foldStringData(obj: KubeObject) {
  if (obj.stringData) {
    obj.data = { ...obj.data };
    for (const [k, v] of Object.entries(obj.stringData as Record<string, string>))
      obj.data[k] = Buffer.from(v, 'utf8').toString('base64');
    delete obj.stringData;
  }
}

const METADATA_ORDER = [
  'name',
  'generateName',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
];

function reorderMetadata(obj: KubeObject) {
  const meta = obj.metadata as Record<string, unknown>;
  const ordered: Record<string, unknown> = {};
  for (const key of METADATA_ORDER) if (meta[key] !== undefined) ordered[key] = meta[key];
  for (const [k, v] of Object.entries(meta)) if (!(k in ordered) && v !== undefined) ordered[k] = v;
  obj.metadata = ordered as KubeObject['metadata'];
}

function keyOf(o: KubeObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : (o.metadata.name as string);
}

function withKind(r: ResourceType, o: KubeObject): KubeObject {
  const { apiVersion: _a, kind: _k, ...rest } = o;
  return { kind: r.kind, apiVersion: apiVersionOf(r), ...rest } as KubeObject;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, warnings: string[] = []) {
  const text = JSON.stringify(body);
  const headers: Record<string, string | number | string[]> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  };
  if (warnings.length) headers.warning = warnings;
  res.writeHead(status, headers);
  res.end(text);
}

function sendText(res: ServerResponse, status: number, text: string) {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(text);
}
