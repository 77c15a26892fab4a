import type { RequestOptions } from 'node:http';
import { Agent } from 'node:https';
import type { Duplex } from 'node:stream';
import { connect } from 'node:tls';

/**
 * A keep-alive HTTPS agent for one peer (a node's edge, another control-plane replica) that trusts
 * exactly the peer's pinned certificate: each new connection is handed to a request only after its
 * thumbprint matched, so nothing — headers, the edge key, a user's cookies — is ever written to an
 * impostor. With `client`, it shows that certificate in turn (mutual TLS).
 */
export class PinnedAgent extends Agent {
  constructor(
    readonly thumbprint: string,
    private readonly client?: { cert: string; key: string },
  ) {
    super({ keepAlive: true, maxSockets: 512, maxFreeSockets: 64, timeout: 60_000 });
  }

  override createConnection(
    options: RequestOptions,
    callback?: (err: Error | null, socket: Duplex) => void,
  ): undefined {
    const socket = connect({
      host: options.host ?? undefined,
      port: Number(options.port),
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      ...this.client,
    });
    const fail = (err: Error) => callback?.(err, socket);
    socket.once('error', fail);
    socket.once('secureConnect', () => {
      socket.off('error', fail);
      if (socket.getPeerCertificate().fingerprint256 !== this.thumbprint) {
        socket.destroy();
        callback?.(new Error('the peer presented a certificate other than the pinned one'), socket);
        return;
      }
      callback?.(null, socket);
    });
    // Handing the socket over asynchronously (through the callback) holds every request back until
    // the thumbprint was checked.
    return undefined;
  }
}
