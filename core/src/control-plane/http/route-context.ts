import { AuthenticationError, type FieldIssue, InputError } from '@nullops/plugin-sdk';
import type { Principal } from '../auth/principal.js';
import type { Database } from '../database/database.js';
import { routeFactory } from './route.js';

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

/**
 * Runs a domain call whose input is the request body: domain code names fields as it knows them
 * (`tags.web`), and the API names them where the client sent them (`body.tags.web`).
 */
export async function inBody<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    const issues = ((err.details as { issues?: FieldIssue[] } | undefined)?.issues ?? []).map((i) => ({
      ...i,
      path: `body.${i.path}`,
    }));
    let message = err.message;
    const paths = [...new Set(issues.map((i) => i.path.slice('body.'.length)))].sort(
      (a, b) => b.length - a.length,
    );
    for (const path of paths)
      message = message.replace(
        new RegExp(`(?<![\\w.])${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:`, 'g'),
        `body.${path}:`,
      );
    throw new InputError(message, issues, { cause: err });
  }
}
