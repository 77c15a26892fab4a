import { createHash } from 'node:crypto';
import { inject, injectable } from '@nullops/kernel';
import { RateLimitError } from '@nullops/plugin-sdk';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type { ControlPlaneConfig } from '../config.js';
import type { Database } from '../database/database.js';
import { KeyedLock } from '../deployments/keyed-lock.js';
import { Refs } from '../refs.js';

/** The slowest an address's attempts get once it has failed too often, and how many may wait. */
const MAX_ADDRESS_DELAY_MS = 10_000;
const MAX_WAITING_PER_ADDRESS = 10;

/**
 * Throttles password checks so that guessing is slow and a correct password still works:
 *
 * - per username: its budget of failures spent, that account (and only it) is refused (429) until
 *   the window passes — the account that was attacked;
 * - per address: failures beyond its (larger) budget make that address's attempts wait, one after
 *   another and longer with each failure, instead of refusing them — many people may share one
 *   address (an office behind a proxy), and a wrong guess from one of them must not lock out the
 *   right password of another.
 *
 * Every attempt is charged *before* the password is checked — counters read first and charged
 * after would let a burst of parallel guesses all through, each an argon2 hash — and a correct
 * password refunds it.
 */
@injectable()
export class LoginThrottle {
  private readonly byUser: RateLimiterPostgres;
  private readonly byAddress: RateLimiterPostgres;
  private readonly addressBudget: number;
  private readonly inTurn = new KeyedLock();
  private readonly waiting = new Map<string, number>();

  constructor(@inject(Refs.config) config: ControlPlaneConfig, @inject(Refs.database) db: Database) {
    const duration = config.NULLOPS_LOGIN_WINDOW_SECONDS;
    this.addressBudget = config.NULLOPS_LOGIN_MAX_FAILURES * 4;
    // Counted in the database, so every replica spends the same budget (tables: the migrations').
    const store = { storeClient: db, storeType: 'knex', tableCreated: true, clearExpiredByTimeout: true };
    this.byUser = new RateLimiterPostgres({
      ...store,
      tableName: 'login_throttle_users',
      points: config.NULLOPS_LOGIN_MAX_FAILURES,
      duration,
    });
    // Counted past its budget (never refusing): how far past says how long an attempt waits.
    this.byAddress = new RateLimiterPostgres({
      ...store,
      tableName: 'login_throttle_addresses',
      points: 2 ** 31 - 1,
      duration,
    });
  }

  /**
   * Charges one attempt: refused (429) when the username's budget is spent; made to wait, in turn,
   * when the address's is. Resolves when the password may be checked.
   */
  async charge(username: string, address: string): Promise<void> {
    try {
      await this.byUser.consume(userKey(username));
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      const seconds = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
      throw new RateLimitError(
        `too many failed sign-ins for ${username}; try again in ${seconds} seconds`,
        seconds,
      );
    }
    const spent = (await this.byAddress.consume(address)).consumedPoints;
    const excess = spent - this.addressBudget;
    if (excess <= 0) return;
    const waiting = this.waiting.get(address) ?? 0;
    if (waiting >= MAX_WAITING_PER_ADDRESS)
      throw new RateLimitError('too many sign-ins at once from your address; try again in a moment', 5);
    this.waiting.set(address, waiting + 1);
    try {
      await this.inTurn.run(address, () => sleep(Math.min(MAX_ADDRESS_DELAY_MS, 250 * excess)));
    } finally {
      const left = (this.waiting.get(address) ?? 1) - 1;
      if (left > 0) this.waiting.set(address, left);
      else this.waiting.delete(address);
    }
  }

  /** The password was right: the attempt is refunded. */
  async succeeded(username: string, address: string): Promise<void> {
    await Promise.all([this.byUser.delete(userKey(username)), this.byAddress.reward(address, 1)]);
  }
}

/** A username's row: a digest, so any name (a fuzzer's megabyte of them) fits the key column. */
const userKey = (username: string) => createHash('sha256').update(username.toLowerCase()).digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
