import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import type { Logger } from 'pino';
import { canonicalHost } from './host-name.js';
import type { IngressDriver, IngressRoute } from './ingress-driver.js';

// Hop-by-hop headers are about one connection and must not be forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
];

/**
 * The built-in ingress: a small reverse proxy that routes by Host header alone. A host that is not
 * exactly a known `service.deployment.environment.domain` — other case and a trailing dot aside —
 * gets 404; there is no wildcard, suffix or default route. WebSocket upgrades are tunnelled.
 */
export class BuiltinProxy implements IngressDriver {
  readonly name = 'builtin';
  private routes = new Map<string, IngressRoute>();
  private server: Server | undefined;

  constructor(private readonly logger: Logger) {}

  async apply(routes: IngressRoute[]): Promise<void> {
    this.routes = new Map(routes.map((r) => [r.host, r]));
  }

  /** Starts listening; returns the port (useful when asked for port 0). */
  async listen(port: number, host: string): Promise<number> {
    const server = createServer((req, res) => {
      const route = this.route(req);
      if (!route) {
        res
          .writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
          .end(`no NullOps service at ${req.headers.host ?? '(no host)'}\n`);
        return;
      }
      const headers = this.forwardHeaders(req);
      const upstream = request(
        { host: route.target.host, port: route.target.port, method: req.method, path: req.url, headers },
        (answer) => {
          const out = { ...answer.headers };
          for (const h of HOP_BY_HOP) delete out[h];
          res.writeHead(answer.statusCode ?? 502, out);
          answer.pipe(res);
        },
      );
      upstream.on('error', (err) => {
        this.logger.debug({ host: route.host, err: err.message }, 'ingress upstream error');
        if (!res.headersSent) {
          res
            .writeHead(502, { 'content-type': 'text/plain; charset=utf-8' })
            .end(`service ${route.service} is not answering (${err.message})\n`);
        } else res.destroy();
      });
      req.pipe(upstream);
    });
    server.on('upgrade', (req, socket, head) => {
      const route = this.route(req);
      if (!route) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
        return;
      }
      const upstream = connect(route.target.port, route.target.host, () => {
        const lines = [`${req.method} ${req.url} HTTP/1.1`];
        for (let i = 0; i < req.rawHeaders.length; i += 2)
          lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
        upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
        if (head.length) upstream.write(head);
        upstream.pipe(socket).pipe(upstream);
      });
      const close = () => {
        upstream.destroy();
        socket.destroy();
      };
      upstream.on('error', close);
      socket.on('error', close);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  private route(req: IncomingMessage): IngressRoute | undefined {
    const host = canonicalHost(req.headers.host);
    return host ? this.routes.get(host) : undefined;
  }

  private forwardHeaders(req: IncomingMessage) {
    const headers: Record<string, string | string[] | undefined> = { ...req.headers };
    for (const h of HOP_BY_HOP) delete headers[h];
    headers['x-forwarded-host'] = req.headers.host;
    headers['x-forwarded-proto'] = 'http';
    headers['x-forwarded-for'] = [req.headers['x-forwarded-for'], req.socket.remoteAddress]
      .filter(Boolean)
      .join(', ');
    return headers;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
