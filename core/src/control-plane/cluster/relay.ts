import { request } from 'node:http';
import { UnavailableError } from '@nullops/plugin-sdk';
import type Koa from 'koa';
import { ElsewhereError } from './elsewhere.js';

/** Marks a request one replica relayed to another: it is never relayed again (no loops). */
const RELAYED = 'x-nullops-relayed';
/** Headers that belong to one connection, not to the request relayed. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
]);

/**
 * A request that needs a node's link held by another replica (a log stream, a service's exec) is
 * relayed to that replica, as it came: the same credentials, checked there again. The answer, a
 * stream included, comes back through this replica.
 */
export function relayToLinkHolder(): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (!(err instanceof ElsewhereError)) throw err;
      if (!err.address || ctx.get(RELAYED))
        throw new UnavailableError(
          `node ${err.nodeId} is moving between control-plane replicas: try again in a few seconds`,
        );
      await relay(ctx, err.address);
    }
  };
}

function relay(ctx: Koa.Context, address: string): Promise<void> {
  const target = new URL(ctx.originalUrl, address);
  const headers: Record<string, string | string[]> = { [RELAYED]: '1' };
  for (const [name, value] of Object.entries(ctx.req.headers))
    if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
  const body =
    ctx.method === 'GET' || ctx.method === 'HEAD'
      ? undefined
      : JSON.stringify((ctx.request as { body?: unknown }).body ?? {});
  if (body) headers['content-type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const upstream = request(target, { method: ctx.method, headers }, (res) => {
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
