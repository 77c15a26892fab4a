import { RateLimitError } from '@nullops/plugin-sdk';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { inject, injectable } from 'tsyringe';
import type { ControlPlaneConfig } from '../config.js';
import { Refs } from '../refs.js';

/**
 * Throttles password checks per username and per client address. Every attempt is charged
 * *before* the password is checked — counters read first and charged after would let a burst of
 * parallel guesses all through, each an argon2 hash — and a correct password refunds it: the
 * username's count is cleared, the address gets its point back (not more: one address may be
 * guessing many users).
 */
@injectable()
export class LoginThrottle {
  private readonly byUser: RateLimiterMemory;
  private readonly byAddress: RateLimiterMemory;

  constructor(@inject(Refs.config) config: ControlPlaneConfig) {
    const duration = config.NULLOPS_LOGIN_WINDOW_SECONDS;
    this.byUser = new RateLimiterMemory({ points: config.NULLOPS_LOGIN_MAX_FAILURES, duration });
    this.byAddress = new RateLimiterMemory({ points: config.NULLOPS_LOGIN_MAX_FAILURES * 4, duration });
  }

  /** Charges one attempt; refuses (429) when the username's or the address's budget is spent. */
  async charge(username: string, address: string): Promise<void> {
    try {
      await Promise.all([this.byUser.consume(userKey(username)), this.byAddress.consume(address)]);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      const seconds = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
      throw new RateLimitError(`too many failed login attempts; try again in ${seconds} seconds`, seconds);
    }
  }

  /** The password was right: the attempt is refunded. */
  async succeeded(username: string, address: string): Promise<void> {
    await Promise.all([this.byUser.delete(userKey(username)), this.byAddress.reward(address, 1)]);
  }
}

const userKey = (username: string) => username.toLowerCase();
