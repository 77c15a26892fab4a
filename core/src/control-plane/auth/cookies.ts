import type Koa from 'koa';
import type { ControlPlaneConfig } from '../config.js';
import { SESSION_COOKIE } from './session-service.js';

/** Whether cookies get the Secure flag (NULLOPS_COOKIE_SECURE; `auto`: over HTTPS, and on localhost). */
export function secureCookies(ctx: Koa.Context, config: ControlPlaneConfig): boolean {
  const setting = config.NULLOPS_COOKIE_SECURE;
  // Browsers treat localhost as a secure context, so a Secure cookie works there over plain HTTP.
  const secure =
    setting === 'true' ||
    (setting === 'auto' && (ctx.secure || /^(localhost|127\.0\.0\.1|.*\.localhost)$/.test(ctx.hostname)));
  if (secure) ctx.cookies.secure = true;
  return secure;
}

export function setSessionCookie(ctx: Koa.Context, config: ControlPlaneConfig, token: string, expires: Date) {
  ctx.cookies.set(SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: 'lax',
    secure: secureCookies(ctx, config),
    expires,
    path: '/',
    overwrite: true,
  });
}
