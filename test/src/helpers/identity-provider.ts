import { createServer, type Server } from 'node:http';
import {
  type CryptoKey,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  type JWK,
  SignJWT,
} from 'jose';
import Provider from 'oidc-provider';
import { freePort } from './agent-process.js';

/** A person the identity provider knows, and the groups it says they are in. */
export interface Person {
  groups: string[];
  name?: string;
  /** Disabled at the provider: it no longer vouches for them (a refresh is refused). */
  disabled?: boolean;
}

/** What the test does to the ID tokens the provider issues (to show NullOps refuses bad ones). */
export type Tamper = (claims: Record<string, unknown>) => {
  claims: Record<string, unknown>;
  key?: 'retired' | 'rotated';
};

export interface TestIdentityProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  people: Map<string, Person>;
  /** Re-signs the next ID tokens after changing their claims (or signs them with another key). */
  tamper: Tamper | undefined;
  /** Changes the `state` the provider sends back with its answer (what an attacker's link would). */
  tamperState: boolean;
  /** Publishes a new signing key beside the current one (what a provider does when it rotates keys). */
  publishRotatedKey(): void;
  stop(): Promise<void>;
}

type SigningKey = { kid: string; privateKey: CryptoKey; publicJwk: JWK };

async function signingKey(kid: string): Promise<SigningKey & { privateJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return {
    kid,
    privateKey: privateKey as CryptoKey,
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' },
  };
}

/**
 * A real OpenID Provider (`oidc-provider`, a certified implementation) on this machine: one
 * confidential client, people with groups, its development login form (any password), consent
 * granted, refresh tokens issued. The test changes people and groups as the provider would, and
 * can tamper with the ID tokens it issues.
 */
export async function startIdentityProvider(options: {
  redirectUris: string[];
}): Promise<TestIdentityProvider> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const current = await signingKey('current');
  const retired = await signingKey('retired');
  const rotated = await signingKey('rotated');
  let rotatedPublished = false;
  const people = new Map<string, Person>();
  const clientId = 'nullops';
  const clientSecret = 'a-client-secret-for-the-test-provider';
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: options.redirectUris,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [current.privateJwk] },
    claims: { openid: ['sub'], profile: ['preferred_username', 'name'], groups: ['groups'] },
    scopes: ['openid', 'profile', 'groups', 'offline_access'],
    // The scope's claims go in the ID token itself (what NullOps reads), as Keycloak's do.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['a-cookie-key-for-the-test-provider'] },
    issueRefreshToken: async () => true,
    // Said explicitly (the provider otherwise notes each default on the test's output).
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 600,
      RefreshToken: 86400,
      Session: 86400,
      Grant: 86400,
    },
    async findAccount(_ctx, id) {
      const person = people.get(id);
      if (!person || person.disabled) return undefined;
      return {
        accountId: id,
        claims: async () => ({
          sub: id,
          preferred_username: id,
          name: person.name ?? id,
          groups: person.groups,
        }),
      };
    },
    // Consent is given: the test signs in, it does not click through a consent page.
    async loadExistingGrant(ctx) {
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client?.clientId as string,
        accountId: ctx.oidc.session?.accountId as string,
      });
      grant.addOIDCScope('openid profile groups offline_access');
      await grant.save();
      return grant;
    },
  });
  const state: { tamper: Tamper | undefined; tamperState: boolean } = {
    tamper: undefined,
    tamperState: false,
  };
  provider.use(async (ctx, next) => {
    await next();
    const location = String(ctx.response.get('location') ?? '');
    if (state.tamperState && options.redirectUris.some((uri) => location.startsWith(`${uri}?`))) {
      const answer = new URL(location);
      answer.searchParams.set('state', `${answer.searchParams.get('state')}-changed`);
      ctx.redirect(answer.href);
    }
    const body = ctx.body as Record<string, unknown> | undefined;
    if (ctx.path === '/jwks' && rotatedPublished && body && Array.isArray(body.keys))
      ctx.body = { keys: [...body.keys, rotated.publicJwk] };
    if (ctx.path === '/token' && state.tamper && typeof body?.id_token === 'string') {
      const changed = state.tamper(decodeJwt(body.id_token) as Record<string, unknown>);
      const key = changed.key === 'retired' ? retired : changed.key === 'rotated' ? rotated : current;
      const { alg } = decodeProtectedHeader(body.id_token);
      ctx.body = {
        ...body,
        id_token: await new SignJWT(changed.claims)
          .setProtectedHeader({ alg: alg ?? 'RS256', kid: key.kid, typ: 'JWT' })
          .sign(key.privateKey),
      };
    }
  });
  const server: Server = createServer(provider.callback());
  await new Promise<void>((ok) => server.listen(port, '127.0.0.1', ok));
  return {
    issuer,
    clientId,
    clientSecret,
    people,
    get tamper() {
      return state.tamper;
    },
    set tamper(value) {
      state.tamper = value;
    },
    get tamperState() {
      return state.tamperState;
    },
    set tamperState(value) {
      state.tamperState = value;
    },
    publishRotatedKey() {
      rotatedPublished = true;
    },
    stop: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
