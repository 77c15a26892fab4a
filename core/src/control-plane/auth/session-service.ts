import { randomUUID } from 'node:crypto';
import { inject, injectable } from '@nullops/kernel';
import type { ControlPlaneConfig } from '../config.js';
import type { Database } from '../database/database.js';
import { Session, User } from '../models/identity.js';
import { Refs } from '../refs.js';
import { generateToken, hashToken } from '../security/tokens.js';
import type { Principal } from './principal.js';

export const SESSION_COOKIE = 'nullops_session';

/** Browser sessions: an opaque cookie whose SHA-256 is stored, plus a CSRF token per session. */
@injectable()
export class SessionService {
  constructor(
    @inject(Refs.database) private readonly db: Database,
    @inject(Refs.config) private readonly config: ControlPlaneConfig,
  ) {}

  async create(userId: string, meta: { ip?: string; userAgent?: string }, db: Database = this.db) {
    const token = generateToken('nos');
    const csrfToken = generateToken('csrf');
    const expiresAt = new Date(Date.now() + this.config.NULLOPS_SESSION_TTL_HOURS * 3600_000);
    await Session.query(db).insert({
      id: randomUUID(),
      userId,
      tokenHash: hashToken(token),
      csrfToken,
      ip: meta.ip ?? null,
      userAgent: meta.userAgent?.slice(0, 300) ?? null,
      expiresAt,
    });
    return { token, csrfToken, expiresAt };
  }

  /** The principal of a session cookie, or undefined when it is unknown, expired or its user disabled. */
  async resolve(token: string): Promise<Principal | undefined> {
    const row = await Session.query(this.db)
      .join('users', 'users.id', 'sessions.userId')
      .where('sessions.tokenHash', hashToken(token))
      .where('sessions.expiresAt', '>', new Date())
      .where('users.disabled', false)
      .select(
        'sessions.id',
        'sessions.csrfToken',
        'sessions.lastSeenAt',
        'users.id as userId',
        'users.username',
        'users.role',
      )
      .first();
    if (!row) return undefined;
    const r = row as unknown as Session & Pick<User, 'username' | 'role'>;
    // Touch at most once a minute: a write per request would cost more than it tells.
    if (Date.now() - new Date(r.lastSeenAt).getTime() > 60_000) {
      await Session.query(this.db).patch({ lastSeenAt: new Date() }).where('id', r.id);
    }
    return {
      userId: r.userId,
      username: r.username,
      role: r.role,
      via: 'session',
      sessionId: r.id,
      csrfToken: r.csrfToken,
    };
  }

  async destroy(sessionId: string, db: Database = this.db): Promise<void> {
    await Session.query(db).deleteById(sessionId);
  }

  /** Ends every session of a user, e.g. when the user is disabled or changes password. */
  async destroyAllOf(userId: string, db: Database = this.db): Promise<number> {
    return Session.query(db).delete().where('userId', userId);
  }
}
