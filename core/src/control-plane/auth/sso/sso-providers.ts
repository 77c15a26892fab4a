import { randomUUID } from 'node:crypto';
import { inject, injectable } from '@nullops/kernel';
import { ConflictError, InputError, NotFoundError } from '@nullops/plugin-sdk';
import { z } from 'zod';
import type { ControlPlaneConfig } from '../../config.js';
import type { Database } from '../../database/database.js';
import { SsoGroupMapping, SsoProvider, type SsoRole } from '../../models/identity.js';
import { Refs } from '../../refs.js';
import { sealedContexts } from '../../security/sealed-contexts.js';
import type { SecretBox } from '../../security/secret-box.js';
import { findOr404, insertRecord, patchRecord } from '../../services/records.js';

export interface ProviderInput {
  slug: string;
  name: string;
  issuerUrl: string;
  clientId: string;
  /** Write-only; null removes it (a public client). */
  clientSecret?: string | null | undefined;
  scopes?: string | undefined;
  groupsClaim?: string | undefined;
  usernameClaim?: string | undefined;
  enabled?: boolean | undefined;
}

/** NULLOPS_SSO_PROVIDERS: the providers an installation is configured with, as JSON. */
export const providersFromEnvironment = z.array(
  z
    .object({
      slug: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/, 'must be a short lowercase name'),
      name: z.string().min(1).max(100),
      issuer: z.url({ protocol: /^https?$/ }),
      clientId: z.string().min(1).max(500),
      clientSecret: z.string().min(1).max(4096).optional(),
      scopes: z.string().max(500).optional(),
      groupsClaim: z.string().max(200).optional(),
      usernameClaim: z.string().max(200).optional(),
    })
    .strict(),
);

/**
 * The OpenID Connect providers people sign in through (several at once), their client secrets
 * sealed, and the mapping of each provider's groups to teams or to the administrator role. Those
 * named in NULLOPS_SSO_PROVIDERS are written at start and can be changed only there.
 */
@injectable()
export class SsoProviders {
  constructor(
    @inject(Refs.database) private readonly db: Database,
    @inject(Refs.secretBox) private readonly box: SecretBox,
    @inject(Refs.config) private readonly config: ControlPlaneConfig,
  ) {}

  /** Writes the providers of NULLOPS_SSO_PROVIDERS (by slug), so the UI shows them as managed. */
  async start(): Promise<void> {
    for (const p of this.config.NULLOPS_SSO_PROVIDERS) {
      const input = {
        slug: p.slug,
        name: p.name,
        issuerUrl: p.issuer,
        clientId: p.clientId,
        clientSecret: p.clientSecret ?? null,
        scopes: p.scopes,
        groupsClaim: p.groupsClaim,
        usernameClaim: p.usernameClaim,
      };
      await this.db.transaction(async (trx) => {
        const existing = await SsoProvider.query(trx).findOne({ slug: p.slug });
        if (existing) await this.update(trx, existing.id, input, { env: true });
        else await this.create(trx, input, { env: true });
      });
    }
  }

  async list(db: Database = this.db): Promise<SsoProvider[]> {
    return SsoProvider.query(db).orderBy('name');
  }

  async bySlug(db: Database, slug: string): Promise<SsoProvider> {
    const provider = await SsoProvider.query(db).findOne({ slug });
    if (!provider?.enabled) throw new NotFoundError(`no single sign-on provider is called ${slug}`);
    return provider;
  }

  /** The client secret, opened (for the token endpoint only). */
  secretOf(provider: SsoProvider): string | undefined {
    return provider.clientSecretEnc
      ? this.box.decrypt(provider.clientSecretEnc, sealedContexts.ssoClientSecret(provider.id))
      : undefined;
  }

  async create(db: Database, input: ProviderInput, from: { env?: boolean } = {}): Promise<SsoProvider> {
    const id = randomUUID();
    return insertRecord(SsoProvider, db, {
      id,
      ...this.fields(id, input),
      managedByEnv: Boolean(from.env),
    });
  }

  async update(
    db: Database,
    id: string,
    input: Partial<ProviderInput>,
    from: { env?: boolean } = {},
  ): Promise<SsoProvider> {
    const current = await findOr404(SsoProvider, db, id, 'provider');
    if (current.managedByEnv && !from.env)
      throw new ConflictError(
        `provider ${current.slug} is configured by NULLOPS_SSO_PROVIDERS: change it there`,
      );
    return patchRecord(SsoProvider, db, id, 'provider', { ...this.fields(id, input), updatedAt: new Date() });
  }

  async remove(db: Database, id: string): Promise<void> {
    const current = await findOr404(SsoProvider, db, id, 'provider');
    if (current.managedByEnv)
      throw new ConflictError(
        `provider ${current.slug} is configured by NULLOPS_SSO_PROVIDERS: remove it there`,
      );
    await SsoProvider.query(db).deleteById(id);
  }

  async mappings(db: Database, providerId: string): Promise<SsoGroupMapping[]> {
    return SsoGroupMapping.query(db).where({ providerId }).orderBy(['groupName', 'role']);
  }

  async addMapping(
    db: Database,
    providerId: string,
    mapping: { group: string; role: SsoRole; teamId?: string | null | undefined },
  ): Promise<SsoGroupMapping> {
    await findOr404(SsoProvider, db, providerId, 'provider');
    if (mapping.role === 'member' && !mapping.teamId)
      throw InputError.field('body.teamId', 'is required: a member mapping names the team its group joins');
    if (mapping.role === 'admin' && mapping.teamId)
      throw InputError.field('body.teamId', 'must be empty: the admin role is not a team’s');
    return insertRecord(SsoGroupMapping, db, {
      id: randomUUID(),
      providerId,
      groupName: mapping.group,
      teamId: mapping.teamId ?? null,
      role: mapping.role,
    });
  }

  async removeMapping(db: Database, providerId: string, mappingId: string): Promise<void> {
    const deleted = await SsoGroupMapping.query(db).delete().where({ id: mappingId, providerId });
    if (!deleted) throw new NotFoundError(`mapping ${mappingId} does not exist`);
  }

  private fields(id: string, input: Partial<ProviderInput>) {
    const { clientSecret, issuerUrl, ...rest } = input;
    return {
      ...Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)),
      ...(issuerUrl ? { issuerUrl: issuerUrl.replace(/\/+$/, '') } : {}),
      ...(clientSecret !== undefined
        ? {
            clientSecretEnc:
              clientSecret === null
                ? null
                : this.box.encrypt(clientSecret, sealedContexts.ssoClientSecret(id)),
          }
        : {}),
    };
  }
}
