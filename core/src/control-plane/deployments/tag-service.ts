import { inject, injectable } from '@nullops/kernel';
import { InputError, NotFoundError, UnavailableError } from '@nullops/plugin-sdk';
import type { Database } from '../database/database.js';
import { ContainerRegistry, type Project, Service } from '../models/catalog.js';
import { PluginService } from '../plugins/plugin-service.js';
import { Refs } from '../refs.js';
import { RegistryClient } from '../registry/registry-client.js';
import { defaultTag, selectTags } from '../registry/tag-order.js';
import type { ServiceTags } from '../schemas/deployment.js';
import { sealedContexts } from '../security/sealed-contexts.js';
import type { SecretBox } from '../security/secret-box.js';

/** Which tags a project's services may be deployed with. */
@injectable()
export class TagService {
  readonly client = new RegistryClient();

  constructor(
    @inject(Refs.database) private readonly db: Database,
    @inject(Refs.secretBox) private readonly box: SecretBox,
    @inject(PluginService) private readonly plugins: PluginService,
  ) {}

  private access(registry: ContainerRegistry) {
    const password = registry.passwordEnc
      ? this.box.decrypt(registry.passwordEnc, sealedContexts.registryPassword(registry.id))
      : null;
    return { id: registry.id, name: registry.name, url: registry.url, username: registry.username, password };
  }

  /**
   * Checks that a registry answers and takes its credentials (when saved). A registry a plugin's
   * provider serves is the provider's to judge: it lists tags only, so nothing is checked here.
   */
  async checkRegistry(registry: ContainerRegistry): Promise<void> {
    if (this.plugins.extensions.registryProviderFor(registry.url)) return;
    await this.client.check(this.access(registry));
  }

  /** The tags of an image that a pattern selects, newest first (the service form's preview). */
  async previewTags(registry: ContainerRegistry, image: string, pattern: string | null) {
    const all = await this.listTags(registry, image);
    const selected = selectTags(all, pattern ?? '*');
    return { total: all.length, matching: selected.length, tags: selected.slice(0, 20) };
  }

  /** Every tag of an image: from a plugin's registry provider when one serves the URL, else Registry v2. */
  private async listTags(registry: ContainerRegistry, image: string): Promise<string[]> {
    const { password } = this.access(registry);
    const provider = this.plugins.extensions.registryProviderFor(registry.url);
    if (!provider) return this.client.listTags(this.access(registry), image);
    try {
      return await provider.listTags({
        registryUrl: registry.url,
        image,
        ...(registry.username ? { username: registry.username } : {}),
        ...(password ? { password } : {}),
        signal: AbortSignal.timeout(15_000),
      });
    } catch (err) {
      throw new UnavailableError(
        `the registry provider "${provider.name}" could not list the tags of ${image}: ${(err as Error)?.message ?? String(err)}`,
      );
    }
  }

  async forProject(project: Project, db: Database = this.db): Promise<ServiceTags[]> {
    const services = await Service.query(db)
      .join('project_services as ps', 'ps.serviceId', 'services.id')
      .where('ps.projectId', project.id)
      .select('services.*')
      .orderBy('name');
    return Promise.all(
      services.map(async (s) => {
        if (s.tagMode === 'pinned') {
          return {
            serviceId: s.id,
            name: s.name,
            image: s.image,
            tagMode: s.tagMode,
            defaultTag: s.tag,
            tags: [],
          };
        }
        const registry = await ContainerRegistry.query(db).findById(s.registryId).throwIfNotFound();
        const all = await this.listTags(registry, s.image);
        const tags = selectTags(all, s.tagPattern ?? '*');
        return {
          serviceId: s.id,
          name: s.name,
          image: s.image,
          tagMode: s.tagMode,
          defaultTag: defaultTag(tags),
          tags,
        };
      }),
    );
  }

  /**
   * The digest each chosen tag points to now, by service: what the deployment runs (a tag pushed
   * again later changes nothing of it). A registry provider without digests leaves its services
   * on their tags.
   */
  async digests(
    project: Project,
    tags: Record<string, string>,
    db: Database = this.db,
  ): Promise<Record<string, string>> {
    const services = await Service.query(db)
      .join('project_services as ps', 'ps.serviceId', 'services.id')
      .where('ps.projectId', project.id)
      .whereIn('services.name', Object.keys(tags))
      .select('services.*');
    const resolved = await Promise.all(
      services.map(async (s): Promise<[string, string | undefined]> => {
        const registry = await ContainerRegistry.query(db).findById(s.registryId).throwIfNotFound();
        const tag = tags[s.name] as string;
        const provider = this.plugins.extensions.registryProviderFor(registry.url);
        if (!provider) {
          try {
            return [s.name, await this.client.resolveDigest(this.access(registry), s.image, tag)];
          } catch (err) {
            if (err instanceof NotFoundError)
              throw InputError.field(
                `tags.${s.name}`,
                `${tag} is not a tag of ${s.image} in registry "${registry.name}"`,
              );
            throw err;
          }
        }
        if (!provider.resolveDigest) return [s.name, undefined];
        const { username, password } = this.access(registry);
        try {
          return [
            s.name,
            await provider.resolveDigest({
              registryUrl: registry.url,
              image: s.image,
              tag,
              ...(username ? { username } : {}),
              ...(password ? { password } : {}),
              signal: AbortSignal.timeout(15_000),
            }),
          ];
        } catch (err) {
          throw new UnavailableError(
            `the registry provider "${provider.name}" could not resolve ${s.image}:${tag}: ${(err as Error)?.message ?? String(err)}`,
          );
        }
      }),
    );
    return Object.fromEntries(resolved.filter((r): r is [string, string] => r[1] !== undefined));
  }

  /**
   * The tag of every service for a new deployment: pinned services use their pinned tag; a
   * selectable one must be chosen from the registry's tags matching its pattern.
   */
  async choose(
    project: Project,
    requested: Record<string, string>,
    db: Database = this.db,
  ): Promise<Record<string, string>> {
    const services = await this.forProject(project, db);
    const unknown = Object.keys(requested).filter((name) => !services.some((s) => s.name === name));
    if (unknown.length) throw InputError.field(`tags.${unknown[0]}`, 'is not a service of this project');
    const chosen: Record<string, string> = {};
    for (const s of services) {
      const wanted = requested[s.name];
      if (s.tagMode === 'pinned') {
        if (wanted && wanted !== s.defaultTag)
          throw InputError.field(`tags.${s.name}`, `is pinned to ${s.defaultTag}`);
        chosen[s.name] = s.defaultTag as string;
      } else if (!wanted) {
        throw InputError.field(
          `tags.${s.name}`,
          `is required: choose one of ${s.tags.slice(0, 5).join(', ') || '(no matching tags)'}`,
        );
      } else if (!s.tags.includes(wanted)) {
        throw InputError.field(
          `tags.${s.name}`,
          `"${wanted}" is not a tag of ${s.image} that may be deployed`,
        );
      } else {
        chosen[s.name] = wanted;
      }
    }
    return chosen;
  }
}
