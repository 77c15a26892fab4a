import { sealedContexts } from '../security/sealed-contexts.js';
import type { SecretBox } from '../security/secret-box.js';
import { generateToken } from '../security/tokens.js';

/**
 * A new agent token for a node: the plaintext (shown once) and what the row stores. The control
 * plane must present the token to the agent, so it is encrypted, not hashed; the agent keeps a hash.
 */
export function issueNodeToken(box: SecretBox, nodeId: string) {
  const token = generateToken('noa');
  return { token, tokenEnc: box.encrypt(token, sealedContexts.nodeToken(nodeId)), tokenIssuedAt: new Date() };
}

export function revealNodeToken(
  box: SecretBox,
  node: { id: string; tokenEnc: string | null },
): string | undefined {
  return node.tokenEnc ? box.decrypt(node.tokenEnc, sealedContexts.nodeToken(node.id)) : undefined;
}
