import { createHash, createHmac } from 'node:crypto';

/** SHA-256 of a node token, hex: what the agent keeps instead of the token. */
export function nodeTokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * The key that authenticates the control plane's ingress to an agent's edge. Both sides derive it
 * from what they already hold — the agent from its token hash, the control plane from the token —
 * so it needs no exchange, rotates with the token, and is not the token itself (an ingress
 * configuration that leaks it cannot open the agent's control channel).
 */
export function edgeKey(tokenHash: string): string {
  return createHmac('sha256', tokenHash).update('nullops-agent-edge-v1').digest('hex');
}
