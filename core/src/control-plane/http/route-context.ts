import { routeFactory } from '@nullops/agent-host/kernel';
import { AuthenticationError } from '@nullops/plugin-sdk';
import type { Principal } from '../auth/principal.js';
import type { Database } from '../database/database.js';

/**
 * What every control-plane handler receives besides its validated input: the caller, and the
 * database — a transaction for mutations, so a failing request leaves nothing half-written.
 */
export interface ControlPlaneExtras {
  db: Database;
  principal: Principal | undefined;
}

export const route = routeFactory<ControlPlaneExtras>();

/** The caller of a route whose rule guarantees one. */
export function caller(principal: Principal | undefined): Principal {
  if (!principal) throw new AuthenticationError();
  return principal;
}
