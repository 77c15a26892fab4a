/** Kubernetes `Status` errors, shaped exactly as a real API server writes them. */

export interface Cause {
  reason: string;
  message: string;
  field?: string;
}

export interface ResourceName {
  /** Plural resource, e.g. `deployments`. */
  plural: string;
  /** API group, '' for the core group. */
  group: string;
  /** Kind, e.g. `Deployment` (used by Invalid errors). */
  kind: string;
}

/** An error answered as a `Status` body with `code` as the HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }

  toStatus(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

const qualified = (r: ResourceName) => (r.group ? `${r.plural}.${r.group}` : r.plural);
const named = (r: ResourceName, name: string) => ({
  name,
  ...(r.group ? { group: r.group } : {}),
  kind: r.plural,
});

export const errors = {
  notFound: (r: ResourceName, name: string) =>
    new ApiError(404, 'NotFound', `${qualified(r)} "${name}" not found`, named(r, name)),
  unknownResource: () =>
    new ApiError(404, 'NotFound', 'the server could not find the requested resource', {}),
  alreadyExists: (r: ResourceName, name: string) =>
    new ApiError(409, 'AlreadyExists', `${qualified(r)} "${name}" already exists`, named(r, name)),
  conflict: (r: ResourceName, name: string) =>
    new ApiError(
      409,
      'Conflict',
      `Operation cannot be fulfilled on ${qualified(r)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      named(r, name),
    ),
  invalid: (r: ResourceName, name: string, causes: Cause[]) =>
    new ApiError(
      422,
      'Invalid',
      `${r.kind}${r.group ? `.${r.group}` : ''} "${name}" is invalid: ${
        causes.length === 1
          ? `${causes[0]?.field}: ${causes[0]?.message}`
          : `[${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}]`
      }`,
      { ...(name ? { name } : {}), ...(r.group ? { group: r.group } : {}), kind: r.kind, causes },
    ),
  badRequest: (message: string) => new ApiError(400, 'BadRequest', message),
  forbidden: (message: string, details?: Record<string, unknown>) =>
    new ApiError(403, 'Forbidden', message, details),
  unauthorized: () => new ApiError(401, 'Unauthorized', 'Unauthorized'),
  unsupportedMediaType: (message: string, details?: Record<string, unknown>) =>
    new ApiError(415, 'UnsupportedMediaType', message, details),
  expired: (message: string) => new ApiError(410, 'Expired', message),
  invalidPatch: () =>
    new ApiError(422, 'Invalid', 'the server rejected our request due to an error in our request', {}),
  applyConflicts: (conflicts: { manager: string; field: string }[]) =>
    new ApiError(
      409,
      'Conflict',
      `Apply failed with ${conflicts.length} conflict${conflicts.length === 1 ? '' : 's'}: ${conflicts
        .map((c) => `conflict with "${c.manager}": ${c.field}`)
        .join('\n')}`,
      {
        causes: conflicts.map((c) => ({
          reason: 'FieldManagerConflict',
          message: `conflict with "${c.manager}"`,
          field: c.field,
        })),
      },
    ),
  methodNotAllowed: () =>
    new ApiError(
      405,
      'MethodNotAllowed',
      'the server does not allow this method on the requested resource',
      {},
    ),
};

/** A `Status` for a successful delete of an object removed at once. */
export function successStatus(r: ResourceName, name: string, uid: string): Record<string, unknown> {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    details: { ...named(r, name), uid },
  };
}
