import type { AnyRoute, RouteHooks } from '@nullops/agent-host/kernel';
import { isNullOpsError } from '@nullops/plugin-sdk';
import type Koa from 'koa';
import type { Logger } from 'pino';
import type { Authorizer } from '../access/authorizer.js';
import type { AuditService } from '../audit/audit-service.js';
import type { Principal } from '../auth/principal.js';
import type { Database } from '../database/database.js';
import type { AuditOutcome } from '../models/audit-event.js';
import type { Outbox } from '../outbox/outbox.js';
import type { ControlPlaneExtras } from './route-context.js';

/**
 * The control plane's steps around every handler: authorize by the route's rule, run mutations in
 * a transaction (then start the effects it queued in the outbox), and audit every mutation
 * (successful, refused or failed).
 */
export function controlPlaneHooks(deps: {
  db: Database;
  authorizer: Authorizer;
  audit: AuditService;
  outbox: Outbox;
  logger: Logger;
  /** After every change made through the API (caches of read models forget what they hold). */
  changed?: () => void;
}): RouteHooks<ControlPlaneExtras> {
  return {
    async authorize(ctx, route) {
      ctx.state.principal = await deps.authorizer.authorize(ctx, route.access);
    },
    async run(ctx, route, handler) {
      const principal = ctx.state.principal as Principal | undefined;
      if (route.method === 'get') return handler({ db: deps.db, principal });
      try {
        if (route.transaction === false) return await handler({ db: deps.db, principal });
        return await deps.db.transaction((trx) => handler({ db: trx, principal }));
      } finally {
        deps.outbox.wake();
      }
    },
    async after(ctx, route, outcome) {
      if (route.method === 'get') return;
      deps.changed?.();
      try {
        await deps.audit.record(auditEntry(ctx, route, outcome));
      } catch (err) {
        // Losing an audit line must not turn a done request into an error; it is logged loudly.
        deps.logger.error({ err, action: route.operationId }, 'could not write audit event');
      }
    },
  };
}

function auditEntry(
  ctx: Koa.Context,
  route: AnyRoute,
  outcome: { status: number; error?: unknown; result?: unknown },
) {
  const principal = (ctx.state.principal as Principal | undefined) ?? ctx.state.auditActor;
  const error = outcome.error;
  let result: AuditOutcome = 'success';
  let status = outcome.status;
  let details: Record<string, unknown> | null = null;
  if (error) {
    const code = isNullOpsError(error) ? error.code : 'internal';
    result = code === 'unauthenticated' || code === 'forbidden' ? 'denied' : 'failure';
    status = 0;
    details = { error: code };
  }
  const params = (ctx.params ?? {}) as Record<string, string>;
  const body = outcome.result as { id?: unknown } | undefined;
  const targetId = Object.values(params)[0] ?? (typeof body?.id === 'string' ? body.id : null);
  return {
    actorId: principal?.userId ?? null,
    actorName: principal?.username ?? ctx.state.auditActorName ?? null,
    action: route.operationId,
    targetType: route.tags[0] ?? null,
    targetId,
    outcome: result,
    status: status || null,
    details: { ...details, ...(ctx.state.auditDetails ?? {}) },
    ip: ctx.ip,
    requestId: ctx.state.requestId ?? null,
  };
}
