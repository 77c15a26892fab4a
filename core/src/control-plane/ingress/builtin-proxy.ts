import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AGENT_EDGE_HEADERS } from '@nullops/plugin-sdk';
import { createProxyServer } from 'http-proxy-3';
import type { Logger } from 'pino';
import { PinnedAgent } from '../security/pinned-agent.js';
import { canonicalHost } from './host-name.js';
import { type IngressDriver, type IngressRoute, stoppedAnswer } from './ingress-driver.js';

/**
 * The built-in ingress: a reverse proxy (http-proxy-3, which frames requests and tunnels WebSocket
 * upgrades) that routes by Host header alone to the node's agent edge, over TLS to the pinned
 * certificate, with the edge headers. A host that is not exactly a known
 * `service.deployment.environment.domain` — other case and a trailing dot aside — gets 404; there is
 * no wildcard, suffix or default route; a request with more than one Host header gets 400.
 */
/**
 * Request header limits, below the agent edge's (Node's 16 KiB and 2000 headers): whatever passes
 * here reaches the agent whole, edge headers included. Larger requests get 431.
 */
const MAX_HEADER_BYTES = 12 * 1024;
const MAX_HEADERS = 100;

export class BuiltinProxy implements IngressDriver {
  readonly name = 'builtin';
  private routes = new Map<string, IngressRoute>();
  private readonly agents = new Map<string, PinnedAgent>();
  private server: Server | undefined;
  private readonly proxy = createProxyServer({ xfwd: true, secure: false, proxyTimeout: 300_000 });

  constructor(private readonly logger: Logger) {
    this.proxy.on('error', (err, req, res) => {
      const route = this.route(req);
      this.logger.debug({ host: route?.host, err: err.message }, 'ingress upstream error');
      if ('writeHead' in res && !res.headersSent)
        res
          .writeHead(502, { 'content-type': 'text/plain; charset=utf-8' })
          .end(`service ${route?.service ?? ''} is not answering (${err.message})\n`);
      else res.destroy();
    });
  }

  async apply(routes: IngressRoute[]): Promise<void> {
    this.routes = new Map(routes.map((r) => [r.host, r]));
    // One pooled, pinned agent per node; a node whose certificate changed gets a new one.
    const wanted = new Map(routes.map((r) => [r.edge.nodeId, r.edge.thumbprint]));
    for (const [nodeId, agent] of this.agents)
      if (wanted.get(nodeId) !== agent.thumbprint) {
        agent.destroy();
        this.agents.delete(nodeId);
      }
  }

  private agentFor(route: IngressRoute): PinnedAgent {
    let agent = this.agents.get(route.edge.nodeId);
    if (!agent) {
      agent = new PinnedAgent(route.edge.thumbprint);
      this.agents.set(route.edge.nodeId, agent);
    }
    return agent;
  }

  private options(route: IngressRoute) {
    return { target: `https://${route.edge.host}:${route.edge.port}`, agent: this.agentFor(route) };
  }

  /** Starts listening; returns the port (useful when asked for port 0). */
  async listen(port: number, host: string): Promise<number> {
    const server = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => {
      if (req.rawHeaders.length / 2 > MAX_HEADERS) {
        res
          .writeHead(431, { 'content-type': 'text/plain; charset=utf-8' })
          .end(`more than ${MAX_HEADERS} request headers\n`);
        return;
      }
      if (hasDuplicateHost(req)) {
        res
          .writeHead(400, { 'content-type': 'text/plain; charset=utf-8' })
          .end('more than one Host header\n');
        return;
      }
      const route = this.route(req);
      if (!route) {
        res
          .writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
          .end(`no NullOps service at ${req.headers.host ?? '(no host)'}\n`);
        return;
      }
      if (route.stopped) {
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' }).end(stoppedAnswer(route));
        return;
      }
      withEdgeHeaders(req, route);
      this.proxy.web(req, res, this.options(route));
    });
    server.on('upgrade', (req, socket, head) => {
      if (req.rawHeaders.length / 2 > MAX_HEADERS) {
        socket.end('HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n');
        return;
      }
      const route = hasDuplicateHost(req) ? undefined : this.route(req);
      if (!route || route.stopped) {
        socket.end(
          `HTTP/1.1 ${route ? '503 Service Unavailable' : '404 Not Found'}\r\nConnection: close\r\n\r\n`,
        );
        return;
      }
      withEdgeHeaders(req, route);
      socket.on('error', () => socket.destroy());
      this.proxy.ws(req, socket, head, {
        ...this.options(route),
        target: `wss://${route.edge.host}:${route.edge.port}`,
      });
    });
    // Node keeps the first 2000 headers and drops the rest silently; the check above must see them all.
    server.maxHeadersCount = 0;
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

  async close(): Promise<void> {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Two Host headers make the route ambiguous (and a classic request-smuggling lever): refuse. */
function hasDuplicateHost(req: IncomingMessage): boolean {
  let count = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]?.toLowerCase() === 'host') count++;
  return count > 1;
}

/**
 * The edge headers go first, replacing any a client sent (a client must not speak to the agent edge
 * in the ingress's name), so no number of client headers can push them past what the agent reads.
 */
function withEdgeHeaders(req: IncomingMessage, route: IngressRoute) {
  const { [AGENT_EDGE_HEADERS.target]: _target, [AGENT_EDGE_HEADERS.key]: _key, ...client } = req.headers;
  req.headers = {
    [AGENT_EDGE_HEADERS.target]: `${route.deploymentId}/${route.service}`,
    [AGENT_EDGE_HEADERS.key]: route.edge.key,
    ...client,
  };
}
