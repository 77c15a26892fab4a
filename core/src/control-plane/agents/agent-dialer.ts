import { isIP } from 'node:net';
import { connect, createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import {
  AGENT_PROOF_HEADER,
  channelProof,
  constantTimeEqual,
  nodeTokenHash,
  PROOF_SCHEME,
} from '@nullops/kernel';
import { AGENT_IDENTITY_HEADER, AGENT_WS_PATH, PROTOCOL_VERSION } from '@nullops/plugin-sdk';
import WebSocket from 'ws';

/** The agent presented a certificate other than the pinned one; nothing was sent to it. */
export class UntrustedCertificateError extends Error {
  constructor(readonly thumbprint: string) {
    super(`the agent's certificate changed (SHA-256 ${thumbprint}); approve it if this was expected`);
    this.name = 'UntrustedCertificateError';
  }
}

/** The peer took the connection but could not prove it holds the node's token: not our agent. */
export class UnprovenAgentError extends Error {
  constructor(
    readonly address: string,
    readonly thumbprint: string,
  ) {
    super(
      `the peer at ${address} (certificate SHA-256 ${thumbprint}) could not prove it holds this node's token: it is not the agent this node was registered for (check what listens there), or an agent older than this control plane; nothing was sent to it but a proof it cannot reuse`,
    );
    this.name = 'UnprovenAgentError';
  }
}

/** The agent answered the upgrade with an HTTP error (401: it does not accept our token). */
export class AgentRefusedError extends Error {
  constructor(readonly status: number) {
    super(
      status === 401
        ? 'the agent refused the token; configure it with the current token (rotate to get a new one)'
        : status === 409
          ? 'the agent refused to work for this node: another agent process holds its resources on that engine or cluster (the agent log says which)'
          : `the agent refused the connection (HTTP ${status})`,
    );
    this.name = 'AgentRefusedError';
  }
}

let shared: SecureContext | undefined;
/**
 * One TLS context for every dial (no client certificate, no CA: nothing differs between agents),
 * made once instead of per connection. TLS 1.3: its exported keying material is what the token
 * proof is bound to.
 */
const dialContext = () => {
  shared ??= createSecureContext({ minVersion: 'TLSv1.3' });
  return shared;
};

export interface DialOptions {
  host: string;
  port: number;
  token: string;
  /** The pinned thumbprint, or null on first contact (then whatever the agent shows is pinned). */
  pinned: string | null;
  /** Whose agent it is: the installation and node, which it labels everything with. */
  owner: { installationId: string; nodeId: string };
  timeoutMs: number;
  maxPayload: number;
}

/**
 * Opens the WebSocket to an agent in two steps over one TLS connection: first the handshake, whose
 * certificate thumbprint is compared with the pinned one — on a mismatch the connection is closed
 * with nothing sent — and only then the HTTP upgrade. The token never crosses the wire: the
 * upgrade carries a proof of it bound to this TLS session, and the agent answers with its own
 * (channel-proof.ts), so an unpinned certificate is trusted only when its holder knows the token.
 */
export async function dialAgent(
  options: DialOptions,
): Promise<{ ws: WebSocket; thumbprint: string; certificate: string }> {
  const socket = await new Promise<TLSSocket>((resolve, reject) => {
    const s = connect({
      host: options.host,
      port: options.port,
      ...(isIP(options.host) ? {} : { servername: options.host }),
      // The agent's certificate is self-signed: trust comes from the pinned thumbprint, checked below.
      rejectUnauthorized: false,
      secureContext: dialContext(),
    });
    const timer = setTimeout(() => {
      s.destroy();
      reject(
        new Error(`no TLS handshake with ${options.host}:${options.port} within ${options.timeoutMs} ms`),
      );
    }, options.timeoutMs);
    s.once('secureConnect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot reach the agent at ${options.host}:${options.port}: ${err.message}`));
    });
  });
  const peer = socket.getPeerCertificate();
  const thumbprint = peer.fingerprint256;
  const certificate = peer.raw
    ? `-----BEGIN CERTIFICATE-----\n${peer.raw
        .toString('base64')
        .match(/.{1,64}/g)
        ?.join('\n')}\n-----END CERTIFICATE-----\n`
    : '';
  if (!thumbprint || (options.pinned && thumbprint !== options.pinned)) {
    socket.destroy();
    throw new UntrustedCertificateError(thumbprint ?? 'none');
  }
  const tokenHash = nodeTokenHash(options.token);
  const host = isIP(options.host) === 6 ? `[${options.host}]` : options.host;
  const ws = new WebSocket(`wss://${host}:${options.port}${AGENT_WS_PATH}`, {
    createConnection: () => socket,
    headers: {
      authorization: `${PROOF_SCHEME} ${channelProof(tokenHash, socket, 'control-plane')}`,
      'x-nullops-protocol': String(PROTOCOL_VERSION),
      [AGENT_IDENTITY_HEADER]: `${options.owner.installationId}/${options.owner.nodeId}`,
    },
    handshakeTimeout: options.timeoutMs,
    maxPayload: options.maxPayload,
    perMessageDeflate: false,
  });
  let agentProof: string | undefined;
  ws.once('upgrade', (res) => {
    agentProof = String(res.headers[AGENT_PROOF_HEADER] ?? '');
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      ws.terminate();
      reject(new AgentRefusedError(res.statusCode ?? 0));
    });
    ws.once('error', (err) => reject(err));
  });
  if (!agentProof || !constantTimeEqual(agentProof, channelProof(tokenHash, socket, 'agent'))) {
    ws.terminate();
    throw new UnprovenAgentError(`${options.host}:${options.port}`, thumbprint);
  }
  return { ws, thumbprint, certificate };
}
