import { randomUUID } from 'node:crypto';
import { InputError } from '@nullops/plugin-sdk';
import type { Database } from '../database/database.js';
import { Service, type TagMode } from '../models/catalog.js';
import { assertServiceNamesUnique } from './project-service-names.js';
import { findOr404, insertRecord } from './records.js';

/** Service definitions: registry + image + how its tag is chosen. */

/**
 * A pinned service needs its tag, a selectable one its pattern; the other must stay empty — both
 * given is refused, not silently half-taken (a pinned service whose pattern quietly vanished).
 */
function checkTagMode(s: { tagMode: TagMode; tag: string | null; tagPattern: string | null }) {
  if (s.tagMode === 'pinned' && s.tagPattern)
    throw InputError.field(
      'body.tagPattern',
      'must be empty for a pinned service: give either a pinned tag or a pattern of selectable tags, not both',
    );
  if (s.tagMode === 'selectable' && s.tag)
    throw InputError.field(
      'body.tag',
      'must be empty for a service with selectable tags: give either a pinned tag or a pattern, not both',
    );
  if (s.tagMode === 'pinned' && !s.tag)
    throw InputError.field('body.tag', 'is required when tagMode is pinned');
  if (s.tagMode === 'selectable' && !s.tagPattern) {
    throw InputError.field('body.tagPattern', 'is required when tagMode is selectable (use * for every tag)');
  }
  return {
    tagMode: s.tagMode,
    tag: s.tagMode === 'pinned' ? s.tag : null,
    tagPattern: s.tagMode === 'selectable' ? s.tagPattern : null,
  };
}

export interface ServiceDefinitionInput {
  name: string;
  description?: string | null | undefined;
  registryId: string;
  image: string;
  tagMode: TagMode;
  tag?: string | null | undefined;
  tagPattern?: string | null | undefined;
}

export function createServiceDefinition(db: Database, input: ServiceDefinitionInput): Promise<Service> {
  const tags = checkTagMode({
    tagMode: input.tagMode,
    tag: input.tag ?? null,
    tagPattern: input.tagPattern ?? null,
  });
  return insertRecord(Service, db, {
    id: randomUUID(),
    name: input.name,
    description: input.description ?? null,
    registryId: input.registryId,
    image: input.image,
    ...tags,
  });
}

/** Changes a service; what the input leaves out is kept, unless it belongs to the mode the service leaves. */
export async function updateServiceDefinition(
  db: Database,
  id: string,
  input: Partial<ServiceDefinitionInput>,
): Promise<Service> {
  const current = await findOr404(Service, db, id, 'service');
  const mode = input.tagMode ?? current.tagMode;
  const tags = checkTagMode({
    tagMode: mode,
    tag: input.tag !== undefined ? input.tag : mode === 'pinned' ? current.tag : null,
    tagPattern:
      input.tagPattern !== undefined ? input.tagPattern : mode === 'selectable' ? current.tagPattern : null,
  });
  const row = await Service.query(db).patchAndFetchById(id, { ...input, ...tags, updatedAt: new Date() });
  if (input.name) await assertServiceNamesUnique(db, { serviceId: row.id });
  return row;
}
