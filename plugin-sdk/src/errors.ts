/**
 * Typed errors shared by every NullOps host and plugin.
 *
 * Hosts recognise them by their `$$type` tag, never with `instanceof`: a plugin may bundle its own
 * copy of this SDK, and two copies of a class break `instanceof`.
 */

/** Machine-readable error codes, mapped to HTTP statuses in exactly one place (the kernel). */
export type ErrorCode =
  | 'invalid_input'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'unprocessable'
  | 'payload_too_large'
  | 'rate_limited'
  | 'unavailable'
  | 'internal';

/** One offending field of an input: `path` is dotted from the request part, e.g. `body.name`. */
export interface FieldIssue {
  path: string;
  message: string;
}

/** Base of every typed NullOps error. */
export class NullOpsError extends Error {
  /** Tag the hosts check instead of `instanceof`. */
  readonly $$type = '@nullops/Error' as const;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The caller sent something invalid; `issues` name each offending field. */
export class InputError extends NullOpsError {
  constructor(message: string, issues: FieldIssue[] = [], options?: { cause?: unknown }) {
    super('invalid_input', message, issues.length ? { issues } : undefined, options);
  }
  /** Shorthand for one bad field: the message is prefixed with the field's path. */
  static field(path: string, message: string): InputError {
    return new InputError(`${path}: ${message}`, [{ path, message }]);
  }
}

/** No valid credentials were presented. */
export class AuthenticationError extends NullOpsError {
  constructor(message = 'authentication required', options?: { cause?: unknown }) {
    super('unauthenticated', message, undefined, options);
  }
}

/** The caller is known but may not do this. */
export class NotAllowedError extends NullOpsError {
  constructor(message = 'you do not have access to this', options?: { cause?: unknown }) {
    super('forbidden', message, undefined, options);
  }
}

/** The addressed object does not exist (or the caller may not know that it exists). */
export class NotFoundError extends NullOpsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('not_found', message, undefined, options);
  }
}

/** The request clashes with the current state, e.g. a name already taken. */
export class ConflictError extends NullOpsError {
  constructor(message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super('conflict', message, details, options);
  }
}

/** The request is well formed but cannot be carried out as sent (e.g. a reused Idempotency-Key). */
export class UnprocessableError extends NullOpsError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('unprocessable', message, details);
  }
}

/** Too many attempts; `retryAfterSeconds` says when to try again. */
export class RateLimitError extends NullOpsError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super('rate_limited', message, { retryAfterSeconds });
  }
}

/** A dependency (database, agent, registry) is not reachable right now. */
export class UnavailableError extends NullOpsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('unavailable', message, undefined, options);
  }
}

/** True when `value` is a NullOps typed error from any copy of the SDK. */
export function isNullOpsError(value: unknown): value is NullOpsError {
  return (
    typeof value === 'object' && value !== null && (value as { $$type?: unknown }).$$type === '@nullops/Error'
  );
}
