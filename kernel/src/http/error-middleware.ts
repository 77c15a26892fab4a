import { type ErrorCode, type FieldIssue, isNullOpsError } from '@nullops/plugin-sdk';
import type Koa from 'koa';
import { ZodError } from 'zod';
import type { Logger } from '../logger.js';

const STATUS: Record<ErrorCode, number> = {
  invalid_input: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unprocessable: 422,
  payload_too_large: 413,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
};

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: Record<string, unknown> };
}

/** Turns a zod failure on one request part (`body`, `query`, `params`) into field issues. */
export function zodIssues(part: string, error: ZodError): FieldIssue[] {
  return error.issues.map((issue) => {
    const path = [part, ...issue.path.map(String)];
    // An unknown key is reported on the key itself, so the message names the field.
    if (issue.code === 'unrecognized_keys') {
      return { path: [...path, issue.keys.join(',')].join('.'), message: 'is not a known field' };
    }
    return { path: path.join('.'), message: issue.message };
  });
}

interface PgError {
  code?: string;
  table?: string;
  column?: string;
  constraint?: string;
  detail?: string;
}

/**
 * Maps well-known PostgreSQL errors to typed API errors. Constraint names are knex's
 * `<table>_<columns>_<kind>`; the columns part, in the API's camelCase, names the field.
 */
function fromDatabaseError(err: PgError): MappedError | undefined {
  const field = constraintField(err);
  switch (err.code) {
    case '23505':
      return {
        status: 409,
        code: 'conflict' as const,
        message: field ? `${field}: is already taken` : 'this conflicts with an existing record',
        details: field ? { issues: [{ path: `body.${field}`, message: 'is already taken' }] } : undefined,
      };
    case '23503': {
      const user = /is still referenced from table "([a-z_]+)"/.exec(err.detail ?? '');
      if (user) {
        return {
          status: 409,
          code: 'conflict' as const,
          message: `this is still used by ${user[1]?.replace(/_/g, ' ')}; remove those first`,
        };
      }
      return {
        status: 400,
        code: 'invalid_input' as const,
        message: field ? `${field}: refers to something that does not exist` : 'a reference is invalid',
      };
    }
    case '23514':
    case '23502':
    case '22P02':
    case '22001':
    case '22003':
      return {
        status: 400,
        code: 'invalid_input' as const,
        message: field ? `${field}: is invalid` : 'a value is invalid',
      };
    default:
      return undefined;
  }
}

function constraintField(err: PgError): string | undefined {
  const fromColumn = err.column;
  let columns = fromColumn;
  if (!columns && err.constraint && err.table && err.constraint.startsWith(`${err.table}_`)) {
    columns = err.constraint.slice(err.table.length + 1).replace(/_(unique|foreign|check|pkey)$/, '');
  }
  return columns?.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * The one place where errors become HTTP responses: `{ error: { code, message, details } }`.
 * Unknown errors are logged with their stack and answered with a bland 500; nothing internal (stack,
 * SQL, secrets) ever reaches the client.
 */
export function errorMiddleware(logger: Logger): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        ctx.status = 404;
        ctx.body = { error: { code: 'not_found', message: `no route for ${ctx.method} ${ctx.path}` } };
      }
    } catch (err) {
      const body = toErrorBody(err, logger, ctx);
      ctx.status = body.status;
      ctx.body = { error: { code: body.code, message: body.message, details: body.details } };
      if (body.retryAfter) ctx.set('Retry-After', String(body.retryAfter));
    }
  };
}

interface MappedError {
  status: number;
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
  retryAfter?: number;
}

function toErrorBody(err: unknown, logger: Logger, ctx: Koa.Context): MappedError {
  if (isNullOpsError(err)) {
    const retryAfter = err.code === 'rate_limited' ? Number(err.details?.retryAfterSeconds) : undefined;
    return {
      status: STATUS[err.code],
      code: err.code,
      message: err.message,
      details: err.details,
      retryAfter,
    };
  }
  if (err instanceof ZodError) {
    const issues = zodIssues('body', err);
    return { status: 400, code: 'invalid_input' as const, message: describe(issues), details: { issues } };
  }
  const e = err as { status?: number; expose?: boolean; type?: string; message?: string };
  // Errors from koa's body parser and http-errors carry a status and whether it is safe to show.
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    if (e.status === 413 || e.type === 'entity.too.large') {
      return { status: 413, code: 'payload_too_large' as const, message: 'body: is too large' };
    }
    const message =
      e.status === 400 && /JSON|token|parse/i.test(e.message ?? '')
        ? 'body: is not valid JSON'
        : e.expose && e.message
          ? `body: ${e.message}`
          : 'body: could not be read';
    return { status: e.status, code: 'invalid_input' as const, message };
  }
  // objection wraps driver errors (UniqueViolationError, …) and keeps the original as nativeError.
  const native = ((err as { nativeError?: PgError }).nativeError ?? err) as PgError;
  const db = typeof native.code === 'string' ? fromDatabaseError(native) : undefined;
  if (db) return db;
  logger.error({ err, requestId: ctx.state.requestId, path: ctx.path }, 'unhandled error');
  return {
    status: 500,
    code: 'internal' as const,
    message: `internal error (request ${ctx.state.requestId ?? 'unknown'}); the server log has details`,
  };
}

/** A one-line message naming every offending field. */
export function describe(issues: FieldIssue[]): string {
  return issues.map((i) => `${i.path}: ${i.message}`).join('; ');
}
