import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packageDirOf } from '@nullops/kernel/plugins';
import type Koa from 'koa';
import serve from 'koa-static';
import type { Logger } from 'pino';

/** Where the built web UI is: `@nullops/frontend`'s `dist/public`, when the package is present. */
export function webUiDir(): string | undefined {
  try {
    const dir = join(packageDirOf('@nullops/frontend'), 'dist', 'public');
    return existsSync(join(dir, 'index.html')) ? dir : undefined;
  } catch {
    return undefined;
  }
}

// The UI loads only its own scripts and talks only to this origin (plugin UIs are served from here too).
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

/**
 * Serves the web UI at `/`: its static files (hashed chunks cached for a year), and `index.html`
 * for every other browser navigation outside `/api`, so client-side routes survive a reload.
 */
export function mountWebUi(
  app: Koa,
  logger: Logger,
  /** The frontend module file of a plugin release, if it has one. */
  pluginFrontend: (name: string, version: string) => string | undefined,
): void {
  // Plugin UI modules: served from the plugin's installed folder, so installing a plugin makes its
  // UI appear without rebuilding the web UI. The version in the path makes them cacheable.
  app.use(async (ctx, next) => {
    const m = /^\/plugin-ui\/([^/]+)\/([^/]+)\/frontend\.js$/.exec(ctx.path);
    if (!m) return next();
    const file = pluginFrontend(decodeURIComponent(m[1] as string), decodeURIComponent(m[2] as string));
    if (!file) {
      ctx.status = 404;
      ctx.body = { error: { code: 'not_found', message: 'no such plugin UI' } };
      return;
    }
    ctx.type = 'text/javascript';
    ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
    ctx.body = await readFile(file);
  });
  const dir = webUiDir();
  if (!dir) {
    logger.warn('the web UI is not built (npm run build); serving the API only');
    return;
  }
  let index: string | undefined;
  app.use(async (ctx, next) => {
    if (ctx.path.startsWith('/api/') || ctx.path === '/api') return next();
    ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    ctx.set('Referrer-Policy', 'same-origin');
    await next();
    const isPage = ctx.method === 'GET' && ctx.status === 404 && ctx.accepts('html') === 'html' && !ctx.body;
    if (isPage) {
      index ??= await readFile(join(dir, 'index.html'), 'utf8');
      ctx.status = 200;
      ctx.type = 'html';
      ctx.set('Cache-Control', 'no-cache');
      ctx.body = index;
    }
  });
  app.use(
    serve(dir, {
      index: 'index.html',
      setHeaders: (res, path) => {
        res.setHeader(
          'Cache-Control',
          /\/chunks\//.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache',
        );
        // The embed script is public code that other origins load as a module (a CORS fetch).
        if (path.endsWith('/embed.js')) res.setHeader('Access-Control-Allow-Origin', '*');
      },
    }),
  );
}
