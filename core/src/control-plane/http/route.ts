import type Koa from 'koa';
import type { z } from 'zod';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/**
 * Who may call a route. Every route declares one; there is no default, so a route without a rule
 * does not compile (and the authorization-matrix test walks them all).
 *
 * - `public`: anyone, signed in or not.
 * - `authenticated`: any signed-in, enabled user.
 * - `admin`: users with the admin role.
 * - `scoped`: a user whose access level on the object named by path parameter `param` is at least
 *   `level`; `scope` says what kind of object that is (e.g. `project`). Admins always pass.
 */
export type AccessRule =
  | { kind: 'public' }
  | { kind: 'authenticated' }
  | { kind: 'admin' }
  | { kind: 'scoped'; scope: string; param: string; level: 'read' | 'full' };

export const Access = {
  public: { kind: 'public' } as AccessRule,
  authenticated: { kind: 'authenticated' } as AccessRule,
  admin: { kind: 'admin' } as AccessRule,
  scoped: (scope: string, param: string, level: 'read' | 'full'): AccessRule => ({
    kind: 'scoped',
    scope,
    param,
    level,
  }),
};

/** What a handler returns: a status, an optional JSON body and optional headers. */
export interface RouteResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** The validated request a handler receives, plus whatever the host adds (`E`). */
export type RouteRequest<P, Q, B, E> = {
  params: P;
  query: Q;
  body: B;
  ctx: Koa.Context;
} & E;

type Schema = z.ZodType;
type Out<S> = S extends z.ZodType ? z.output<S> : Record<string, never>;

export interface RouteSpec<
  PS extends Schema | undefined,
  QS extends Schema | undefined,
  BS extends Schema | undefined,
  E,
> {
  method: HttpMethod;
  /** Koa-router path, e.g. `/api/projects/:projectId`. */
  path: string;
  /** Unique id, also the audit action, e.g. `projects.create`. */
  operationId: string;
  summary: string;
  tags: string[];
  access: AccessRule;
  params?: PS;
  query?: QS;
  body?: BS;
  /** Response schemas by status; they document the API (OpenAPI) and are not re-validated. */
  responses: Record<number, Schema | null>;
  /** Raw (non-JSON) response, e.g. Prometheus text. */
  produces?: string;
  /**
   * False for a mutation whose handler opens its own, short transactions: one that first talks to
   * the network (a registry), which must never happen while a transaction holds a connection.
   */
  transaction?: false;
  /**
   * True for a read that is audited like a change: it hands out what must be accounted for (log
   * lines, backup contents). A handler can also ask for it per request (`ctx.state.auditRead`).
   */
  auditRead?: true;
  /**
   * True for a read that changes state all the same (SSO's callback signs in and sets the user's
   * team memberships): caches forget after it, as after any change.
   */
  changes?: true;
  handler: (req: RouteRequest<Out<PS>, Out<QS>, Out<BS>, E>) => Promise<RouteResult>;
}

// biome-ignore lint/suspicious/noExplicitAny: a registry holds routes of every shape
export type AnyRoute<E = any> = RouteSpec<Schema | undefined, Schema | undefined, Schema | undefined, E>;

/** Declares a route; the identity function exists for type inference. */
export function defineRoute<
  E,
  PS extends Schema | undefined = undefined,
  QS extends Schema | undefined = undefined,
  BS extends Schema | undefined = undefined,
>(spec: RouteSpec<PS, QS, BS, E>): AnyRoute<E> {
  return spec as unknown as AnyRoute<E>;
}

/** Creates a `defineRoute` bound to a host's handler extras, so handlers are typed without noise. */
export function routeFactory<E>() {
  return <
    PS extends Schema | undefined = undefined,
    QS extends Schema | undefined = undefined,
    BS extends Schema | undefined = undefined,
  >(
    spec: RouteSpec<PS, QS, BS, E>,
  ): AnyRoute<E> => defineRoute<E, PS, QS, BS>(spec);
}
