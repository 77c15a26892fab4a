/**
 * What each sealed value is bound to. A ciphertext opens only with its own context (AES-GCM's
 * additional data), so a value copied into another row, or another column, does not decrypt.
 */
export const sealedContexts = {
  secret: (id: string) => `secret:${id}`,
  registryPassword: (registryId: string) => `registry:${registryId}:password`,
  pluginRegistryToken: (pluginId: string) => `plugin:${pluginId}:registry-token`,
  nodeToken: (nodeId: string) => `node:${nodeId}:token`,
  deploymentEnv: (deploymentId: string) => `deployment:${deploymentId}:env`,
  ssoClientSecret: (providerId: string) => `sso:${providerId}:client-secret`,
  ssoRefreshToken: (sessionId: string) => `session:${sessionId}:refresh-token`,
  /** A sign-in under way (state, nonce, PKCE verifier), kept in the browser until the callback. */
  ssoFlow: (providerSlug: string) => `sso-flow:${providerSlug}`,
} as const;
