import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { constantTimeEqual } from '@nullops/kernel';
import { AGENT_EDGE_HEADERS, type Runtime } from '@nullops/plugin-sdk';
import { createProxyServer } from 'http-proxy-3';
import type { Logger } from 'pino';

/** Which of its services the agent may serve: those of its own deployments, with their ports. */
export type ServicePorts = (deploymentId: string, service: string) => number | undefined;

/**
 * The agent edge: the control plane's ingress sends `svc.dep.env.domain` requests to the agent's
 * HTTPS port with the edge headers; the agent checks the edge key, that the service is one of its
 * own, and forwards the request (WebSocket upgrades too) to where the runtime says the service
 * answers inside the node. Nothing else reaches a service: it publishes no port.
 */
export class AgentEdge {
  private readonly proxy = createProxyServer({ xfwd: false, proxyTimeout: 120_000 });
  /**
   * Where each service answered last. When the runtime cannot be asked (the Docker daemon or the
   * Kubernetes API briefly gone), a service whose container or pod still runs is still served:
   * its URL does not depend on the runtime's control API being up.
   */
  private readonly lastKnown = new Map<string, { host: string; port: number }>();

  constructor(private readonly deps: { key: string; runtime: Runtime; ports: ServicePorts; logger: Logger }) {
    this.proxy.on('error', (err, _req, res) => {
      this.deps.logger.debug({ err: err.message }, 'edge upstream error');
      if ('writeHead' in res && !res.headersSent)
        res
          .writeHead(502, { 'content-type': 'text/plain; charset=utf-8' })
          .end(`the service is not answering (${err.message})\n`);
      else res.destroy();
    });
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = await this.resolve(req);
    if ('status' in target) {
      res
        .writeHead(target.status, { 'content-type': 'text/plain; charset=utf-8' })
        .end(`${target.message}\n`);
      return;
    }
    this.proxy.web(req, res, { target: `http://${target.host}:${target.port}` });
  }

  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const target = await this.resolve(req);
    if ('status' in target) {
      socket.end(`HTTP/1.1 ${target.status} ${target.message}\r\nConnection: close\r\n\r\n`);
      return;
    }
    this.proxy.ws(req, socket, head, { target: `ws://${target.host}:${target.port}` });
  }

  private async resolve(
    req: IncomingMessage,
  ): Promise<{ host: string; port: number } | { status: number; message: string }> {
    const presented = req.headers[AGENT_EDGE_HEADERS.key];
    const wanted = req.headers[AGENT_EDGE_HEADERS.target];
    // The edge headers are the control plane's and never reach the service.
    delete req.headers[AGENT_EDGE_HEADERS.key];
    delete req.headers[AGENT_EDGE_HEADERS.target];
    if (typeof presented !== 'string' || !constantTimeEqual(presented, this.deps.key)) {
      this.deps.logger.warn(
        { address: req.socket.remoteAddress },
        'refused an edge request without the edge key',
      );
      return { status: 401, message: 'Unauthorized' };
    }
    const [deploymentId, service] = String(wanted).split('/');
    const port = deploymentId && service ? this.deps.ports(deploymentId, service) : undefined;
    if (!port)
      return { status: 404, message: `no service ${service} of deployment ${deploymentId} on this node` };
    const key = `${deploymentId}/${service}`;
    let endpoint: { host: string; port: number } | undefined;
    try {
      endpoint = await this.deps.runtime.serviceEndpoint(deploymentId as string, service as string, port);
      if (endpoint) this.lastKnown.set(key, endpoint);
      else this.lastKnown.delete(key);
    } catch (err) {
      endpoint = this.lastKnown.get(key);
      this.deps.logger.debug(
        { service: key, err: (err as Error).message, cached: Boolean(endpoint) },
        'the runtime did not answer where a service is; serving from what it said last',
      );
    }
    if (!endpoint) return { status: 503, message: `service ${service} has no ready endpoint yet` };
    if (this.lastKnown.size > 10_000) this.lastKnown.clear();
    return endpoint;
  }

  close(): void {
    this.proxy.close?.();
  }
}
