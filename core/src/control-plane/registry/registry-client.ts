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

/**
 * The reference a run starts: by digest when the tag was resolved (`host/repository@sha256:…`,
 * what engines pull exactly), else by tag.
 */
export function runReference(registryUrl: string, image: string, tag: string, digest?: string): string {
  if (!digest) return imageReference(registryUrl, image, tag);
  const host = DOCKER_HUB.test(registryUrl) ? 'docker.io' : new URL(registryUrl).host;
  return `${host}/${repositoryPath(registryUrl, image)}@${digest}`;
}

/** The `serveraddress` Docker expects in pull credentials for this registry. */
export function registryHost(registryUrl: string): string {
  return DOCKER_HUB.test(registryUrl) ? 'docker.io' : new URL(registryUrl).host;
}

/** Manifest media types a digest may be of: multi-platform indexes first, then single images. */
const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** The authorization answered once, reused for the rest of a walk (tag pages). */
interface Session {
  authorization?: string;
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
 * A client of the Docker Registry HTTP API v2 for listing tags and resolving a tag's digest. Speaks Basic auth and the bearer
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
    const session: Session = {};
    for (let page = 0; next && page < 100; page++) {
      const res = await this.request(registry, repository, next, session, { accept: 'application/json' });
      if (res.status === 404) throw new NotFoundError(`registry "${registry.name}" has no image ${image}`);
      this.refuseFailure(registry, image, res);
      const body = (await res.json()) as { tags?: string[] | null };
      tags.push(...(body.tags ?? []));
      const link = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.headers.get('link') ?? '');
      next = link ? new URL(link[1] as string, registry.url).toString() : undefined;
    }
    return [...new Set(tags)];
  }

  /**
   * The digest a tag points to now (the manifest's `Docker-Content-Digest`; for a multi-platform
   * image, its index): what a deployment then runs, whatever is pushed to the tag later.
   */
  async resolveDigest(registry: RegistryAccess, image: string, tag: string): Promise<string> {
    const repository = repositoryPath(registry.url, image);
    const url = `${registry.url}/v2/${repository}/manifests/${encodeURIComponent(tag)}`;
    const res = await this.request(registry, repository, url, {}, { accept: MANIFEST_TYPES, method: 'HEAD' });
    if (res.status === 404)
      throw new NotFoundError(`registry "${registry.name}" has no tag ${tag} of ${image} (any more)`);
    this.refuseFailure(registry, `${image}:${tag}`, res);
    const digest = res.headers.get('docker-content-digest');
    if (!digest || !/^sha256:[0-9a-f]{64}$/.test(digest))
      throw new UnavailableError(
        `registry "${registry.name}" did not say which digest ${image}:${tag} is (no Docker-Content-Digest header)`,
      );
    return digest;
  }

  /**
   * Whether the registry answers the Registry API and takes its credentials: `GET /v2/`, the
   * API's own check, with the challenge answered (a token fetched with the username and password).
   */
  async check(registry: RegistryAccess): Promise<void> {
    const url = `${registry.url}/v2/`;
    const options = { accept: 'application/json' };
    let res = await this.send(registry, url, options);
    if (res.status === 401) {
      await res.body?.cancel();
      const challenge = parseChallenge(res.headers.get('www-authenticate'));
      res = await this.send(registry, url, options, await this.authorize(registry, undefined, challenge));
    }
    await res.body?.cancel();
    if (res.status === 404)
      throw new UnavailableError(
        `${registry.url} answered HTTP 404 at /v2/: it does not serve the container registry API there; check the URL`,
      );
    this.refuseFailure(registry, 'its API', res);
  }

  private refuseFailure(registry: RegistryAccess, what: string, res: Response): void {
    if (res.status === 401 || res.status === 403)
      throw new UnavailableError(
        `registry "${registry.name}" refused access to ${what}: check its username and password`,
      );
    if (!res.ok)
      throw new UnavailableError(`registry "${registry.name}" answered HTTP ${res.status} for ${what}`);
  }

  /** A request with the registry's auth: on a 401 it answers the challenge once and retries. */
  private async request(
    registry: RegistryAccess,
    repository: string,
    url: string,
    session: Session,
    options: { accept: string; method?: 'GET' | 'HEAD' },
  ): Promise<Response> {
    let res = await this.send(registry, url, options, session.authorization);
    if (res.status !== 401) return res;
    // Drain the refusal so its connection is free for the retry.
    await res.body?.cancel();
    session.authorization = await this.authorize(
      registry,
      repository,
      parseChallenge(res.headers.get('www-authenticate')),
    );
    res = await this.send(registry, url, options, session.authorization);
    return res;
  }

  private async send(
    registry: RegistryAccess,
    url: string,
    options: { accept: string; method?: 'GET' | 'HEAD' },
    authorization?: string,
  ): Promise<Response> {
    try {
      return await fetch(url, {
        method: options.method ?? 'GET',
        headers: { accept: options.accept, ...(authorization ? { authorization } : {}) },
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
    } catch (err) {
      throw new UnavailableError(
        `registry "${registry.name}" at ${registry.url} is unreachable (${(err as Error).cause ? String((err as { cause: { message?: string } }).cause.message) : (err as Error).message}); check its URL or try again`,
      );
    }
  }

  /** Credentials for a request the registry challenged; `repository` scopes a token to pulling it. */
  private async authorize(
    registry: RegistryAccess,
    repository: string | undefined,
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
    const scope = challenge.params.scope ?? (repository ? `repository:${repository}:pull` : undefined);
    if (scope) tokenUrl.searchParams.set('scope', scope);
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
