import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import Docker from 'dockerode';
import { scaled } from '../helpers/time.js';
import { type ControllerOptions, Controllers } from './controllers.js';
import { DockerKubelet } from './kubelet.js';
import { resourceOfKind } from './resources.js';
import { type FakeUser, KubeApiServer, type PolicyRule, type RecordedRequest } from './server.js';
import { Store } from './store.js';
import { servingCertificate } from './tls.js';

export { schemaErrors } from './openapi.js';
export type { FakeUser, PolicyRule, RecordedRequest };

export interface KubeFake {
  /** `https://127.0.0.1:<port>` */
  url: string;
  /** The cluster CA (PEM) that signed the API server's certificate. */
  ca: string;
  /** A cluster-admin bearer token. */
  adminToken: string;
  store: Store;
  api: KubeApiServer;
  /** Every request the fake answered, in order. */
  requests: RecordedRequest[];
  /** A kubeconfig (YAML) for `token` (default: the admin). */
  kubeconfig(token?: string): string;
  /** Registers a bearer token for a user with these RBAC rules. */
  addUser(user: FakeUser): string;
  /** Evicts a pod as a node under pressure does (phase Failed, reason Evicted, this message). */
  evict(namespace: string, pod: string, message: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * An in-process Kubernetes cluster for tests: an API server speaking the real REST API (checked
 * against recordings of a real 1.28 server), the controllers and scheduler it needs, and a kubelet
 * that runs pods as Docker containers on the local engine.
 */
export async function startKubeFake(
  options: Partial<ControllerOptions> & {
    metrics?: boolean;
    /** Run a kubelet (pods as Docker containers); without it pods stay Pending, as on a bare control plane. */
    kubelet?: boolean;
    /** Delay before a bound pod's containers are created (a real kubelet takes about a second). */
    startDelayMs?: number;
    crashBackoffMs?: number;
    imagePullBackoffMs?: number;
    /** How long a new pull secret cannot be read by the node (a real cluster's authorizer lag). */
    pullSecretLagMs?: number;
    /** How long after a restart the previous container's log is the kubelet's error text. */
    previousLogLagMs?: number;
    /** A local image with `sleep`, for the pod sandbox containers. */
    sandboxImage?: string;
    docker?: Docker;
  } = {},
): Promise<KubeFake> {
  const store = new Store();
  const users = new Map<string, FakeUser>();
  const adminToken = `admin-${randomBytes(12).toString('hex')}`;
  users.set(adminToken, { name: 'kube-admin' });
  const instance = randomBytes(3).toString('hex');
  const kubelet = new DockerKubelet(store, options.docker ?? new Docker(), {
    instance,
    // The simulated kubelet and controllers keep the suite's time scale (helpers/time.ts).
    crashBackoffMs: scaled(options.crashBackoffMs ?? 1000),
    startDelayMs: scaled(options.startDelayMs ?? 300),
    sandboxImage: options.sandboxImage ?? 'nullops-test/busybox:1',
    imagePullBackoffMs: scaled(options.imagePullBackoffMs ?? 1000),
    pullSecretLagMs: scaled(options.pullSecretLagMs ?? 0),
    previousLogLagMs: scaled(options.previousLogLagMs ?? 0),
  });
  let controllers: Controllers | undefined;
  const api = new KubeApiServer(store, {
    users,
    node: kubelet,
    metrics: options.metrics ?? false,
    admitPod: (namespace, pod) => controllers?.admitPod(namespace, pod),
  });
  controllers = new Controllers(store, api, {
    namespaceDeletionMs: scaled(options.namespaceDeletionMs ?? 1500),
    node: options.node ?? { cpu: '4', memory: '8Gi', pods: 110 },
    scheduler: options.scheduler ?? true,
  });
  const withKubelet = options.kubelet ?? true;
  if (withKubelet) controllers.registerNode();
  const namespaces = resourceOfKind('Namespace');
  for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease'])
    api.create(
      { resource: namespaces },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
      'kube-apiserver',
    );
  if (withKubelet) await kubelet.start();

  const tls = await servingCertificate();
  const server: Server = createServer(
    { cert: tls.cert, key: tls.key },
    (req, res) => void api.handle(req, res),
  );
  server.on('upgrade', (req, socket, head) => api.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    ca: tls.ca,
    adminToken,
    store,
    api,
    requests: api.requests,
    kubeconfig: (token = adminToken) =>
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: fake',
        '  cluster:',
        `    server: ${url}`,
        `    certificate-authority-data: ${Buffer.from(tls.ca).toString('base64')}`,
        'users:',
        '- name: fake',
        '  user:',
        `    token: ${token}`,
        'contexts:',
        '- name: fake',
        '  context: {cluster: fake, user: fake}',
        'current-context: fake',
        '',
      ].join('\n'),
    evict: (namespace, pod, message) => kubelet.evict(namespace, pod, message),
    addUser: (user) => {
      const token = `user-${randomBytes(12).toString('hex')}`;
      users.set(token, user);
      return token;
    },
    stop: async () => {
      controllers?.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (withKubelet) await kubelet.stop();
    },
  };
}
