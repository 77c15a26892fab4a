import type Koa from 'koa';

/**
 * CORS for embedding: pages on the configured origins may call `/api/*` with an API token
 * (`Authorization: Bearer`). Cookies are never allowed cross-origin (no `Allow-Credentials`), so a
 * signed-in session cannot be ridden from another site; other origins get no CORS headers at all.
 */
export function corsMiddleware(origins: string[]): Koa.Middleware {
  const allowed = new Set(origins.map((o) => new URL(o).origin));
  return async (ctx, next) => {
    const origin = ctx.get('origin');
    if (!origin || !ctx.path.startsWith('/api/')) return next();
    ctx.vary('Origin');
    if (!allowed.has(origin)) return next();
    ctx.set('Access-Control-Allow-Origin', origin);
    if (ctx.method === 'OPTIONS' && ctx.get('access-control-request-method')) {
      ctx.set('Access-Control-Allow-Methods', 'GET, POST, PUT, PATCH, DELETE');
      ctx.set('Access-Control-Allow-Headers', 'authorization, content-type, idempotency-key');
      ctx.set('Access-Control-Max-Age', '600');
      ctx.status = 204;
      return;
    }
    return next();
  };
}
