import type { Cause, ResourceName } from './status.js';

export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata: Metadata;
  spec?: any;
  status?: any;
  [key: string]: any;
};

export interface Metadata {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  managedFields?: unknown[];
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** One resource the fake serves. */
export interface ResourceType extends ResourceName {
  version: string;
  listKind: string;
  namespaced: boolean;
  /** OpenAPI schema name of the object. */
  schema: string;
  /** Objects with a spec whose changes bump metadata.generation. */
  generation: boolean;
  verbs: string[];
  shortNames?: string[];
  /** The resource has a `status` subresource: writes to the main resource keep the stored status. */
  statusSubresource: boolean;
  /** Whether PUT may create a missing object (ConfigMaps and most others: no). */
  createOnUpdate?: boolean;
  /** Discovery categories (`kubectl get all`). */
  categories?: string[];
}

const ALL = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

function type(
  group: string,
  version: string,
  plural: string,
  kind: string,
  namespaced: boolean,
  schema: string,
  extra: Partial<ResourceType> = {},
): ResourceType {
  return {
    group,
    version,
    plural,
    kind,
    listKind: `${kind}List`,
    namespaced,
    schema,
    generation: false,
    verbs: ALL,
    statusSubresource: false,
    ...extra,
  };
}

export const RESOURCES: ResourceType[] = [
  type('', 'v1', 'namespaces', 'Namespace', false, 'io.k8s.api.core.v1.Namespace', {
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    shortNames: ['ns'],
    statusSubresource: true,
  }),
  type('', 'v1', 'nodes', 'Node', false, 'io.k8s.api.core.v1.Node', {
    shortNames: ['no'],
    statusSubresource: true,
  }),
  type('', 'v1', 'pods', 'Pod', true, 'io.k8s.api.core.v1.Pod', {
    categories: ['all'],
    shortNames: ['po'],
    statusSubresource: true,
  }),
  type('', 'v1', 'services', 'Service', true, 'io.k8s.api.core.v1.Service', {
    categories: ['all'],
    shortNames: ['svc'],
    statusSubresource: true,
    verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
  }),
  type('', 'v1', 'endpoints', 'Endpoints', true, 'io.k8s.api.core.v1.Endpoints', { shortNames: ['ep'] }),
  type('', 'v1', 'secrets', 'Secret', true, 'io.k8s.api.core.v1.Secret'),
  type('', 'v1', 'configmaps', 'ConfigMap', true, 'io.k8s.api.core.v1.ConfigMap', { shortNames: ['cm'] }),
  type('', 'v1', 'serviceaccounts', 'ServiceAccount', true, 'io.k8s.api.core.v1.ServiceAccount', {
    shortNames: ['sa'],
  }),
  type('', 'v1', 'resourcequotas', 'ResourceQuota', true, 'io.k8s.api.core.v1.ResourceQuota', {
    shortNames: ['quota'],
    statusSubresource: true,
  }),
  type(
    '',
    'v1',
    'persistentvolumeclaims',
    'PersistentVolumeClaim',
    true,
    'io.k8s.api.core.v1.PersistentVolumeClaim',
    {
      shortNames: ['pvc'],
      statusSubresource: true,
    },
  ),
  type('', 'v1', 'events', 'Event', true, 'io.k8s.api.core.v1.Event', { shortNames: ['ev'] }),
  type('', 'v1', 'limitranges', 'LimitRange', true, 'io.k8s.api.core.v1.LimitRange', {
    shortNames: ['limits'],
  }),
  type('apps', 'v1', 'deployments', 'Deployment', true, 'io.k8s.api.apps.v1.Deployment', {
    categories: ['all'],
    generation: true,
    shortNames: ['deploy'],
    statusSubresource: true,
  }),
  type('apps', 'v1', 'replicasets', 'ReplicaSet', true, 'io.k8s.api.apps.v1.ReplicaSet', {
    categories: ['all'],
    generation: true,
    shortNames: ['rs'],
    statusSubresource: true,
  }),
  type('batch', 'v1', 'jobs', 'Job', true, 'io.k8s.api.batch.v1.Job', {
    categories: ['all'],
    generation: true,
    statusSubresource: true,
  }),
  type(
    'networking.k8s.io',
    'v1',
    'networkpolicies',
    'NetworkPolicy',
    true,
    'io.k8s.api.networking.v1.NetworkPolicy',
    {
      generation: true,
      shortNames: ['netpol'],
    },
  ),
  type('networking.k8s.io', 'v1', 'ingresses', 'Ingress', true, 'io.k8s.api.networking.v1.Ingress', {
    generation: true,
    shortNames: ['ing'],
    statusSubresource: true,
  }),
  type('coordination.k8s.io', 'v1', 'leases', 'Lease', true, 'io.k8s.api.coordination.v1.Lease'),
  type('rbac.authorization.k8s.io', 'v1', 'roles', 'Role', true, 'io.k8s.api.rbac.v1.Role'),
  type(
    'rbac.authorization.k8s.io',
    'v1',
    'rolebindings',
    'RoleBinding',
    true,
    'io.k8s.api.rbac.v1.RoleBinding',
  ),
  type(
    'rbac.authorization.k8s.io',
    'v1',
    'clusterroles',
    'ClusterRole',
    false,
    'io.k8s.api.rbac.v1.ClusterRole',
  ),
  type(
    'rbac.authorization.k8s.io',
    'v1',
    'clusterrolebindings',
    'ClusterRoleBinding',
    false,
    'io.k8s.api.rbac.v1.ClusterRoleBinding',
  ),
  type(
    'discovery.k8s.io',
    'v1',
    'endpointslices',
    'EndpointSlice',
    true,
    'io.k8s.api.discovery.v1.EndpointSlice',
    {
      generation: true,
    },
  ),
];

export function findResource(group: string, version: string, plural: string): ResourceType | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
}

