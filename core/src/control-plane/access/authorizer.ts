import { inject, injectable } from '@nullops/kernel';
import { AuthenticationError, NotAllowedError, NotFoundError } from '@nullops/plugin-sdk';
import type Koa from 'koa';
import { ApiTokenService } from '../auth/api-token-service.js';
import type { Principal } from '../auth/principal.js';
import { SESSION_COOKIE, SessionService } from '../auth/session-service.js';
import type { AccessRule } from '../http/route.js';
import { constantTimeEqual } from '../security/tokens.js';
import { AccessService, atLeast } from './access-service.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Authentication and authorization for every route, in one place. Default deny: a route is
 * reachable only as its declared rule allows.
 */
@injectable()
export class Authorizer {
  constructor(
    @inject(SessionService) private readonly sessions: SessionService,
    @inject(ApiTokenService) private readonly tokens: ApiTokenService,
    @inject(AccessService) private readonly access: AccessService,
  ) {}

  /** Who is calling: a bearer token wins over a cookie; a bad bearer token is an error, not anonymous. */
  async authenticate(ctx: Koa.Context): Promise<Principal | undefined> {
    const header = ctx.get('authorization');
    if (header) {
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      if (!match?.[1]) throw new AuthenticationError('Authorization header must be "Bearer <token>"');
      const principal = await this.tokens.resolve(match[1]);
      if (!principal) throw new AuthenticationError('the API token is invalid, expired or revoked');
      return principal;
    }
    const cookie = ctx.cookies.get(SESSION_COOKIE);
    if (!cookie) return undefined;
    const principal = await this.sessions.resolve(cookie);
    if (!principal) throw new AuthenticationError('your session has ended; sign in again');
    // Cookies ride along on cross-site requests; a mutation must also prove it came from our pages.
    if (!SAFE_METHODS.has(ctx.method)) {
      const sent = ctx.get('x-csrf-token');
      if (!sent || !principal.csrfToken || !constantTimeEqual(sent, principal.csrfToken)) {
        throw new NotAllowedError('missing or wrong X-CSRF-Token header (get it from GET /api/auth/me)');
      }
    }
    return principal;
  }

  async authorize(ctx: Koa.Context, rule: AccessRule): Promise<Principal | undefined> {
    if (rule.kind === 'public') {
      // Public routes still learn who is calling when they can, but never refuse.
      try {
        return await this.authenticate(ctx);
      } catch {
        return undefined;
      }
    }
    const principal = await this.authenticate(ctx);
    if (!principal) throw new AuthenticationError();
    // Known before the rule is checked, so a refused attempt is audited with its actor.
    ctx.state.principal = principal;
    const scope = principal.tokenScope;
    // An API token reaches no further than its scope, whatever its owner may do.
    if (scope?.access === 'read' && !SAFE_METHODS.has(ctx.method))
      throw new NotAllowedError('this API token is read-only');
    if (scope?.projectIds && rule.kind === 'admin')
      throw new NotAllowedError('a project-scoped API token cannot do administrative actions');
    if (rule.kind === 'authenticated') return principal;
    if (rule.kind === 'admin') {
      if (principal.role === 'admin') return principal;
      throw new NotAllowedError('only administrators may do this');
    }
    const objectId = ctx.params?.[rule.param];
    if (!objectId) throw new TypeError(`route rule names missing path parameter ${rule.param}`);
    // A malformed id cannot name anything: answer as for an unknown object, without a query.
    if (!/^[0-9a-f-]{36}$/i.test(objectId))
      throw new NotFoundError(`${rule.scope} ${objectId} does not exist`);
    const level = await this.access.levelFor(principal, rule.scope, objectId);
    if (level === undefined) throw new NotFoundError(`${rule.scope} ${objectId} does not exist`);
    if (!atLeast(level, rule.level)) {
      throw new NotAllowedError(`you need ${rule.level} access to this ${rule.scope}`);
    }
    return principal;
  }
}
