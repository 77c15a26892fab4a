import { NotFoundError, UnavailableError } from '@nullops/plugin-sdk';

export interface RegistryAccess {
  id: string;
  name: string;
  url: string;
  username: string | null;
  password: string | null;
}

const DOCKER_HUB = /^https?:\/\/(registry-1\.docker\.io|index\.docker\.io|docker\.io)$/;

/** The repository path as the registry knows it: Docker Hub's official images live under `library/`. */
export function repositoryPath(registryUrl: string, image: string): string {
  return DOCKER_HUB.test(registryUrl) && !image.includes('/') ? `library/${image}` : image;
}

/** The image reference an engine pulls: `host[:port]/repository:tag` (`docker.io/…` for Docker Hub). */
export function imageReference(registryUrl: string, image: string, tag: string): string {
  const host = DOCKER_HUB.test(registryUrl) ? 'docker.io' : new URL(registryUrl).host;
  return `${host}/${repositoryPath(registryUrl, image)}:${tag}`;
}

/** The `serveraddress` Docker expects in pull credentials for this registry. */
export function registryHost(registryUrl: string): string {
  return DOCKER_HUB.test(registryUrl) ? 'docker.io' : new URL(registryUrl).host;
}

interface Challenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

/** Parses `Www-Authenticate: Bearer realm="…",service="…",scope="…"`. */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^(\w+)\s*(.*)$/s.exec(header.trim());
  if (!m) return undefined;
  const scheme = (m[1] as string).toLowerCase();
  if (scheme !== 'basic' && scheme !== 'bearer') return undefined;
  const params: Record<string, string> = {};
  for (const p of (m[2] as string).matchAll(/(\w+)="([^"]*)"/g))
    params[(p[1] as string).toLowerCase()] = p[2] as string;
  return { scheme, params };
}

/**
 * A client of the Docker Registry HTTP API v2 for listing tags. Speaks Basic auth and the bearer
 * token flow Docker Hub uses (challenge → token from the realm → retry), follows `Link` paging,
 * and caches results briefly so a busy create-deployment page does not hammer the registry.
 */
export class RegistryClient {
  private readonly cache = new Map<string, { at: number; tags: string[] }>();
  /** Lists in flight: concurrent askers of the same image share one walk of the registry. */
  private readonly inFlight = new Map<string, Promise<string[]>>();

  constructor(private readonly options: { cacheMs?: number; timeoutMs?: number } = {}) {}

  async listTags(registry: RegistryAccess, image: string): Promise<string[]> {
    const key = `${registry.id}|${registry.url}|${image}`;
    const hit = this.cache.get(key);
    if (hit && Date.now() - hit.at < (this.options.cacheMs ?? 30_000)) return hit.tags;
    const running = this.inFlight.get(key);
    if (running) return running;
    const listing = this.fetchTags(registry, image)
      .then((tags) => {
        this.cache.set(key, { at: Date.now(), tags });
        return tags;
      })
      .finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, listing);
    return listing;
  }

  private async fetchTags(registry: RegistryAccess, image: string): Promise<string[]> {
    const repository = repositoryPath(registry.url, image);
    const tags: string[] = [];
    let next: string | undefined = `${registry.url}/v2/${repository}/tags/list?n=1000`;
    let authorization: string | undefined;
    for (let page = 0; next && page < 100; page++) {
      let res = await this.get(registry, next, authorization);
      if (res.status === 401) {
        // Drain the refusal so its connection is free for the retry.
        await res.body?.cancel();
        authorization = await this.authorize(
          registry,
          repository,
          parseChallenge(res.headers.get('www-authenticate')),
        );
        res = await this.get(registry, next, authorization);
      }
      if (res.status === 401 || res.status === 403) {
        throw new UnavailableError(
          `registry "${registry.name}" refused access to ${image}: check its username and password`,
        );
      }
      if (res.status === 404) throw new NotFoundError(`registry "${registry.name}" has no image ${image}`);
      if (!res.ok)
        throw new UnavailableError(`registry "${registry.name}" answered HTTP ${res.status} for ${image}`);
      const body = (await res.json()) as { tags?: string[] | null };
      tags.push(...(body.tags ?? []));
      const link = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.headers.get('link') ?? '');
      next = link ? new URL(link[1] as string, registry.url).toString() : undefined;
    }
    return [...new Set(tags)];
  }

  private async get(registry: RegistryAccess, url: string, authorization?: string): Promise<Response> {
    try {
      return await fetch(url, {
        headers: { accept: 'application/json', ...(authorization ? { authorization } : {}) },
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
    } catch (err) {
      throw new UnavailableError(
        `registry "${registry.name}" at ${registry.url} is unreachable (${(err as Error).cause ? String((err as { cause: { message?: string } }).cause.message) : (err as Error).message}); check its URL or try again`,
      );
    }
  }

  private async authorize(
    registry: RegistryAccess,
    repository: string,
    challenge: Challenge | undefined,
  ): Promise<string | undefined> {
    const basic = registry.username
      ? `Basic ${Buffer.from(`${registry.username}:${registry.password ?? ''}`).toString('base64')}`
      : undefined;
    if (!challenge || challenge.scheme === 'basic') return basic;
    const realm = challenge.params.realm;
    if (!realm)
      throw new UnavailableError(`registry "${registry.name}" sent a bearer challenge without a realm`);
    const tokenUrl = new URL(realm);
    if (challenge.params.service) tokenUrl.searchParams.set('service', challenge.params.service);
    tokenUrl.searchParams.set('scope', challenge.params.scope ?? `repository:${repository}:pull`);
    let res: Response;
    try {
      res = await fetch(tokenUrl, {
        headers: basic ? { authorization: basic } : {},
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
    } catch (err) {
      throw new UnavailableError(
        `the token service of registry "${registry.name}" is unreachable (${(err as Error).message})`,
      );
    }
    if (!res.ok)
      throw new UnavailableError(
        `registry "${registry.name}" refused a token (HTTP ${res.status}): check its username and password`,
      );
    const body = (await res.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token)
      throw new UnavailableError(`the token service of registry "${registry.name}" returned no token`);
    return `Bearer ${token}`;
  }
}