export function resourceOfKind(kind: string): ResourceType {
  const r = RESOURCES.find((x) => x.kind === kind);
  if (!r) throw new Error(`no resource of kind ${kind}`);
  return r;
}

export const apiVersionOf = (r: ResourceType) => (r.group ? `${r.group}/${r.version}` : r.version);

// ---------------------------------------------------------------------------------------------
// Defaulting: what the API server fills in on create (as the recorded 201 bodies show).

function defaultContainer(c: any) {
  c.resources ??= {};
  c.terminationMessagePath ??= '/dev/termination-log';
  c.terminationMessagePolicy ??= 'File';
  const tag = String(c.image ?? '')
    .split('/')
    .pop()
    ?.split(':')[1];
  c.imagePullPolicy ??= !tag || tag === 'latest' ? 'Always' : 'IfNotPresent';
  for (const p of c.ports ?? []) p.protocol ??= 'TCP';
  for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
    if (!probe) continue;
    probe.timeoutSeconds ??= 1;
    probe.periodSeconds ??= 10;
    probe.successThreshold ??= 1;
    probe.failureThreshold ??= 3;
    if (probe.httpGet) probe.httpGet.scheme ??= 'HTTP';
  }
}

function defaultPodSpec(spec: any) {
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) defaultContainer(c);
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.securityContext ??= {};
  spec.schedulerName ??= 'default-scheduler';
}

function defaultTemplate(template: any) {
  template.metadata ??= {};
  template.metadata.creationTimestamp ??= null;
  template.spec ??= {};
  defaultPodSpec(template.spec);
}

