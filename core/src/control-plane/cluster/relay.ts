import { request } from 'node:https';
import { UnavailableError } from '@nullops/plugin-sdk';
import type Koa from 'koa';
import { PinnedAgent } from '../security/pinned-agent.js';
import { ElsewhereError } from './elsewhere.js';
import { CLIENT_IP_HEADER, type RelayedRequest } from './relay-listener.js';
import type { Replica, Replicas } from './replicas.js';

/** Headers that belong to one connection, not to the request relayed. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  CLIENT_IP_HEADER,
]);

/**
 * A request that needs a node's link held by another replica (a log stream, a service's exec) is
 * relayed to that replica over mutual TLS (each side pins the other's certificate, as the database
 * says), as it came: the same credentials, checked there again. The answer, a stream included,
 * comes back through this replica. A request that came relayed is never relayed again (no loops);
 * it is audited with the client address the relaying replica saw.
 */
export function relayToLinkHolder(replicas: Replicas): Koa.Middleware {
  const agents = new Map<string, PinnedAgent>();
  const agentFor = (thumbprint: string) => {
    let agent = agents.get(thumbprint);
    if (!agent) {
      // Replicas come and go (a new certificate at every start): agents of gone ones are dropped.
      if (agents.size >= 64) {
        for (const old of agents.values()) old.destroy();
        agents.clear();
      }
      agent = new PinnedAgent(thumbprint, replicas.identity);
      agents.set(thumbprint, agent);
    }
    return agent;
  };
  return async (ctx, next) => {
    const relayedBy = (ctx.req as RelayedRequest).relayedBy;
    if (relayedBy?.clientIp) ctx.request.ip = relayedBy.clientIp;
    try {
      await next();
    } catch (err) {
      if (!(err instanceof ElsewhereError)) throw err;
      const target = err.replica;
      if (!target?.address || !target.thumbprint || relayedBy)
        throw new UnavailableError(
          `node ${err.nodeId} is moving between control-plane replicas: try again in a few seconds`,
        );
      await relay(ctx, target, agentFor(target.thumbprint));
    }
  };
}

function relay(ctx: Koa.Context, target: Replica, agent: PinnedAgent): Promise<void> {
  const url = new URL(ctx.originalUrl, target.address as string);
  const headers: Record<string, string | string[]> = { [CLIENT_IP_HEADER]: ctx.ip };
  for (const [name, value] of Object.entries(ctx.req.headers))
    if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
  const body =
    ctx.method === 'GET' || ctx.method === 'HEAD'
      ? undefined
      : JSON.stringify((ctx.request as { body?: unknown }).body ?? {});
  if (body) headers['content-type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const upstream = request(url, { method: ctx.method, headers, agent }, (res) => {
      ctx.status = res.statusCode ?? 502;
      for (const [name, value] of Object.entries(res.headers))
        if (value !== undefined && !HOP_BY_HOP.has(name)) ctx.set(name, value as string | string[]);
      ctx.body = res;
      resolve();
    });
    upstream.on('error', (err) =>
      reject(
        new UnavailableError(`the control-plane replica holding the node did not answer: ${err.message}`),
      ),
    );
    // The client gone: so is the relayed request (and the stream it opened there).
    ctx.req.on('close', () => upstream.destroy());
    upstream.end(body);
  });
}
