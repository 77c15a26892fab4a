import { isNullOpsError } from '@nullops/plugin-sdk';
import type Koa from 'koa';
import type { Logger } from 'pino';
import type { Authorizer } from '../access/authorizer.js';
import type { AuditService } from '../audit/audit-service.js';
import type { Principal } from '../auth/principal.js';
import { ElsewhereError } from '../cluster/elsewhere.js';
import type { Database } from '../database/database.js';
import type { AuditOutcome } from '../models/audit-event.js';
import type { Outbox } from '../outbox/outbox.js';
import type { RouteHooks } from './mount-routes.js';
import type { AnyRoute, RouteResult } from './route.js';
import type { ControlPlaneExtras } from './route-context.js';

/**
 * The control plane's steps around every handler: authorize by the route's rule, run mutations in
 * a transaction (then start the effects it queued in the outbox), and audit every mutation and
 * every sensitive read. A change's audit row is written in the change's own transaction: no change
 * without its row (a row that cannot be written undoes the change). Refusals and failures, which
 * changed nothing, are recorded after.
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
  const audited = (ctx: Koa.Context, route: AnyRoute) =>
    route.method !== 'get' || Boolean(route.auditRead || ctx.state.auditRead);
  return {
    async authorize(ctx, route) {
      ctx.state.principal = await deps.authorizer.authorize(ctx, route.access);
    },
    async run(ctx, route, handler) {
      const principal = ctx.state.principal as Principal | undefined;
      if (route.method === 'get') return handler({ db: deps.db, principal });
      try {
        if (route.transaction === false) return await handler({ db: deps.db, principal });
        return await deps.db.transaction(async (trx) => {
          const result = await handler({ db: trx, principal });
          const { status, body } = result as RouteResult;
          await deps.audit.record(auditEntry(ctx, route, { status, result: body }), trx);
          ctx.state.auditWritten = true;
          return result;
        });
      } finally {
        deps.outbox.wake();
      }
    },
    async after(ctx, route, outcome) {
      // Relayed to the replica holding the node's link, which decides and audits it.
      if (outcome.error instanceof ElsewhereError) return;
      if (route.method !== 'get' || route.changes) deps.changed?.();
      if (!audited(ctx, route) || ctx.state.auditWritten) return;
      try {
        await deps.audit.record(auditEntry(ctx, route, outcome));
      } catch (err) {
        // Only refusals, failures, reads and the few changes that commit in steps of their own get
        // here; losing such a row must not turn a decided request into an error, so it is logged loudly.
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
  } else if (status >= 400) {
    // A plugin route answers its refusals itself.
    result = status === 401 || status === 403 ? 'denied' : 'failure';
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
