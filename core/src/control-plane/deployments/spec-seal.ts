import type { ServiceSpec } from '@nullops/plugin-sdk';
import { sealedContexts } from '../security/sealed-contexts.js';
import type { SecretBox } from '../security/secret-box.js';

/** A service spec as stored: its env sealed. */
export type StoredSpec = Omit<ServiceSpec, 'env'> & { sealedEnv?: string };

/**
 * Service specs at rest: environment values can hold secrets (resolved `${secret:…}`, generated
 * database passwords), so each spec's env is sealed with the deployment id as context.
 */
export function sealSpecs(box: SecretBox, deploymentId: string, specs: ServiceSpec[]): StoredSpec[] {
  return specs.map(({ env, ...rest }) =>
    env && Object.keys(env).length
      ? { ...rest, sealedEnv: box.encrypt(JSON.stringify(env), sealedContexts.deploymentEnv(deploymentId)) }
      : rest,
  );
}

export function openSpecs(box: SecretBox, deploymentId: string, stored: StoredSpec[]): ServiceSpec[] {
  return stored.map(({ sealedEnv, ...rest }) =>
    sealedEnv
      ? { ...rest, env: JSON.parse(box.decrypt(sealedEnv, sealedContexts.deploymentEnv(deploymentId))) }
      : rest,
  );
}
