import { randomUUID } from 'node:crypto';
import { inject, injectable } from '@nullops/kernel';
import { NotFoundError } from '@nullops/plugin-sdk';
import { ClusterBus } from '../cluster/cluster-bus.js';
import type { Database } from '../database/database.js';
import { type AccessLevel, ApiToken, type User } from '../models/identity.js';
import { Refs } from '../refs.js';
import { generateToken, hashToken } from '../security/tokens.js';
import type { Principal } from './principal.js';

/**
 * How long a resolved token is trusted without asking the database again. A lookup per request
 * was most of what an authenticated read cost (benchmark P4); every change to a token or its user
 * forgets the user's entries at once, on every replica, so this bounds only a change racing a
 * lookup (and a replica that missed the word).
 */
const RESOLVED_TTL_MS = 1000;
/** Bus topic: forget a user's resolved tokens (on the other replicas). */
const FORGET_TOPIC = 'tokens.forget';

/** Personal API tokens for CLIs and embedding: shown once, stored as SHA-256, revocable. */
@injectable()
export class ApiTokenService {
  private readonly resolved = new Map<string, { principal: Principal; until: number }>();

  constructor(
    @inject(Refs.database) private readonly db: Database,
    @inject(ClusterBus) private readonly bus: ClusterBus,
  ) {
    bus.on(FORGET_TOPIC, (p) => this.forgetHere(p.userId as string), { othersOnly: true });
  }

  /**
   * Forgets what was resolved for a user's tokens (call on any change to them or to the user):
   * here at once, on the other replicas once `db`'s transaction commits.
   */
  async forget(userId: string, db: Database = this.db): Promise<void> {
    this.forgetHere(userId);
    await this.bus.publish(FORGET_TOPIC, { userId }, db);
  }

  private forgetHere(userId: string): void {
    for (const [hash, entry] of this.resolved)
      if (entry.principal.userId === userId) this.resolved.delete(hash);
  }

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
    const hash = hashToken(token);
    const cached = this.resolved.get(hash);
    if (cached && cached.until > Date.now()) return cached.principal;
    const principal = await this.lookup(hash);
    if (this.resolved.size > 10_000) this.resolved.clear();
    if (principal) this.resolved.set(hash, { principal, until: Date.now() + RESOLVED_TTL_MS });
    else this.resolved.delete(hash);
    return principal;
  }

  private async lookup(hash: string): Promise<Principal | undefined> {
    const row = await ApiToken.query(this.db)
      .join('users', 'users.id', 'apiTokens.userId')
      .where('apiTokens.tokenHash', hash)
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

  /**
   * The tokens a caller may see and revoke: all of the user's from a session or an unlimited
   * token; only itself from a token limited to reading or to some projects (a leaked embed token
   * must not list, or revoke, its owner's other tokens).
   */
  async visibleTo(caller: Principal, db: Database = this.db): Promise<ApiToken[]> {
    const query = ApiToken.query(db).where('userId', caller.userId).orderBy('createdAt', 'desc');
    return limited(caller) ? await query.where('id', caller.tokenId as string) : await query;
  }

  async revoke(caller: Principal, tokenId: string, db: Database = this.db): Promise<void> {
    const query = ApiToken.query(db)
      .patch({ revokedAt: new Date() })
      .where({ id: tokenId, userId: caller.userId })
      .whereNull('revokedAt');
    const changed = limited(caller) ? await query.where('id', caller.tokenId as string) : await query;
    if (!changed) throw new NotFoundError(`token ${tokenId} does not exist or is already revoked`);
    await this.forget(caller.userId, db);
  }

  /** Revokes every token of a user (used when the user is disabled). */
  async revokeAllOf(userId: string, db: Database = this.db): Promise<number> {
    await this.forget(userId, db);
    return ApiToken.query(db).patch({ revokedAt: new Date() }).where('userId', userId).whereNull('revokedAt');
  }
}

/** A token that may do less than its user: it manages only itself. */
const limited = (caller: Principal) =>
  caller.via === 'token' && (caller.tokenScope?.access === 'read' || Boolean(caller.tokenScope?.projectIds));
