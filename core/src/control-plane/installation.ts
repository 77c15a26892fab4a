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
}
