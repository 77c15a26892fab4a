import { randomUUID } from 'node:crypto';
import type { DependencyContainer } from '@nullops/kernel';
import { InputError } from '@nullops/plugin-sdk';
import { z } from 'zod';
import { TagService } from '../deployments/tag-service.js';
import { Access, type AnyRoute } from '../http/route.js';
import { route } from '../http/route-context.js';
import { ContainerRegistry } from '../models/catalog.js';
import { Refs } from '../refs.js';
import { imageName, RegistryView, registryUrl, registryView, tagPattern } from '../schemas/catalog.js';
import { displayText, idParam } from '../schemas/common.js';
import { sealedContexts } from '../security/sealed-contexts.js';
import { findOr404 } from './find.js';

/** Where a registry's password is bound: a ciphertext only opens in its own row. */
/** Container registries (Docker Hub by default; private ones with encrypted credentials). */
export function registryRoutes(container: DependencyContainer): AnyRoute[] {
  const box = container.resolve(Refs.secretBox);
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

  /**
   * The saved registry, checked (reachable, credentials taken) in the save's own transaction: a
   * failure undoes the save with a 400 naming the field to fix, unless the admin insists.
   */
  async function checked(row: ContainerRegistry, unchecked: boolean | undefined) {
    try {
      await tags.checkRegistry(row);
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
        body: { items: (await ContainerRegistry.query(db).orderBy('name')).map(registryView) },
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
        const id = randomUUID();
        const row = await ContainerRegistry.query(db).insertAndFetch({
          id,
          name: body.name,
          url: body.url.replace(/\/+$/, ''),
          username: body.username ?? null,
          passwordEnc: body.password ? box.encrypt(body.password, sealedContexts.registryPassword(id)) : null,
        });
        return { status: 201, body: await checked(row, body.unchecked) };
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
        await findOr404(ContainerRegistry, db, params.registryId, 'registry');
        const { password, url, unchecked, ...rest } = body;
        const patch: Partial<ContainerRegistry> = { ...rest, updatedAt: new Date() };
        if (url) patch.url = url.replace(/\/+$/, '');
        if (password !== undefined) {
          patch.passwordEnc =
            password === null
              ? null
              : box.encrypt(password, sealedContexts.registryPassword(params.registryId));
        }
        const row = await ContainerRegistry.query(db).patchAndFetchById(params.registryId, patch);
        // What decides access changed: checked again (a renamed registry needs no check).
        const recheck = url !== undefined || password !== undefined || rest.username !== undefined;
        return { status: 200, body: recheck ? await checked(row, unchecked) : registryView(row) };
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
        await findOr404(ContainerRegistry, db, params.registryId, 'registry');
        await ContainerRegistry.query(db).deleteById(params.registryId);
        return { status: 204 };
      },
    }),
  ];
}
