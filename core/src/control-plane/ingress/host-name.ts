/**
 * The host a request is for, in the one canonical form routes are stored in: lowercase, without a
 * port or a trailing dot. Anything that is not a plain DNS name (IP literals, odd characters)
 * yields undefined and is answered 404.
 */
export function canonicalHost(header: string | undefined): string | undefined {
  if (!header) return undefined;
  let host = header.trim().toLowerCase();
  const colon = host.lastIndexOf(':');
  if (colon > -1 && /^\d+$/.test(host.slice(colon + 1))) host = host.slice(0, colon);
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/.test(host) || host.length > 253)
    return undefined;
  return host;
}

/** `service.deployment.environment.base-domain`, the stable address of a service. */
export function serviceHost(
  service: string,
  deployment: string,
  environment: string,
  baseDomain: string,
): string {
  return `${service}.${deployment}.${environment}.${baseDomain}`.toLowerCase();
}
