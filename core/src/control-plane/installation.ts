import { inject, injectable } from '@nullops/kernel';
import type { Database } from './database/database.js';
import { Refs } from './refs.js';

/**
 * This control plane's installation: one id, made once per database (by its migration). Every
 * resource an agent creates carries it with its node's id, so two installations sharing one Docker
 * engine or cluster never touch each other's deployments.
 */
@injectable()
export class Installation {
  private cached: string | undefined;

  constructor(@inject(Refs.database) private readonly db: Database) {}

  async id(): Promise<string> {
    if (!this.cached) {
      const row: { id: string } | undefined = await this.db('installation').first('id');
      if (!row) throw new Error('the database has no installation id: run the migrations');
      this.cached = row.id;
    }
    return this.cached;
  }

  /** Who may sign in with a password: everyone (`on`), or only break-glass administrators. */
  async passwordLogin(db: Database = this.db): Promise<PasswordLogin> {
    const row: { passwordLogin: PasswordLogin } | undefined = await db('installation').first('passwordLogin');
    return row?.passwordLogin ?? 'on';
  }

  /** Whether an enabled administrator with a password may sign in when passwords are limited. */
  async hasBreakGlassAdmin(db: Database = this.db): Promise<boolean> {
    const row = await db('users')
      .where({ role: 'admin', disabled: false, breakGlass: true })
      .whereNotNull('passwordHash')
      .first('id');
    return Boolean(row);
  }

  async setPasswordLogin(db: Database, mode: PasswordLogin): Promise<void> {
    await db('installation').update({ passwordLogin: mode });
  }
}

export type PasswordLogin = 'on' | 'break-glass';
