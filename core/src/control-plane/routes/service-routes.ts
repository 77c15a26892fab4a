import { randomUUID } from 'node:crypto';
import type { DependencyContainer } from '@nullops/kernel';
import { InputError } from '@nullops/plugin-sdk';
import { z } from 'zod';
import { Access, type AnyRoute } from '../http/route.js';
import { route } from '../http/route-context.js';
import { Service, type TagMode } from '../models/catalog.js';
import { ServiceView, serviceFields, serviceView } from '../schemas/catalog.js';
import { idParam } from '../schemas/common.js';
import { assertServiceNamesUnique } from '../services/project-service-names.js';
import { findOr404 } from './find.js';

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

/** Service definitions: registry + image + how its tag is chosen. */
export function serviceRoutes(_container: DependencyContainer): AnyRoute[] {
  const params = idParam('serviceId');
  const createBody = z
    .object({
      ...serviceFields,
      description: serviceFields.description.optional(),
      tag: serviceFields.tag.optional(),
      tagPattern: serviceFields.tagPattern.optional(),
    })
    .strict();
  return [
    route({
      method: 'get',
      path: '/api/services',
      operationId: 'services.list',
      summary: 'List services',
      tags: ['services'],
      access: Access.admin,
      responses: { 200: z.object({ items: z.array(ServiceView) }) },
      handler: async ({ db }) => ({
        status: 200,
        body: { items: (await Service.query(db).orderBy('name')).map(serviceView) },
      }),
    }),
    route({
      method: 'post',
      path: '/api/services',
      operationId: 'services.create',
      summary: 'Define a service',
      tags: ['services'],
      access: Access.admin,
      body: createBody,
      responses: { 201: ServiceView, 409: null },
      handler: async ({ body, db }) => {
        const tags = checkTagMode({
          tagMode: body.tagMode,
          tag: body.tag ?? null,
          tagPattern: body.tagPattern ?? null,
        });
        const row = await Service.query(db).insertAndFetch({
          id: randomUUID(),
          name: body.name,
          description: body.description ?? null,
          registryId: body.registryId,
          image: body.image,
          ...tags,
        });
        return { status: 201, body: serviceView(row) };
      },
    }),
    route({
      method: 'get',
      path: '/api/services/:serviceId',
      operationId: 'services.get',
      summary: 'Get a service',
      tags: ['services'],
      access: Access.admin,
      params,
      responses: { 200: ServiceView },
      handler: async ({ params, db }) => ({
        status: 200,
        body: serviceView(await findOr404(Service, db, params.serviceId, 'service')),
      }),
    }),
    route({
      method: 'patch',
      path: '/api/services/:serviceId',
      operationId: 'services.update',
      summary: 'Change a service',
      tags: ['services'],
      access: Access.admin,
      params,
      body: z.object(serviceFields).partial().strict(),
      responses: { 200: ServiceView },
      handler: async ({ params, body, db }) => {
        const current = await findOr404(Service, db, params.serviceId, 'service');
        // What the body leaves out is kept, unless it belongs to the mode the service leaves.
        const mode = body.tagMode ?? current.tagMode;
        const tags = checkTagMode({
          tagMode: mode,
          tag: body.tag !== undefined ? body.tag : mode === 'pinned' ? current.tag : null,
          tagPattern:
            body.tagPattern !== undefined
              ? body.tagPattern
              : mode === 'selectable'
                ? current.tagPattern
                : null,
        });
        const row = await Service.query(db).patchAndFetchById(params.serviceId, {
          ...body,
          ...tags,
          updatedAt: new Date(),
        });
        if (body.name) await assertServiceNamesUnique(db, { serviceId: row.id });
        return { status: 200, body: serviceView(row) };
      },
    }),
    route({
      method: 'delete',
      path: '/api/services/:serviceId',
      operationId: 'services.delete',
      summary: 'Delete a service no project uses',
      tags: ['services'],
      access: Access.admin,
      params,
      responses: { 204: null, 409: null },
      handler: async ({ params, db }) => {
        await findOr404(Service, db, params.serviceId, 'service');
        await Service.query(db).deleteById(params.serviceId);
        return { status: 204 };
      },
    }),
  ];
}
