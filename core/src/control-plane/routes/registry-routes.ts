import type { DependencyContainer } from '@nullops/kernel';
import { z } from 'zod';
import { TagService } from '../deployments/tag-service.js';
import { Access, type AnyRoute } from '../http/route.js';
import { route } from '../http/route-context.js';
import { ContainerRegistry } from '../models/catalog.js';
import { imageName, RegistryView, registryUrl, registryView, tagPattern } from '../schemas/catalog.js';
import { displayText, idParam } from '../schemas/common.js';
import { deleteRecord, findOr404, listByName } from '../services/records.js';
import { Registries } from '../services/registries.js';

/** Container registries (Docker Hub by default; private ones with encrypted credentials). */
export function registryRoutes(container: DependencyContainer): AnyRoute[] {
  const registries = container.resolve(Registries);
  const tags = container.resolve(TagService);
  const params = idParam('registryId');
  const fields = {
    name: displayText(100).min(1, 'must not be empty'),
    url: registryUrl,
    username: displayText(200).min(1).nullable(),
    password: z.string().min(1).max(4096).nullable().describe('write-only'),
    unchecked: z
      .boolean()
      .describe(
        'save even when the registry cannot be reached or refuses the credentials: its answer comes back as `warning`',
      ),
  };
  const Saved = RegistryView.extend({
    warning: z.string().optional().describe('what the registry answered, when saved unchecked'),
  });

  return [
    route({
      method: 'get',
      path: '/api/registries',
      operationId: 'registries.list',
      summary: 'List container registries',
      tags: ['registries'],
      access: Access.admin,
      responses: { 200: z.object({ items: z.array(RegistryView) }) },
      handler: async ({ db }) => ({
        status: 200,
        body: { items: (await listByName(ContainerRegistry, db)).map(registryView) },
      }),
    }),
    route({
      method: 'post',
      path: '/api/registries',
      operationId: 'registries.create',
      summary: 'Add a container registry',
      tags: ['registries'],
      access: Access.admin,
      body: z
        .object({
          ...fields,
          username: fields.username.optional(),
          password: fields.password.optional(),
          unchecked: fields.unchecked.optional(),
        })
        .strict(),
      responses: { 201: Saved, 409: null },
      handler: async ({ body, db }) => {
        return { status: 201, body: await registries.create(db, body) };
      },
    }),
    route({
      method: 'get',
      path: '/api/registries/:registryId',
      operationId: 'registries.get',
      summary: 'Get a container registry',
      tags: ['registries'],
      access: Access.admin,
      params,
      responses: { 200: RegistryView },
      handler: async ({ params, db }) => ({
        status: 200,
        body: registryView(await findOr404(ContainerRegistry, db, params.registryId, 'registry')),
      }),
    }),
    route({
      method: 'patch',
      path: '/api/registries/:registryId',
      operationId: 'registries.update',
      summary: 'Change a container registry; a null password removes it',
      tags: ['registries'],
      access: Access.admin,
      params,
      body: z.object(fields).partial().strict(),
      responses: { 200: Saved },
      handler: async ({ params, body, db }) => {
        return { status: 200, body: await registries.update(db, params.registryId, body) };
      },
    }),
    route({
      method: 'get',
      path: '/api/registries/:registryId/tags',
      operationId: 'registries.tags',
      summary:
        "An image's tags in the registry that a pattern selects, newest first (the service form's preview)",
      tags: ['registries'],
      access: Access.admin,
      params,
      query: z.object({ image: imageName, pattern: tagPattern.optional() }),
      responses: {
        200: z.object({
          total: z.number().describe('tags of the image'),
          matching: z.number().describe('of those, the ones the pattern selects'),
          tags: z.array(z.string()).describe('the first 20 selected, newest first'),
        }),
      },
      handler: async ({ params, query, db }) => {
        const registry = await findOr404(ContainerRegistry, db, params.registryId, 'registry');
        return { status: 200, body: await tags.previewTags(registry, query.image, query.pattern ?? null) };
      },
    }),
    route({
      method: 'delete',
      path: '/api/registries/:registryId',
      operationId: 'registries.delete',
      summary: 'Remove a container registry no service uses',
      tags: ['registries'],
      access: Access.admin,
      params,
      responses: { 204: null, 409: null },
      handler: async ({ params, db }) => {
        await deleteRecord(ContainerRegistry, db, params.registryId, 'registry');
        return { status: 204 };
      },
    }),
  ];
}
