export {
  type K8sAgentConfig,
  k8sAgent,
  k8sAgentConfigShape,
  keepCertificateInSecret,
  kubeConfigOf,
  loadK8sAgentConfig,
  startK8sAgent,
} from './k8s-agent.js';
export { KubeApi } from './runtime/kube-api.js';
export { kubeNames } from './runtime/kube-objects.js';
export { KubernetesRuntime, type KubernetesRuntimeOptions } from './runtime/kubernetes-runtime.js';
export { AGENT_VERSION } from './version.js';
