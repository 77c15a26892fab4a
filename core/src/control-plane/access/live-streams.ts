import { inject, injectable } from '@nullops/kernel';
import type { Principal } from '../auth/principal.js';
import type { Database } from '../database/database.js';
import { Refs } from '../refs.js';

/** How often every open stream's access is asked again, whatever happened. */
const RECHECK_MS = 30_000;
/** Changes come in bursts (a team edited, then its members): one look after them. */
const SETTLE_MS = 200;

interface Held {
  principal: Principal;
  /** Whether the caller may still have what the stream shows (the route's own access rule). */
  allowed: () => Promise<boolean>;
  close: () => void;
}

/**
 * Open server-sent-event streams (a deployment's events and logs, the live list) are held only as
 * long as their caller may have them: after every change made through the API (a token revoked, a
 * user disabled or taken off a team, a project's teams changed) and every 30 s, each stream asks
 * again — is its session or token still good, does the route's rule still let it read — and one
 * whose answer is no is closed at once.
 */
@injectable()
export class LiveStreams {
  private readonly held = new Set<Held>();
  private timer: NodeJS.Timeout | undefined;
  private settle: NodeJS.Timeout | undefined;
  private checking: Promise<void> = Promise.resolve();

  constructor(@inject(Refs.database) private readonly db: Database) {}

  start(): void {
    this.timer = setInterval(() => this.changed(), RECHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    clearTimeout(this.settle);
  }

  /** Keeps a stream while `allowed` says yes; `close` ends it. Returns what forgets it. */
  hold(principal: Principal, allowed: () => Promise<boolean>, close: () => void): () => void {
    const entry: Held = { principal, allowed, close };
    this.held.add(entry);
    return () => this.held.delete(entry);
  }

  /** Something may have taken access away: every stream asks again (soon, once for a burst). */
  changed(): void {
    if (!this.held.size) return;
    this.settle ??= setTimeout(() => {
      this.settle = undefined;
      this.checking = this.checking.then(() => this.recheck());
    }, SETTLE_MS);
  }

  /** Resolves once every stream held now has been asked again (tests, and callers that must know). */
  async settled(): Promise<void> {
    clearTimeout(this.settle);
    this.settle = undefined;
    this.checking = this.checking.then(() => this.recheck());
    await this.checking;
  }

  private async recheck(): Promise<void> {
    for (const entry of [...this.held]) {
      const keep = await this.stillValid(entry.principal)
        .then((valid) => valid && entry.allowed())
        .catch(() => false);
      if (!keep) {
        this.held.delete(entry);
        entry.close();
      }
    }
  }

  /** The caller's session or token still stands (not ended, revoked, expired; the user not disabled). */
  private async stillValid(principal: Principal): Promise<boolean> {
    const now = new Date();
    const row =
      principal.via === 'session'
        ? await this.db('sessions as c')
            .join('users as u', 'u.id', 'c.userId')
            .where({ 'c.id': principal.sessionId, 'u.disabled': false })
            .where('c.expiresAt', '>', now)
            .first('c.id')
        : await this.db('api_tokens as c')
            .join('users as u', 'u.id', 'c.userId')
            .where({ 'c.id': principal.tokenId, 'u.disabled': false })
            .whereNull('c.revokedAt')
            .where((q) => q.whereNull('c.expiresAt').orWhere('c.expiresAt', '>', now))
            .first('c.id');
    return Boolean(row);
  }
}