/** Fills in type defaults, in place, as a real 1.28 server does on create. */
export function applyDefaults(r: ResourceType, obj: KubeObject): void {
  const spec = obj.spec;
  switch (r.kind) {
    case 'Namespace':
      obj.metadata.labels = {
        ...obj.metadata.labels,
        'kubernetes.io/metadata.name': obj.metadata.name as string,
      };
      obj.spec = { finalizers: ['kubernetes'], ...spec };
      obj.status = { phase: 'Active' };
      break;
    case 'Deployment':
      spec.replicas ??= 1;
      spec.strategy ??= { type: 'RollingUpdate' };
      if (spec.strategy.type === 'RollingUpdate')
        spec.strategy.rollingUpdate = {
          maxUnavailable: '25%',
          maxSurge: '25%',
          ...spec.strategy.rollingUpdate,
        };
      spec.revisionHistoryLimit ??= 10;
      spec.progressDeadlineSeconds ??= 600;
      spec.template ??= {};
      defaultTemplate(spec.template);
      obj.status = {};
      break;
    case 'ReplicaSet':
      spec.replicas ??= 1;
      spec.template ??= {};
      defaultTemplate(spec.template);
      obj.status ??= { replicas: 0 };
      break;
    case 'Job': {
      spec.parallelism ??= 1;
      spec.completions ??= 1;
      spec.backoffLimit ??= 6;
      spec.completionMode ??= 'NonIndexed';
      spec.suspend ??= false;
      const uid = obj.metadata.uid as string;
      spec.selector ??= { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
      spec.template ??= {};
      defaultTemplate(spec.template);
      spec.template.metadata.labels = {
        ...spec.template.metadata.labels,
        'batch.kubernetes.io/controller-uid': uid,
        'batch.kubernetes.io/job-name': obj.metadata.name,
        'controller-uid': uid,
        'job-name': obj.metadata.name,
      };
      obj.status = {};
      break;
    }
    case 'Pod':
      obj.spec ??= {};
      defaultPodSpec(obj.spec);
      obj.spec.serviceAccountName ??= 'default';
      obj.spec.serviceAccount ??= obj.spec.serviceAccountName;
      obj.spec.tolerations ??= [
        {
          key: 'node.kubernetes.io/not-ready',
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: 300,
        },
        {
          key: 'node.kubernetes.io/unreachable',
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: 300,
        },
      ];
      obj.spec.priority ??= 0;
      obj.spec.enableServiceLinks ??= true;
      obj.spec.preemptionPolicy ??= 'PreemptLowerPriority';
      obj.status = { phase: 'Pending', qosClass: qosClass(obj.spec) };
      break;
    case 'Service':
      spec.type ??= 'ClusterIP';
      spec.sessionAffinity ??= 'None';
      spec.ipFamilies ??= ['IPv4'];
      spec.ipFamilyPolicy ??= 'SingleStack';
      spec.internalTrafficPolicy ??= 'Cluster';
      for (const p of spec.ports ?? []) {
        p.protocol ??= 'TCP';
        p.targetPort ??= p.port;
      }
      obj.status = { loadBalancer: {} };
      break;
    case 'Secret':
      obj.type ??= 'Opaque';
      break;
    case 'NetworkPolicy':
      spec.policyTypes ??= spec.egress ? ['Ingress', 'Egress'] : ['Ingress'];
      break;
    case 'ResourceQuota':
      obj.status = {};
      break;
  }
}

/** The pod's QoS class, from its containers' requests and limits. */
export function qosClass(spec: any): string {
  const containers: any[] = spec.containers ?? [];
  const all = (key: 'requests' | 'limits') =>
    containers.every((c) => c.resources?.[key]?.cpu && c.resources?.[key]?.memory);
  if (containers.every((c) => !c.resources?.requests && !c.resources?.limits)) return 'BestEffort';
  const guaranteed =
    all('limits') &&
    containers.every(
      (c) =>
        (!c.resources?.requests?.cpu || c.resources.requests.cpu === c.resources.limits.cpu) &&
        (!c.resources?.requests?.memory || c.resources.requests.memory === c.resources.limits.memory),
    );
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

// ---------------------------------------------------------------------------------------------
// Quantities ("250m", "64Mi", "1.5", "2G") as numbers: CPU in millicores, memory in bytes.

const SUFFIX: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
};

export function parseQuantity(q: string | number | undefined): number {
  if (q === undefined) return 0;
  if (typeof q === 'number') return q;
  const m = /^([+-]?[0-9.]+)([a-zA-Z]*)$/.exec(q);
  if (!m || !((m[2] as string) in SUFFIX))
    throw new Error(
      `quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`,
    );
  return Number(m[1]) * (SUFFIX[m[2] as string] as number);
}

// ---------------------------------------------------------------------------------------------
// Validation: the 422 causes a real server gives for the objects the recorded requests send.

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const subdomainMessage = (v: string) =>
  `Invalid value: "${v}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`;
const labelMessage = (v: string) =>
  `Invalid value: "${v}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`;

const goMap = (m: Record<string, string>) =>
  `map[string]string{${Object.entries(m)
    .map(([k, v]) => `"${k}":"${v}"`)
    .join(', ')}}`;

function validatePodSpec(spec: any, path: string, causes: Cause[], forJob = false) {
  if (!spec?.containers?.length)
    causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: `${path}.containers` });
  (spec?.containers ?? []).forEach((c: any, i: number) => {
    const at = `${path}.containers[${i}]`;
    if (!c.name)
      causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: `${at}.name` });
    else if (!DNS1123_LABEL.test(c.name) || c.name.length > 63)
      causes.push({ reason: 'FieldValueInvalid', message: labelMessage(c.name), field: `${at}.name` });
    if (!c.image)
      causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: `${at}.image` });
    for (const resource of ['cpu', 'memory']) {
      const request = c.resources?.requests?.[resource];
      const limit = c.resources?.limits?.[resource];
      if (request !== undefined && limit !== undefined && parseQuantity(request) > parseQuantity(limit))
        causes.push({
          reason: 'FieldValueInvalid',
          message: `Invalid value: "${request}": must be less than or equal to ${resource} limit of ${limit}`,
          field: `${at}.resources.requests`,
        });
    }
  });
  if (forJob && spec && !['Never', 'OnFailure'].includes(spec.restartPolicy))
    causes.push({
      reason: 'FieldValueNotSupported',
      message: `Unsupported value: "${spec.restartPolicy}": supported values: "OnFailure", "Never"`,
      field: `${path}.restartPolicy`,
    });
}

