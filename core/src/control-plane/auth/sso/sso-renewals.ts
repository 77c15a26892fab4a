import { inject, injectable } from '@nullops/kernel';
import type { Logger } from 'pino';
import type { ControlPlaneConfig } from '../../config.js';
import { Refs } from '../../refs.js';
import { OidcSignIn } from './oidc-sign-in.js';

/**
 * Every sweep interval: the single sign-on sessions due for renewal that nobody used are renewed
 * with their provider (`OidcSignIn.renewDue`). A user the provider disabled loses their sessions and
 * API tokens then, even one who only ever uses a token. Every replica sweeps, with no lock held
 * while providers are asked: each session's renewal is claimed by one of them.
 */
@injectable()
export class SsoRenewals {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    @inject(Refs.logger) private readonly logger: Logger,
    @inject(Refs.config) private readonly config: ControlPlaneConfig,
    @inject(OidcSignIn) private readonly signIn: OidcSignIn,
  ) {}

  start(): void {
    this.timer = setInterval(
      () =>
        void this.signIn
          .renewDue()
          .catch((err) => this.logger.error({ err }, 'single sign-on renewals failed')),
      this.config.NULLOPS_SWEEP_INTERVAL_SECONDS * 1000,
    );
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
