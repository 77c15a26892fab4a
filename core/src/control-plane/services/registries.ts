import { randomUUID } from 'node:crypto';
import { inject, injectable } from '@nullops/kernel';
import { InputError } from '@nullops/plugin-sdk';
import type { Database } from '../database/database.js';
import { TagService } from '../deployments/tag-service.js';
import { ContainerRegistry } from '../models/catalog.js';
import { Refs } from '../refs.js';
import { registryView } from '../schemas/catalog.js';
import { sealedContexts } from '../security/sealed-contexts.js';
import type { SecretBox } from '../security/secret-box.js';
import { insertRecord, patchRecord } from './records.js';

export interface RegistryInput {
  name: string;
  url: string;
  username?: string | null | undefined;
  /** Write-only; null removes it. */
  password?: string | null | undefined;
  /** Save even when the registry cannot be reached or refuses the credentials. */
  unchecked?: boolean | undefined;
}

/**
 * Container registries: their passwords encrypted at rest (a ciphertext opens only in its own row),
 * and every save checked against the registry itself.
 */
@injectable()
export class Registries {
  constructor(
    @inject(Refs.secretBox) private readonly box: SecretBox,
    @inject(TagService) private readonly tags: TagService,
  ) {}

  async create(db: Database, input: RegistryInput) {
    const id = randomUUID();
    const row = await insertRecord(ContainerRegistry, db, {
      id,
      name: input.name,
      url: input.url.replace(/\/+$/, ''),
      username: input.username ?? null,
      passwordEnc: input.password
        ? this.box.encrypt(input.password, sealedContexts.registryPassword(id))
        : null,
    });
    return this.checked(row, input.unchecked);
  }

  async update(db: Database, id: string, input: Partial<RegistryInput>) {
    const { password, url, unchecked, ...rest } = input;
    const patch: Partial<ContainerRegistry> = { ...rest, updatedAt: new Date() };
    if (url) patch.url = url.replace(/\/+$/, '');
    if (password !== undefined)
      patch.passwordEnc =
        password === null ? null : this.box.encrypt(password, sealedContexts.registryPassword(id));
    const row = await patchRecord(ContainerRegistry, db, id, 'registry', patch);
    // What decides access changed: checked again (a renamed registry needs no check).
    const recheck = url !== undefined || password !== undefined || rest.username !== undefined;
    return recheck ? this.checked(row, unchecked) : registryView(row);
  }

  /**
   * The saved registry, checked (reachable, credentials taken) in the save's own transaction: a
   * failure undoes the save with a 400 naming the field to fix, unless the admin insists.
   */
  private async checked(row: ContainerRegistry, unchecked: boolean | undefined) {
    try {
      await this.tags.checkRegistry(row);
      return registryView(row);
    } catch (err) {
      const message = (err as Error).message;
      if (unchecked) return { ...registryView(row), warning: message };
      const field = /password|refused/.test(message) ? 'password' : 'url';
      throw InputError.field(
        field,
        `${message} (save it anyway with "unchecked": true, e.g. when the registry is only reachable from the nodes)`,
      );
    }
  }
}
