import { inject, injectable } from '@nullops/kernel';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import type { Logger } from 'pino';
import { AuditService } from '../../audit/audit-service.js';
import type { ControlPlaneConfig } from '../../config.js';
import type { Database } from '../../database/database.js';
import { Session, SsoProvider } from '../../models/identity.js';
import { Refs } from '../../refs.js';
import { sealedContexts } from '../../security/sealed-contexts.js';
import type { SecretBox } from '../../security/secret-box.js';
import { ApiTokenService } from '../api-token-service.js';
import { SessionService } from '../session-service.js';
import type { Client } from '../sign-in.js';
import { followProvider, identityOf, SsoRefused } from './sso-accounts.js';
import { SsoProviders } from './sso-providers.js';

/** The cookie that carries a sign-in under way (sealed) from its start to the provider's callback. */
export const FLOW_COOKIE = 'nullops_sso';
export const FLOW_TTL_MS = 10 * 60_000;
/** At most this often a provider's keys are fetched again for a token naming a key not seen yet. */
const KEYS_REFETCH_MS = 1_000;
/** How long a provider's published keys are kept before they are fetched again anyway. */
const KEYS_MAX_AGE_MS = 10 * 60_000;
/** How long a session's refresh is claimed by the replica asking the provider (and how long a provider that cannot be reached is waited for). */
const CLAIM_MS = 60_000;
/** Clock difference tolerated between NullOps and a provider when checking a token's times. */
const CLOCK_TOLERANCE_SECONDS = 30;

interface Flow {
  slug: string;
  state: string;
  nonce: string;
  verifier: string;
  redirectUri: string;
  returnTo: string;
  until: number;
}

/** Plain words for what the OpenID Connect checks refused. */
function refusal(provider: SsoProvider, err: unknown): SsoRefused {
  // openid-client wraps what oauth4webapi found ("invalid response encountered"): the cause says what.
  const chain: { message?: string; code?: string }[] = [];
  for (
    let e = err as { message?: string; code?: string; cause?: unknown } | undefined;
    e && chain.length < 4;
    e = e.cause as typeof e
  )
    chain.push(e);
  const message = chain.map((e) => e.message ?? '').join(': ') || String(err);
  const code = chain.map((e) => e.code ?? '').join(' ');
  if (/"state"/.test(message))
    return new SsoRefused(
      'the answer does not belong to the sign-in this browser started (its state differs): start again',
    );
  if (/"iss"/.test(message))
    return new SsoRefused(
      `the ID token was not issued by ${provider.issuerUrl}, the provider NullOps trusts: sign-in refused`,
    );
  if (/"aud"/.test(message))
    return new SsoRefused('the ID token was issued for another application: sign-in refused');
  if (/"nonce"/.test(message))
    return new SsoRefused('the ID token does not belong to this sign-in (its nonce differs): start again');
  if (code.includes('OAUTH_JWT_TIMESTAMP_CHECK_FAILED') || code.includes('ERR_JWT_EXPIRED'))
    return new SsoRefused(
      `the ID token has expired or is not valid yet: check the clocks of NullOps and ${provider.name}, then start again`,
    );
  if (
    /ERR_JWKS_NO_MATCHING_KEY|ERR_JWS_SIGNATURE_VERIFICATION_FAILED|ERR_JWKS_MULTIPLE_MATCHING_KEYS/.test(
      code,
    )
  )
    return new SsoRefused(`the ID token is not signed by a key ${provider.name} publishes: sign-in refused`);
  if (err instanceof oidc.ResponseBodyError)
    return new SsoRefused(`${provider.name} refused: ${err.error_description ?? err.error}`);
  return new SsoRefused(`${provider.name} could not be asked: ${message}`);
}

/**
 * Signing in through an OpenID Connect provider: the authorization code flow with PKCE, state and
 * nonce, the ID token's issuer, audience, times and signature checked (openid-client), the
 * provider's keys fetched and cached (fetched again when a token names a key not seen yet), and the
 * redirect URI exact. The session it makes ends with the provider's say: at the ID token's expiry,
 * unless the provider's refresh token renews it; a refresh the provider refuses ends every session
 * of the user and stops their API tokens.
 */
@injectable()
export class OidcSignIn {
  private readonly clients = new Map<
    string,
    { config: oidc.Configuration; key: string; keys: ReturnType<typeof createRemoteJWKSet> }
  >();
  private readonly refreshing = new Map<string, Promise<boolean>>();

  constructor(
    @inject(Refs.database) private readonly db: Database,
    @inject(Refs.secretBox) private readonly box: SecretBox,
    @inject(Refs.logger) private readonly logger: Logger,
    @inject(Refs.config) private readonly config: ControlPlaneConfig,
    @inject(SsoProviders) private readonly providers: SsoProviders,
    @inject(SessionService) private readonly sessions: SessionService,
    @inject(ApiTokenService) private readonly tokens: ApiTokenService,
    @inject(AuditService) private readonly audit: AuditService,
  ) {}

  start(): void {
    this.sessions.renewWith({
      renew: (sessionId) => this.renew(sessionId),
      underway: (sessionId) => this.refreshing.get(sessionId),
    });
  }

