import { randomUUID } from 'node:crypto';
import { inject, injectable } from '@nullops/kernel';
import type { ControlPlaneConfig } from '../config.js';
import type { Database } from '../database/database.js';
import { Session, User } from '../models/identity.js';
import { Refs } from '../refs.js';
import { sealedContexts } from '../security/sealed-contexts.js';
import type { SecretBox } from '../security/secret-box.js';
import { generateToken, hashToken } from '../security/tokens.js';
import type { Principal } from './principal.js';

export const SESSION_COOKIE = 'nullops_session';

/** How sessions are renewed with their single sign-on provider (true: renewed, false: ended). */
export interface SessionRenewal {
  /** Renews a session that is due, or joins its renewal under way. */
  renew(sessionId: string): Promise<boolean>;
  /** The renewal of a session this process has under way, if any. */
  underway(sessionId: string): Promise<boolean> | undefined;
}

/** Browser sessions: an opaque cookie whose SHA-256 is stored, plus a CSRF token per session. */
@injectable()
export class SessionService {
  /** What renews a session that is due (single sign-on); without it a due session ends. */
  private renewal: SessionRenewal = { renew: async () => false, underway: () => undefined };

  constructor(
    @inject(Refs.database) private readonly db: Database,
    @inject(Refs.config) private readonly config: ControlPlaneConfig,
    @inject(Refs.secretBox) private readonly box: SecretBox,
  ) {}

  /** Single sign-on renews its sessions at their ID token's expiry. */
  renewWith(renewal: SessionRenewal): void {
    this.renewal = renewal;
  }

  /**
   * A new session. One made by single sign-on also records its provider and when to ask it again
   * (the ID token's expiry); without a refresh token, that is when the session ends.
   */
  async create(
    userId: string,
    meta: { ip?: string; userAgent?: string },
    db: Database = this.db,
    sso?: { ssoProviderId: string; refreshAt: Date; refreshToken?: string | undefined },
  ) {
    const id = randomUUID();
    const token = generateToken('nos');
    const csrfToken = generateToken('csrf');
    const ttl = new Date(Date.now() + this.config.NULLOPS_SESSION_TTL_HOURS * 3600_000);
    const expiresAt = sso && !sso.refreshToken && sso.refreshAt < ttl ? sso.refreshAt : ttl;
    await Session.query(db).insert({
      id,
      userId,
      tokenHash: hashToken(token),
      csrfToken,
      ip: meta.ip ?? null,
      userAgent: meta.userAgent?.slice(0, 300) ?? null,
      expiresAt,
      ...(sso
        ? {
            ssoProviderId: sso.ssoProviderId,
            refreshAt: sso.refreshToken ? sso.refreshAt : null,
            refreshTokenEnc: sso.refreshToken
              ? this.box.encrypt(sso.refreshToken, sealedContexts.ssoRefreshToken(id))
              : null,
          }
        : {}),
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
        'sessions.refreshAt',
        'users.id as userId',
        'users.username',
        'users.role',
      )
      .first();
    if (!row) return undefined;
    const r = row as unknown as Session & Pick<User, 'username' | 'role'>;
    // Past its ID token's expiry, the provider says whether it goes on. A renewal this process has
    // already started (the sweep's: its claim moved the due time ahead) is waited for as well.
    const due = r.refreshAt && new Date(r.refreshAt) <= new Date();
    const renewing = due ? this.renewal.renew(r.id) : this.renewal.underway(r.id);
    if (renewing && !(await renewing)) return undefined;
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
