import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { TlsIdentity } from '@nullops/kernel';

/** What a request that came in through the relay listener carries: who relayed it, for whom. */
export interface RelayedBy {
  /** The thumbprint of the relaying replica's certificate. */
  thumbprint: string;
  /** The address of the client the relaying replica served. */
  clientIp: string | undefined;
}

/** Header with the client address the relaying replica saw (trusted only on this listener). */
export const CLIENT_IP_HEADER = 'x-nullops-client-ip';

/**
 * Requests relayed by the other replicas, over mutual TLS: this replica shows its certificate (the
 * one the others pin, by the thumbprint in the database), and answers only clients whose
 * certificate is a live replica's. Such a request is served by the same application as the API,
 * marked as relayed (`relayedBy`): it is never relayed again, and the client address the relaying
 * replica saw is the one audited.
 */
export class RelayListener {
  private server: Server | undefined;

  async start(options: {
    identity: TlsIdentity;
    host: string | undefined;
    port: number;
    handler: (req: IncomingMessage, res: ServerResponse) => void;
    /** Whether a certificate thumbprint is a live replica's (it may look again before answering). */
    isReplica: (thumbprint: string) => Promise<boolean>;
  }): Promise<number> {
    const server = createServer(
      {
        cert: options.identity.cert,
        key: options.identity.key,
        requestCert: true,
        // Self-signed peers: trusted by thumbprint below, not by a CA.
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
      },
      (req, res) => {
        const thumbprint = (req.socket as TLSSocket).getPeerCertificate()?.fingerprint256;
        void (thumbprint ? options.isReplica(thumbprint) : Promise.resolve(false)).then((replica) => {
          if (!replica) {
            res.writeHead(403, { 'content-type': 'application/json' });
            res.end(
              JSON.stringify({
                error: { code: 'forbidden', message: 'only control-plane replicas relay requests here' },
              }),
            );
            return;
          }
          const ip = req.headers[CLIENT_IP_HEADER];
          (req as RelayedRequest).relayedBy = {
            thumbprint,
            clientIp: typeof ip === 'string' && ip ? ip : undefined,
          } as RelayedBy;
          options.handler(req, res);
        });
      },
    );
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise((resolve) => {
      server.close(resolve);
      // Relayed streams too: the relaying replica ends its client's answer, which asks again.
      server.closeAllConnections();
    });
  }
}

/** A request as the relay listener hands it on. */
export type RelayedRequest = IncomingMessage & { relayedBy?: RelayedBy };