  /** Where to send the browser to sign in, and the sealed flow to keep in its cookie meanwhile. */
  async begin(slug: string, origin: string, returnTo: string): Promise<{ url: string; flow: string }> {
    const provider = await this.providers.bySlug(this.db, slug);
    const { config } = await this.client(provider);
    const flow: Flow = {
      slug,
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      verifier: oidc.randomPKCECodeVerifier(),
      redirectUri: `${this.config.NULLOPS_PUBLIC_URL ?? origin}/api/auth/sso/${slug}/callback`,
      // Only a path of this site: never an open redirect.
      returnTo: /^\/(?!\/)/.test(returnTo) ? returnTo : '/',
      until: Date.now() + FLOW_TTL_MS,
    };
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: flow.redirectUri,
      scope: provider.scopes,
      state: flow.state,
      nonce: flow.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(flow.verifier),
      code_challenge_method: 'S256',
    });
    return { url: url.href, flow: this.box.encrypt(JSON.stringify(flow), sealedContexts.ssoFlow(slug)) };
  }

  /**
   * The provider's answer: the code exchanged and the ID token checked, NullOps made to follow the
   * provider (account, role, teams), and a session. Refused in words (SsoRefused).
   */
  async complete(
    slug: string,
    query: URLSearchParams,
    sealedFlow: string | undefined,
    from: Client,
  ): Promise<{ session: Awaited<ReturnType<SessionService['create']>>; returnTo: string; username: string }> {
    const flow = this.openFlow(slug, sealedFlow);
    const provider = await this.providers.bySlug(this.db, slug);
    const denied = query.get('error');
    if (denied)
      throw new SsoRefused(
        `${provider.name} did not sign you in: ${query.get('error_description') ?? denied}`,
      );
    const answer = new URL(flow.redirectUri);
    answer.search = query.toString();
    const client = await this.client(provider);
    let claims: Record<string, unknown>;
    let refreshToken: string | undefined;
    try {
      const tokens = await oidc.authorizationCodeGrant(client.config, answer, {
        pkceCodeVerifier: flow.verifier,
        expectedState: flow.state,
        expectedNonce: flow.nonce,
        idTokenExpected: true,
      });
      claims = await this.verified(provider, client, tokens.id_token as string);
      refreshToken = tokens.refresh_token;
    } catch (err) {
      throw err instanceof SsoRefused ? err : refusal(provider, err);
    }
    return this.db.transaction(async (trx) => {
      const user = await followProvider(trx, this.audit, provider, identityOf(provider, claims));
      const session = await this.sessions.create(user.id, from, trx, {
        ssoProviderId: provider.id,
        refreshAt: new Date(Number(claims.exp) * 1000),
        refreshToken,
      });
      return { session, returnTo: flow.returnTo, username: user.username };
    });
  }

  /**
   * Sessions whose ID token expired though nobody used them (a user who works with API tokens
   * only): the provider is asked about each now, so one it disabled loses their sessions and API
   * tokens within a sweep, not whenever a session of theirs is next used. Returns how many were due.
   */
  async renewDue(limit = 200): Promise<number> {
    const due = await Session.query(this.db)
      .whereNotNull('ssoProviderId')
      .whereNotNull('refreshTokenEnc')
      .where('refreshAt', '<=', this.db.fn.now())
      .where('expiresAt', '>', this.db.fn.now())
      .orderBy('refreshAt')
      .limit(limit)
      .select('id');
    for (const { id } of due)
      await this.renew(id).catch((err) =>
        this.logger.warn({ err: (err as Error).message }, 'could not renew a single sign-on session'),
      );
    return due.length;
  }

  /**
   * A session whose ID token expired: renewed with the provider's refresh token (true), or ended —
   * with every session and API token of the user when the provider refuses (false).
   */
  renew(sessionId: string): Promise<boolean> {
    let pending = this.refreshing.get(sessionId);
    if (!pending) {
      pending = this.refresh(sessionId).finally(() => this.refreshing.delete(sessionId));
      this.refreshing.set(sessionId, pending);
    }
    return pending;
  }

  private async refresh(sessionId: string): Promise<boolean> {
    const session = await Session.query(this.db).findById(sessionId);
    if (!session?.ssoProviderId) return false;
    const provider = await SsoProvider.query(this.db).findById(session.ssoProviderId);
    if (!provider?.enabled || !session.refreshTokenEnc) {
      await this.sessions.destroy(sessionId);
      return false;
    }
    // One refresh of a session at a time, across replicas (a request here, the renewal sweep
    // there): a provider that rotates refresh tokens refuses the second use of one, which would end
    // the user's access. Whoever moves the session's due time ahead asks; the others let it stand
    // meanwhile, as for a provider that cannot be reached.
    const claimed = await Session.query(this.db)
      .patch({ refreshAt: new Date(Date.now() + CLAIM_MS) })
      .where('id', sessionId)
      .where('refreshAt', '<=', this.db.fn.now());
    if (!claimed) return true;
    const refreshToken = this.box.decrypt(session.refreshTokenEnc, sealedContexts.ssoRefreshToken(sessionId));
    let tokens: Awaited<ReturnType<typeof oidc.refreshTokenGrant>>;
    let exp: number | undefined;
    try {
      const client = await this.client(provider);
      tokens = await oidc.refreshTokenGrant(client.config, refreshToken);
      if (tokens.id_token) exp = Number((await this.verified(provider, client, tokens.id_token)).exp);
    } catch (err) {
      const refused = refusal(provider, err);
      // Only a provider that could not be asked (down, unreachable: fetch failed or timed out) makes
      // the session wait a minute; a refusal or an answer that fails its checks ends access.
      const unreachable =
        err instanceof TypeError || ['AbortError', 'TimeoutError'].includes((err as Error).name);
      if (unreachable) {
        this.logger.warn(
          { provider: provider.slug, err: refused.message },
          'could not refresh a single sign-on session',
        );
        // Asked again when the claim runs out.
        return true;
      }
      await this.endAccess(session.userId, provider, refused.message);
      return false;
    }
    await Session.query(this.db)
      .patch({
        refreshAt: new Date(exp ? exp * 1000 : Date.now() + (tokens.expires_in ?? 300) * 1000),
        ...(tokens.refresh_token
          ? {
              refreshTokenEnc: this.box.encrypt(
                tokens.refresh_token,
                sealedContexts.ssoRefreshToken(sessionId),
              ),
            }
          : {}),
      })
      .where('id', sessionId);
    return true;
  }

  /** The provider no longer vouches for the user: their sessions end and their API tokens stop. */
  private async endAccess(userId: string, provider: SsoProvider, reason: string) {
    await this.db.transaction(async (trx) => {
      await this.sessions.destroyAllOf(userId, trx);
      await this.tokens.revokeAllOf(userId, trx);
      await this.audit.record(
        {
          actorId: null,
          actorName: `sso:${provider.slug}`,
          action: 'users.access-ended',
          targetType: 'users',
          targetId: userId,
          outcome: 'success',
          details: { reason: reason.slice(0, 300) },
        },
        trx,
      );
    });
    await this.tokens.forget(userId);
  }

  private openFlow(slug: string, sealed: string | undefined): Flow {
    let flow: Flow | undefined;
    try {
      flow = sealed
        ? (JSON.parse(this.box.decrypt(sealed, sealedContexts.ssoFlow(slug))) as Flow)
        : undefined;
    } catch {
      flow = undefined;
    }
    if (!flow || flow.slug !== slug || flow.until < Date.now())
      throw new SsoRefused(
        'this sign-in was not started in this browser, or took longer than 10 minutes: start again',
      );
    return flow;
  }

  /**
   * The ID token's signature, checked against the keys the provider publishes (fetched again when a
   * token names one not seen yet: a rotation), with its issuer, audience and times. openid-client
   * checks the claims; the signature of a token that came over TLS from the token endpoint it may
   * skip, as the spec allows — NullOps checks it anyway.
   */
  private async verified(
    provider: SsoProvider,
    client: { config: oidc.Configuration; keys: ReturnType<typeof createRemoteJWKSet> },
    idToken: string,
  ): Promise<Record<string, unknown>> {
    const { payload } = await jwtVerify(idToken, client.keys, {
      issuer: client.config.serverMetadata().issuer,
      audience: provider.clientId,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
    });
    return payload as Record<string, unknown>;
  }

  /** The provider's configuration (discovered) and its published keys, made again when it changed. */
  private async client(provider: SsoProvider) {
    const key = `${provider.issuerUrl} ${provider.clientId} ${provider.updatedAt.toISOString()}`;
    const cached = this.clients.get(provider.id);
    if (cached?.key === key) return cached;
    const secret = this.providers.secretOf(provider);
    const issuer = new URL(provider.issuerUrl);
    // Plain HTTP only to a provider on this machine (development, tests); anywhere else TLS.
    const local = ['localhost', '127.0.0.1', '[::1]'].includes(issuer.hostname);
    let config: oidc.Configuration;
    try {
      config = await oidc.discovery(
        issuer,
        provider.clientId,
        { [oidc.clockTolerance]: CLOCK_TOLERANCE_SECONDS },
        secret ? oidc.ClientSecretBasic(secret) : oidc.None(),
        { timeout: 10, ...(local ? { execute: [oidc.allowInsecureRequests] } : {}) },
      );
    } catch (err) {
      throw new SsoRefused(
        `${provider.name} could not be reached at ${provider.issuerUrl} (${(err as Error).message}): check its issuer URL`,
      );
    }
    const jwksUri = config.serverMetadata().jwks_uri;
    if (!jwksUri)
      throw new SsoRefused(`${provider.name} publishes no signing keys (no jwks_uri): it cannot be used`);
    const client = {
      config,
      key,
      keys: createRemoteJWKSet(new URL(jwksUri), {
        cooldownDuration: KEYS_REFETCH_MS,
        cacheMaxAge: KEYS_MAX_AGE_MS,
        timeoutDuration: 10_000,
      }),
    };
    this.clients.set(provider.id, client);
    return client;
  }
}
