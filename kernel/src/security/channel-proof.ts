import { createHmac } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

/** The `Authorization` scheme of the control channel's upgrade request. */
export const PROOF_SCHEME = 'NullOps-Proof';
/** The upgrade response header in which the agent proves itself back. */
export const AGENT_PROOF_HEADER = 'x-nullops-agent-proof';

/**
 * Proof of holding a node's token, bound to one TLS connection: an HMAC, keyed with the token's
 * hash (which both sides hold), of keying material exported from this TLS session (RFC 5705).
 * The token itself never crosses the wire, so a peer that answers at the node's address before
 * the real agent — or any man in the middle — learns nothing it can use: the proof is worthless on
 * any other connection (a relayed proof meets other keying material), and it cannot prove itself
 * back without the token. Each side proves with its own role, so one proof is never the other's.
 */
export function channelProof(tokenHash: string, socket: TLSSocket, role: 'control-plane' | 'agent'): string {
  const binding = socket.exportKeyingMaterial(32, 'EXPORTER-nullops-agent-channel-v1', Buffer.alloc(0));
  return createHmac('sha256', tokenHash)
    .update(`nullops-channel-proof-v1:${role}:`)
    .update(binding)
    .digest('base64url');
}
