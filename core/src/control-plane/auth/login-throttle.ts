import { RateLimitError } from '@nullops/plugin-sdk';
import { RateLimiterMemory, type RateLimiterRes } from 'rate-limiter-flexible';
import { inject, injectable } from 'tsyringe';
import type { ControlPlaneConfig } from '../config.js';
import { Refs } from '../refs.js';

/**
 * Counts failed logins per username and per client address. Once either budget is spent, further
 * attempts are refused *before* the password is checked, until the window passes. A successful
 * login clears the username's count (not the address's: one address may be guessing many users).
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

  async check(username: string, address: string): Promise<void> {
    const [user, ip] = await Promise.all([this.byUser.get(userKey(username)), this.byAddress.get(address)]);
    const blocked = [
      [user, this.byUser.points],
      [ip, this.byAddress.points],
    ].find(([res, points]) => res && (res as RateLimiterRes).consumedPoints >= (points as number));
    if (blocked) {
      const seconds = Math.max(1, Math.ceil((blocked[0] as RateLimiterRes).msBeforeNext / 1000));
      throw new RateLimitError(`too many failed login attempts; try again in ${seconds} seconds`, seconds);
    }
  }

  async recordFailure(username: string, address: string): Promise<void> {
    await Promise.all([this.byUser.penalty(userKey(username), 1), this.byAddress.penalty(address, 1)]);
  }

  async recordSuccess(username: string): Promise<void> {
    await this.byUser.delete(userKey(username));
  }
}

const userKey = (username: string) => username.toLowerCase();
