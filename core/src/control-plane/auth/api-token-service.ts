import { randomUUID } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import type { Database } from '../database/database.js';
import { type AccessLevel, ApiToken, type User } from '../models/identity.js';
import { Refs } from '../refs.js';
import { generateToken, hashToken } from '../security/tokens.js';
import type { Principal } from './principal.js';

/** Personal API tokens for CLIs and embedding: shown once, stored as SHA-256, revocable. */
@injectable()
export class ApiTokenService {
  constructor(@inject(Refs.database) private readonly db: Database) {}

  async create(
    userId: string,
    input: { name: string; expiresAt: Date; access: AccessLevel; projectIds: string[] | null },
    db: Database = this.db,
  ) {
    const token = generateToken('nop');
    const row = await ApiToken.query(db).insertAndFetch({
      id: randomUUID(),
      userId,
      name: input.name,
      tokenHash: hashToken(token),
      prefix: token.slice(0, 10),
      expiresAt: input.expiresAt,
      access: input.access,
      projectIds: input.projectIds,
    });
    return { token, row };
  }

  /** The principal of a bearer token, or undefined when it is unknown, revoked, expired or its user disabled. */
  async resolve(token: string): Promise<Principal | undefined> {
    const row = await ApiToken.query(this.db)
      .join('users', 'users.id', 'apiTokens.userId')
      .where('apiTokens.tokenHash', hashToken(token))
      .whereNull('apiTokens.revokedAt')
      .where((q) => q.whereNull('apiTokens.expiresAt').orWhere('apiTokens.expiresAt', '>', new Date()))
      .where('users.disabled', false)
      .select(
        'apiTokens.id',
        'apiTokens.lastUsedAt',
        'apiTokens.access',
        'apiTokens.projectIds',
        'users.id as userId',
        'users.username',
        'users.role',
      )
      .first();
    if (!row) return undefined;
    const r = row as unknown as ApiToken & Pick<User, 'username' | 'role'>;
    if (!r.lastUsedAt || Date.now() - new Date(r.lastUsedAt).getTime() > 60_000) {
      await ApiToken.query(this.db).patch({ lastUsedAt: new Date() }).where('id', r.id);
    }
    return {
      userId: r.userId,
      username: r.username,
      role: r.role,
      via: 'token',
      tokenId: r.id,
      tokenScope: { access: r.access, projectIds: r.projectIds },
    };
  }

  /** Revokes every token of a user (used when the user is disabled). */
  async revokeAllOf(userId: string, db: Database = this.db): Promise<number> {
    return ApiToken.query(db).patch({ revokedAt: new Date() }).where('userId', userId).whereNull('revokedAt');
  }
}
