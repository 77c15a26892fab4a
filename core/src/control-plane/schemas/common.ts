import { z } from 'zod';

/**
 * A DNS label (RFC 1123): names that become host names — environments, deployments, services —
 * must be one, because they end up in `service.deployment.environment.base-domain`.
 */
export const dnsLabel = z
  .string()
  .min(1, 'must not be empty')
  .max(63, 'must be at most 63 characters')
  .regex(
    /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/,
    'must be a DNS label: lowercase letters, digits and -, not at the ends',
  );

/** A DNS name of one or more labels, e.g. `env.example.com`. */
export const dnsName = z
  .string()
  .max(253, 'must be at most 253 characters')
  .regex(
    /^([a-z0-9]([a-z0-9-]*[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/,
    'must be a lowercase DNS name such as env.example.com',
  );

export const displayText = (max: number) => z.string().trim().max(max, `must be at most ${max} characters`);

export const uuid = z.uuid('must be a UUID');

/** Path parameters made of one UUID named `name`. */
export const idParam = <K extends string>(name: K) =>
  z.object({ [name]: uuid } as Record<K, typeof uuid>).strict();

/** Paging for list endpoints. */
export const paging = {
  limit: z.coerce.number().int().min(1).max(500).default(100),
  offset: z.coerce.number().int().min(0).default(0),
};

export const timestamp = z.iso.datetime();

/** An ISO string for a Date column (null stays null). */
export function iso(value: Date | string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  return (value instanceof Date ? value : new Date(value)).toISOString();
}

/** Seconds between 1 minute and a year, for time-to-live settings. */
export const ttlSeconds = z
  .number()
  .int('must be whole seconds')
  .min(60, 'must be at least 60 seconds')
  .max(366 * 86400, 'must be at most a year');

/**
 * A quota (null: none): the most live deployments, and the CPU and memory they may reserve
 * together. Projects and users each have one; a create over either is refused, naming it.
 */
export const quotaFields = {
  quotaDeployments: z.number().int().min(0).max(100_000).nullable(),
  quotaCpuMillicores: z.number().int().min(0).max(100_000_000).nullable(),
  quotaMemoryMb: z.number().int().min(0).max(1_000_000_000).nullable(),
};
export const QuotaView = z.object({
  deployments: z.number().nullable().describe('the most live deployments (null: no limit)'),
  cpuMillicores: z.number().nullable().describe('the most CPU they reserve together'),
  memoryMb: z.number().nullable().describe('the most memory they reserve together'),
});
export const quotaView = (row: {
  quotaDeployments: number | null;
  quotaCpuMillicores: number | null;
  quotaMemoryMb: number | null;
}) => ({
  deployments: row.quotaDeployments ?? null,
  cpuMillicores: row.quotaCpuMillicores ?? null,
  memoryMb: row.quotaMemoryMb ?? null,
});
