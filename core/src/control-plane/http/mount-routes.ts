import type Router from '@koa/router';
import { describe, zodIssues } from '@nullops/kernel';
import { type FieldIssue, InputError } from '@nullops/plugin-sdk';
import type Koa from 'koa';
import type { z } from 'zod';
import type { AnyRoute } from './route.js';

/** How a route's request ended, for the host's `after` hook (the audit log). */
export interface RouteOutcome {
  status: number;
  error?: unknown;
  result?: unknown;
}

/**
 * The host-specific steps around every handler. The kernel knows nothing about users or
 * databases; the control plane and the agents each supply their own.
 */
export interface RouteHooks<E> {
  /** Authenticates and checks the route's access rule; throws a typed error to refuse. */
  authorize(ctx: Koa.Context, route: AnyRoute<E>): Promise<void>;
  /** Runs the handler with the host's extras, e.g. inside a database transaction. */
  run<T>(ctx: Koa.Context, route: AnyRoute<E>, handler: (extras: E) => Promise<T>): Promise<T>;
  /** Called once the request is decided, whatever the outcome. */
  after?(ctx: Koa.Context, route: AnyRoute<E>, outcome: RouteOutcome): Promise<void>;
}

/** Registers routes on a koa router, wiring authorization, validation and the handler. */
export function mountRoutes<E>(router: Router, routes: AnyRoute<E>[], hooks: RouteHooks<E>): void {
  const seen = new Set<string>();
  for (const route of routes) {
    if (!route.access) throw new TypeError(`route ${route.operationId} must declare an access rule`);
    if (seen.has(route.operationId)) throw new TypeError(`duplicate operationId ${route.operationId}`);
    seen.add(route.operationId);
    router[route.method](route.operationId, route.path, async (ctx) => {
      let outcome: RouteOutcome = { status: 500 };
      try {
        await hooks.authorize(ctx, route);
        const input = parseInput(ctx, route);
        const result = await hooks.run(ctx, route, (extras) =>
          route.handler({ ...input, ctx, ...(extras as E) } as never),
        );
        ctx.status = result.status;
        for (const [name, value] of Object.entries(result.headers ?? {})) ctx.set(name, value);
        if (result.body !== undefined) {
          ctx.body = result.body;
          if (route.produces) ctx.type = route.produces;
        }
        outcome = { status: result.status, result: result.body };
      } catch (error) {
        outcome = { status: 0, error };
        throw error;
      } finally {
        await hooks.after?.(ctx, route, outcome);
      }
    });
  }
}

function parseInput(ctx: Koa.Context, route: AnyRoute) {
  const issues: FieldIssue[] = [];
  const part = (name: string, schema: z.ZodType | undefined, value: unknown) => {
    if (!schema) return {};
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data;
    issues.push(...zodIssues(name, parsed.error));
    return undefined;
  };
  const params = part('params', route.params, ctx.params);
  const query = part('query', route.query, ctx.query);
  let body: unknown = {};
  if (route.body) {
    const raw = (ctx.request as { body?: unknown }).body;
    if (ctx.request.length && !ctx.is('application/json')) {
      issues.push({ path: 'body', message: 'must be JSON (Content-Type: application/json)' });
    } else {
      body = part('body', route.body, raw ?? {});
    }
  }
  // PostgreSQL text cannot hold NUL; refusing it here names the field instead of failing in SQL.
  if (!issues.length) issues.push(...nulIssues('body', body), ...nulIssues('query', query));
  if (issues.length) throw new InputError(describe(issues), issues);
  return { params, query, body };
}

function nulIssues(path: string, value: unknown): FieldIssue[] {
  if (typeof value === 'string')
    return value.includes('\u0000') ? [{ path, message: 'must not contain NUL characters' }] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => nulIssues(`${path}.${i}`, v));
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) =>
      k.includes('\u0000')
        ? [{ path, message: 'must not contain NUL characters' }]
        : nulIssues(`${path}.${k}`, v),
    );
  }
  return [];
}
