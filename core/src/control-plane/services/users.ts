import { randomUUID } from 'node:crypto';
import { inject, injectable } from '@nullops/kernel';
import { ConflictError, InputError } from '@nullops/plugin-sdk';
import { ApiTokenService } from '../auth/api-token-service.js';
import { SessionService } from '../auth/session-service.js';
import type { Database } from '../database/database.js';
import { User } from '../models/identity.js';
import { hashPassword } from '../security/passwords.js';
import { findOr404, insertRecord } from './records.js';

type Role = 'admin' | 'user';
type Quotas = Partial<Pick<User, 'quotaDeployments' | 'quotaCpuMillicores' | 'quotaMemoryMb'>>;

export interface NewUser extends Quotas {
  username: string;
  password: string;
  role: Role;
  displayName?: string | null | undefined;
  breakGlass?: boolean | undefined;
}

export interface UserChange extends Quotas {
  displayName?: string | null | undefined;
  role?: Role | undefined;
  disabled?: boolean | undefined;
  password?: string | undefined;
  breakGlass?: boolean | undefined;
}

/**
 * Local user accounts, as administrators manage them: passwords hashed (argon2id), never the last
 * enabled administrator locked out, and a disabled user's sessions and tokens ended at once.
 */
@injectable()
export class Users {
  constructor(
    @inject(SessionService) private readonly sessions: SessionService,
    @inject(ApiTokenService) private readonly tokens: ApiTokenService,
  ) {}

  /** A page of users by name, those whose name contains `q` when given, and how many there are. */
  async list(db: Database, page: { q?: string | undefined; limit: number; offset: number }) {
    const base = User.query(db).modify((q) => {
      if (page.q) q.whereRaw('username ilike ?', [`%${page.q.replace(/[%_\\]/g, '\\$&')}%`]);
    });
    const [items, total] = await Promise.all([
      base.clone().orderBy('username').limit(page.limit).offset(page.offset),
      base.clone().resultSize(),
    ]);
    return { items, total };
  }

  async create(db: Database, input: NewUser): Promise<User> {
    if (input.breakGlass && input.role !== 'admin')
      throw InputError.field('body.breakGlass', 'only an administrator can be a break-glass administrator');
    return insertRecord(User, db, {
      breakGlass: Boolean(input.breakGlass),
      id: randomUUID(),
      username: input.username,
      displayName: input.displayName ?? null,
      role: input.role,
      passwordHash: await hashPassword(input.password),
      quotaDeployments: input.quotaDeployments ?? null,
      quotaCpuMillicores: input.quotaCpuMillicores ?? null,
      quotaMemoryMb: input.quotaMemoryMb ?? null,
    });
  }

  /** Changes a user on behalf of `actorId`; disabling or a new password ends their sessions. */
  async update(db: Database, id: string, change: UserChange, actorId: string | null): Promise<User> {
    const user = await findOr404(User, db, id, 'user');
    const demoted = change.disabled === true || change.role === 'user';
    if (actorId === user.id && demoted)
      throw InputError.field(change.disabled ? 'body.disabled' : 'body.role', 'you cannot lock yourself out');
    if (demoted && user.role === 'admin') await this.keepOneAdmin(db, user.id);
    const patch: Partial<User> = { updatedAt: new Date() };
    if (change.displayName !== undefined) patch.displayName = change.displayName;
    if (change.role) patch.role = change.role;
    // Break-glass is an administrator's: a demoted one loses it.
    if (change.role === 'user') patch.breakGlass = false;
    if (change.disabled !== undefined) patch.disabled = change.disabled;
    if (change.breakGlass !== undefined) {
      if (
        change.breakGlass &&
        ((change.role ?? user.role) !== 'admin' || !(change.password || user.passwordHash))
      )
        throw InputError.field(
          'body.breakGlass',
          'only an administrator with a password can be a break-glass administrator',
        );
      patch.breakGlass = change.breakGlass;
    }
    if (change.password) patch.passwordHash = await hashPassword(change.password);
    for (const key of ['quotaDeployments', 'quotaCpuMillicores', 'quotaMemoryMb'] as const)
      if (change[key] !== undefined) patch[key] = change[key];
    const updated = await User.query(db).patchAndFetchById(user.id, patch);
    // A role change reaches the user's API tokens on their next request.
    await this.tokens.forget(user.id, db);
    if (change.disabled || change.password) await this.sessions.destroyAllOf(user.id, db);
    if (change.disabled) await this.tokens.revokeAllOf(user.id, db);
    return updated;
  }

  async remove(db: Database, id: string, actorId: string | null): Promise<void> {
    const user = await findOr404(User, db, id, 'user');
    if (actorId === user.id) throw new ConflictError('you cannot delete yourself');
    if (user.role === 'admin') await this.keepOneAdmin(db, user.id);
    await User.query(db).deleteById(user.id);
    await this.tokens.forget(user.id, db);
  }

  private async keepOneAdmin(db: Database, leaving: string) {
    const others = await User.query(db)
      .where({ role: 'admin', disabled: false })
      .whereNot('id', leaving)
      .resultSize();
    if (others === 0)
      throw new ConflictError('this is the last enabled administrator; appoint another first');
  }
}
