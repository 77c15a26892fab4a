import { defineComponent, z } from '@nullops/plugin-sdk';

export const keycloakUserParams = z
  .object({
    /** Keycloak's base URL, e.g. https://sso.example.com (no /auth suffix on Keycloak ≥ 17). */
    baseUrl: z.url({ protocol: /^https?$/ }),
    /** Realm the user is created in. */
    realm: z.string().min(1).max(100),
    /** Realm of the admin account (usually master). */
    adminRealm: z.string().min(1).max(100).default('master'),
    adminUser: z.string().min(1),
    /** Use a secret reference: `${secret:KEYCLOAK_ADMIN_PASSWORD}`. */
    adminPassword: z.string().min(1),
    username: z.string().min(1).max(255),
    /** Use a secret reference or an output; never a literal in a shared pipeline. */
    password: z.string().min(1),
    email: z.email().optional(),
    firstName: z.string().max(255).optional(),
    lastName: z.string().max(255).optional(),
    realmRoles: z.array(z.string().min(1)).default([]),
    /** Remove the user when the deployment is rolled back. */
    deleteOnRollback: z.boolean().default(true),
  })
  .strict();

type Params = z.output<typeof keycloakUserParams>;

/** A small client for the parts of the Keycloak admin REST API this component uses. */
class KeycloakAdmin {
  private token = '';
  constructor(
    private readonly p: Params,
    private readonly signal: AbortSignal,
  ) {}

  private url(path: string) {
    return `${this.p.baseUrl.replace(/\/+$/, '')}${path}`;
  }

  async login() {
    const response = await fetch(
      this.url(`/realms/${encodeURIComponent(this.p.adminRealm)}/protocol/openid-connect/token`),
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'password',
          client_id: 'admin-cli',
          username: this.p.adminUser,
          password: this.p.adminPassword,
        }),
        signal: this.signal,
      },
    );
    if (!response.ok)
      throw new Error(
        `Keycloak refused the admin login (HTTP ${response.status}); check adminUser and adminPassword`,
      );
    this.token = ((await response.json()) as { access_token: string }).access_token;
  }

  async call(method: string, path: string, body?: unknown): Promise<Response> {
    const response = await fetch(this.url(`/admin/realms/${encodeURIComponent(this.p.realm)}${path}`), {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: this.signal,
    });
    if (!response.ok && response.status !== 404 && response.status !== 409) {
      const text = (await response.text()).slice(0, 300);
      throw new Error(`Keycloak ${method} ${path.split('?')[0]} answered HTTP ${response.status}: ${text}`);
    }
    return response;
  }

  async findUser(username: string): Promise<string | undefined> {
    const response = await this.call('GET', `/users?exact=true&username=${encodeURIComponent(username)}`);
    const users = (await response.json()) as { id: string; username: string }[];
    return users.find((u) => u.username === username.toLowerCase() || u.username === username)?.id;
  }
}

/**
 * `keycloak.user`: creates (or updates) a user with a password and realm roles through the
 * Keycloak admin REST API, e.g. a test login for the deployment's front end. Idempotent: an
 * existing user with that name is reused and its password reset. Rollback deletes the user.
 */
export const keycloakUser = defineComponent({
  type: 'keycloak.user',
  version: 1,
  title: 'Keycloak user',
  category: 'Identity',
  params: keycloakUserParams,
  outputs: {
    userId: { description: "the user's id in Keycloak" },
    username: { description: 'the user name' },
  },
  timeoutMs: 5 * 60_000,
  async run(ctx, p) {
    const admin = new KeycloakAdmin(p, ctx.signal);
    await admin.login();
    let id = await admin.findUser(p.username);
    if (id) {
      ctx.log(`Keycloak user ${p.username} exists in realm ${p.realm}; resetting its password`);
    } else {
      const created = await admin.call('POST', '/users', {
        username: p.username,
        enabled: true,
        ...(p.email ? { email: p.email, emailVerified: true } : {}),
        ...(p.firstName ? { firstName: p.firstName } : {}),
        ...(p.lastName ? { lastName: p.lastName } : {}),
      });
      id = created.headers.get('location')?.split('/').pop() || (await admin.findUser(p.username));
      if (!id) throw new Error(`Keycloak did not return the new user's id (HTTP ${created.status})`);
      ctx.log(`created Keycloak user ${p.username} in realm ${p.realm}`);
    }
    await admin.call('PUT', `/users/${id}/reset-password`, {
      type: 'password',
      value: p.password,
      temporary: false,
    });
    if (p.realmRoles.length) {
      const roles = [];
      for (const name of p.realmRoles) {
        const response = await admin.call('GET', `/roles/${encodeURIComponent(name)}`);
        if (response.status === 404) throw new Error(`realm ${p.realm} has no role "${name}"`);
        roles.push(await response.json());
      }
      await admin.call('POST', `/users/${id}/role-mappings/realm`, roles);
      ctx.log(`granted realm roles ${p.realmRoles.join(', ')}`);
    }
    return { userId: id, username: p.username };
  },
  async rollback(ctx, p, outputs) {
    if (!p.deleteOnRollback) return;
    const admin = new KeycloakAdmin(p, ctx.signal);
    await admin.login();
    const id = (outputs?.userId as string | undefined) ?? (await admin.findUser(p.username));
    if (!id) return;
    await admin.call('DELETE', `/users/${id}`);
    ctx.log(`deleted Keycloak user ${p.username}`);
  },
});
