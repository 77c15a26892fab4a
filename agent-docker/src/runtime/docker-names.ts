import { createHash } from 'node:crypto';
import { RUNTIME_LABELS, type RuntimeOwner, type ServiceSpec } from '@nullops/plugin-sdk';

/** Names of the Docker objects of a deployment. Derived, never stored: the labels are the truth. */
export const dockerNames = {
  network: (deploymentId: string) => `nullops-${deploymentId}`,
  container: (deploymentId: string, service: string) => `nullops-${deploymentId}-${service}`,
  volume: (deploymentId: string, volume: string) => `nullops-${deploymentId}-${volume}`,
  job: (deploymentId: string, job: string, suffix: string) => `nullops-${deploymentId}-job-${job}-${suffix}`,
  /** One renewal of an agent process's claim on its node's resources (see `DockerRuntime.claim`). */
  claim: (nodeId: string, instance: string, renewedAt: number) =>
    `nullops-claim-${nodeId}-${instance}-${renewedAt}`,
};

/** The labels that make a resource this installation's and this node's. */
export function ownerLabels(owner: RuntimeOwner): Record<string, string> {
  return {
    [RUNTIME_LABELS.managed]: 'true',
    [RUNTIME_LABELS.installation]: owner.installationId,
    [RUNTIME_LABELS.node]: owner.nodeId,
  };
}

export function deploymentLabels(owner: RuntimeOwner, deploymentId: string): Record<string, string> {
  return { ...ownerLabels(owner), [RUNTIME_LABELS.deployment]: deploymentId };
}

export const SPEC_HASH_LABEL = 'dev.nullops.spec-hash';

/** A stable hash of a service spec: a changed spec means the container must be recreated. */
export function specHash(spec: ServiceSpec): string {
  const canonical = JSON.stringify(spec, (_key, value) =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)))
      : value,
  );
  return createHash('sha256').update(canonical).digest('hex').slice(0, 32);
}