function validateSelectorTemplate(obj: KubeObject, causes: Cause[]) {
  const selector = obj.spec?.selector?.matchLabels ?? {};
  const labels = obj.spec?.template?.metadata?.labels ?? {};
  if (!obj.spec?.selector)
    causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.selector' });
  else if (!Object.entries(selector).every(([k, v]) => labels[k] === v))
    causes.push({
      reason: 'FieldValueInvalid',
      message: `Invalid value: ${goMap(labels)}: \`selector\` does not match template \`labels\``,
      field: 'spec.template.metadata.labels',
    });
}

/** Semantic validation of an object about to be stored; an empty list means valid. */
export function validate(r: ResourceType, obj: KubeObject): Cause[] {
  const causes: Cause[] = [];
  const name = obj.metadata?.name;
  if (!name && !obj.metadata?.generateName)
    causes.push({
      reason: 'FieldValueRequired',
      message: 'Required value: name or generateName is required',
      field: 'metadata.name',
    });
  else if (name) {
    const asLabel = ['Namespace', 'Service'].includes(r.kind);
    if (
      asLabel
        ? !DNS1123_LABEL.test(name) || name.length > 63
        : !DNS1123_SUBDOMAIN.test(name) || name.length > 253
    )
      causes.push({
        reason: 'FieldValueInvalid',
        message: asLabel ? labelMessage(name) : subdomainMessage(name),
        field: 'metadata.name',
      });
  }
  switch (r.kind) {
    case 'Deployment':
    case 'ReplicaSet':
      if (typeof obj.spec?.replicas === 'number' && obj.spec.replicas < 0)
        causes.push({
          reason: 'FieldValueInvalid',
          message: `Invalid value: ${obj.spec.replicas}: must be greater than or equal to 0`,
          field: 'spec.replicas',
        });
      validateSelectorTemplate(obj, causes);
      validatePodSpec(obj.spec?.template?.spec, 'spec.template.spec', causes);
      break;
    case 'Job':
      validatePodSpec(obj.spec?.template?.spec, 'spec.template.spec', causes, true);
      break;
    case 'Pod':
      validatePodSpec(obj.spec, 'spec', causes);
      break;
    case 'Service':
      for (const [i, p] of (obj.spec?.ports ?? []).entries())
        if (!p.port)
          causes.push({
            reason: 'FieldValueRequired',
            message: 'Required value',
            field: `spec.ports[${i}].port`,
          });
      break;
    case 'Secret':
      if (obj.type === 'kubernetes.io/dockerconfigjson') {
        const value = obj.data?.['.dockerconfigjson'];
        if (value === undefined)
          causes.push({
            reason: 'FieldValueRequired',
            message: 'Required value',
            field: 'data[.dockerconfigjson]',
          });
        else {
          try {
            JSON.parse(Buffer.from(value, 'base64').toString('utf8'));
          } catch (err) {
            causes.push({
              reason: 'FieldValueInvalid',
              message: `Invalid value: "<secret contents redacted>": ${goJsonError(Buffer.from(value, 'base64').toString('utf8'), err as Error)}`,
              field: 'data[.dockerconfigjson]',
            });
          }
        }
      }
      break;
  }
  return causes;
}

/** Go's encoding/json wording for the first bad character (enough for the recorded case). */
function goJsonError(text: string, _err: Error): string {
  const m = /^\s*n(.)/.exec(text);
  if (m && m[1] !== 'u') return `invalid character '${m[1]}' in literal null (expecting 'u')`;
  const bad = /[^\s{}[\]",:0-9a-zA-Z.-]/.exec(text)?.[0] ?? text.trim()[0] ?? '';
  return `invalid character '${bad}' looking for beginning of value`;
}
