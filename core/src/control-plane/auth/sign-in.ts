import { inject, injectable } from '@nullops/kernel';
import { AuthenticationError, InputError } from '@nullops/plugin-sdk';
import type { Database } from '../database/database.js';
import { Installation } from '../installation.js';
import { User } from '../models/identity.js';
import { hashPassword, verifyAgainstDummy, verifyPassword } from '../security/passwords.js';
import { findOr404 } from '../services/records.js';
import { LoginThrottle } from './login-throttle.js';
import { SessionService } from './session-service.js';

/** Where a sign-in comes from: what the throttle counts and the session remembers. */
export interface Client {
  ip: string;
  userAgent: string;
}

/**
 * Signing in with a password, and changing one's own: both throttled per name and address, and
 * both answered in the same time whether or not the account exists.
 */
@injectable()
export class SignIn {
  constructor(
    @inject(LoginThrottle) private readonly throttle: LoginThrottle,
    @inject(SessionService) private readonly sessions: SessionService,
    @inject(Installation) private readonly installation: Installation,
  ) {}

  /** A new session for the user whose name and password these are. */
  async withPassword(db: Database, credentials: { username: string; password: string }, client: Client) {
    await this.throttle.charge(credentials.username, client.ip);
    const user = await User.query(db).whereRaw('lower(username) = lower(?)', [credentials.username]).first();
    // An account without a password (made by single sign-on) takes as long to refuse as any other.
    const ok = user?.passwordHash
      ? await verifyPassword(user.passwordHash, credentials.password)
      : await verifyAgainstDummy(credentials.password);
    if (!user || !ok) throw new AuthenticationError('wrong username or password');
    if (user.disabled) throw new AuthenticationError('this account is disabled; ask an administrator');
    const breakGlass = user.breakGlass && user.role === 'admin';
    if (!breakGlass && (await this.installation.passwordLogin(db)) === 'break-glass')
      throw new AuthenticationError(
        "password sign-in is limited to break-glass administrators: sign in with your organisation's account",
      );
    await this.throttle.succeeded(credentials.username, client.ip);
    const session = await this.sessions.create(user.id, client, db);
    await User.query(db).patch({ lastLoginAt: new Date() }).where('id', user.id);
    return { user, session };
  }

  /**
   * Replaces the caller's password and ends all their sessions. A stolen session must not become
   * an oracle for the password: the current one is checked under the login throttle.
   */
  async changePassword(
    db: Database,
    userId: string,
    change: { current: string; next: string },
    client: Client,
  ) {
    const user = await findOr404(User, db, userId, 'user');
    if (!user.passwordHash)
      throw InputError.field(
        'body.currentPassword',
        'your account signs in through single sign-on: it has no password here',
      );
    await this.throttle.charge(user.username, client.ip);
    if (!(await verifyPassword(user.passwordHash, change.current)))
      throw InputError.field('body.currentPassword', 'is wrong');
    await this.throttle.succeeded(user.username, client.ip);
    await User.query(db)
      .patch({ passwordHash: await hashPassword(change.next), updatedAt: new Date() })
      .where('id', user.id);
    await this.sessions.destroyAllOf(user.id, db);
  }
}
