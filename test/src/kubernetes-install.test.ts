import test from 'ava';
import { renderKustomize } from './helpers/kube-node.js';
import { schemaErrors } from './kube-fake/index.js';
import { openApiSchemas } from './kube-fake/openapi.js';
import { podSecurityViolations } from './kube-fake/pod-security.js';

// Installing the Kubernetes agent as documented: `kubectl apply -k deploy/kubernetes/agent`. The
// base is rendered by the real kustomize (kubectl's) and every object checked against the OpenAPI
// schemas recorded from a real 1.28 API server.

const schemaOf = (object: { apiVersion?: string; kind?: string }) => {
  const [group, version] = (object.apiVersion as string).includes('/')
    ? (object.apiVersion as string).split('/')
    : ['core', object.apiVersion as string];
  const prefix = group === 'core' ? 'io.k8s.api.core' : `io.k8s.api.${(group as string).split('.')[0]}`;
  return `${prefix}.${version}.${object.kind}`;
};

test('the agent base renders with kustomize; every object is valid for the recorded API; the agent pod passes Pod Security restricted', (t) => {
  const objects = renderKustomize('deploy/kubernetes/agent');
  t.deepEqual(objects.map((o) => o.kind).sort(), [
    'ClusterRole',
    'ClusterRole',
    'ClusterRoleBinding',
    'Deployment',
    'Namespace',
    'Role',
    'RoleBinding',
    'Service',
    'ServiceAccount',
  ]);
  for (const object of objects) {
    const schema = schemaOf(object);
    t.truthy(openApiSchemas()[schema], `the recorded API knows ${schema}`);
    t.deepEqual(schemaErrors(schema, object), [], `${object.kind} ${object.metadata.name}`);
    if (object.kind !== 'Namespace' && !object.kind?.startsWith('Cluster'))
      t.is(
        object.metadata.namespace,
        'nullops-system',
        `${object.kind} ${object.metadata.name} is in the agent's namespace`,
      );
  }
  const agent = objects.find((o) => o.kind === 'Deployment');
  t.deepEqual(podSecurityViolations(agent?.spec.template.spec, 'restricted'), []);
  const namespace = objects.find((o) => o.kind === 'Namespace');
  t.is(namespace?.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');

  // The cluster-wide role holds nothing that reads or changes what is inside other namespaces.
  const clusterRole = objects.find((o) => o.kind === 'ClusterRole' && o.metadata.name === 'nullops-agent');
  const clusterWide = (clusterRole?.rules ?? []) as { resources: string[]; verbs: string[] }[];
  for (const sensitive of ['secrets', 'pods/exec', 'pods/log', 'deployments', 'services', 'configmaps'])
    t.false(
      clusterWide.some((r) => r.resources.includes(sensitive)),
      `no cluster-wide right on ${sensitive}`,
    );
  t.false(
    clusterWide.some(
      (r) => r.resources.includes('pods') && r.verbs.some((v) => v !== 'list' && v !== 'watch'),
    ),
    'pods are only listed and watched cluster-wide',
  );
});

test('the namespace guard renders: a ValidatingAdmissionPolicy confining the agent to NullOps namespaces', (t) => {
  const objects = renderKustomize('deploy/kubernetes/namespace-guard');
  t.deepEqual(
    objects.map((o) => o.kind),
    ['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'],
  );
  // admissionregistration.k8s.io/v1beta1 was not served by the recorded cluster (it needs a
  // feature gate on 1.28): the objects are checked for what they must say instead.
  const policy = objects[0];
  t.is(policy?.apiVersion, 'admissionregistration.k8s.io/v1beta1');
  t.regex(JSON.stringify(policy?.spec.validations), /dev\.nullops\.managed/);
  t.is(objects[1]?.spec.policyName, policy?.metadata.name);
});

test('the control-plane base and its with-postgres overlay render with kustomize; every object is valid for the recorded API; its pods pass Pod Security restricted', (t) => {
  const base = renderKustomize('deploy/kubernetes/control-plane');
  const trial = renderKustomize('deploy/kubernetes/overlays/with-postgres');
  t.deepEqual(base.map((o) => o.kind).sort(), [
    'Deployment',
    'Ingress',
    'Namespace',
    'PodDisruptionBudget',
    'Service',
  ]);
  t.deepEqual(trial.map((o) => o.kind).sort(), [
    'Deployment',
    'Ingress',
    'Namespace',
    'PodDisruptionBudget',
    'Service',
    'Service',
    'StatefulSet',
  ]);
  for (const object of [...base, ...trial]) {
    const schema = schemaOf(object);
    t.truthy(openApiSchemas()[schema], `the recorded API knows ${schema}`);
    t.deepEqual(schemaErrors(schema, object), [], `${object.kind} ${object.metadata.name}`);
    if (object.kind !== 'Namespace')
      t.is(object.metadata.namespace, 'nullops', `${object.kind} ${object.metadata.name}`);
  }
  const pods = [...base, ...trial].filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
  for (const workload of pods)
    t.deepEqual(podSecurityViolations(workload.spec.template.spec, 'restricted'), [], workload.metadata.name);
  // External PostgreSQL by default: the URL comes from a Secret; the trial builds it from its password.
  const envOf = (objects: typeof base) =>
    (objects.find((o) => o.kind === 'Deployment')?.spec.template.spec.containers[0].env ?? []) as {
      name: string;
      value?: string;
      valueFrom?: { secretKeyRef: { name: string; key: string } };
    }[];
  t.deepEqual(envOf(base).find((e) => e.name === 'DATABASE_URL')?.valueFrom?.secretKeyRef, {
    name: 'nullops-database',
    key: 'url',
  });
  t.is(
    envOf(trial).find((e) => e.name === 'DATABASE_URL')?.value,
    'postgres://nullops:$(DATABASE_PASSWORD)@nullops-postgres:5432/nullops',
  );
  const names = envOf(trial).map((e) => e.name);
  t.true(
    names.indexOf('DATABASE_PASSWORD') < names.indexOf('DATABASE_URL'),
    'the password is defined before the URL uses it',
  );
  // The Service and the Ingress reach the ports the container names.
  const ingress = base.find((o) => o.kind === 'Ingress');
  t.deepEqual(
    ingress?.spec.rules.map(
      (r: { http: { paths: { backend: { service: { port: { name: string } } } }[] } }) =>
        r.http.paths[0]?.backend.service.port.name,
    ),
    ['http', 'ingress'],
  );
});
