import { randomUUID } from 'node:crypto';
import { bodyParser } from '@koa/bodyparser';
import { InputError } from '@nullops/plugin-sdk';
import Koa from 'koa';
import type { Logger } from '../logger.js';
import { errorMiddleware } from './error-middleware.js';
import type { Metrics } from './metrics.js';

export interface HttpAppOptions {
  logger: Logger;
  metrics: Metrics;
  /**
   * How many reverse proxies you control stand in front (0: none, X-Forwarded-* ignored). The
   * client address is the one the outermost of them saw: X-Forwarded-For entries further left are
   * whatever the client wrote, and are never trusted.
   */
  proxyHops?: number;
  /** Largest accepted JSON body. */
  jsonLimit?: string;
}

/**
 * The Koa application every NullOps host serves: request ids, one access-log line per request,
 * HTTP metrics, the error middleware and a strict JSON body parser.
 */
export function createHttpApp(options: HttpAppOptions): Koa {
  const hops = options.proxyHops ?? 0;
  const app = new Koa({ proxy: hops > 0, maxIpsCount: hops });
  // Koa would print every error itself; ours are logged once, by the error middleware.
  app.silent = true;
  const { logger, metrics } = options;

  app.use(async (ctx, next) => {
    const started = process.hrtime.bigint();
    const incoming = ctx.get('x-request-id');
    ctx.state.requestId = /^[A-Za-z0-9._-]{1,64}$/.test(incoming) ? incoming : randomUUID();
    ctx.set('X-Request-Id', ctx.state.requestId);
    ctx.set('X-Content-Type-Options', 'nosniff');
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      // The matched route's name (its operationId) keeps label cardinality bounded.
      const route = (ctx as { _matchedRouteName?: string })._matchedRouteName ?? 'unmatched';
      metrics.httpRequests.inc({ method: ctx.method, route, status: String(ctx.status) });
      metrics.httpDuration.observe({ method: ctx.method, route }, seconds);
      logger.debug(
        {
          requestId: ctx.state.requestId,
          method: ctx.method,
          path: ctx.path,
          status: ctx.status,
          ms: seconds * 1e3,
        },
        'request',
      );
    }
  });
  app.use(errorMiddleware(logger));
  app.use(
    bodyParser({
      enableTypes: ['json'],
      jsonLimit: options.jsonLimit ?? '1mb',
      // Only objects and arrays: a bare string or number is never a valid request body here.
      jsonStrict: true,
    }),
  );
  app.use(async (ctx, next) => {
    // Validators and error formatters recurse: a body nested thousands deep would overflow the
    // stack there. No request of ours nests anywhere near this.
    if (depthOf(ctx.request.body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH)
      throw InputError.field('body', `is nested deeper than ${MAX_JSON_DEPTH} levels`);
    await next();
  });
  return app;
}

export const MAX_JSON_DEPTH = 64;

/** How deep `value` nests (objects and arrays), counted without recursion and only up to `cap + 1`. */
export function depthOf(value: unknown, cap: number): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (node === null || typeof node !== 'object') continue;
    if (depth + 1 > deepest) deepest = depth + 1;
    if (deepest > cap) return deepest;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return deepest;
}
