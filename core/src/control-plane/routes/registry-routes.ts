import { randomUUID } from 'node:crypto';
import { Access, type AnyRoute } from '@nullops/agent-host/kernel';
import type { DependencyContainer } from 'tsyringe';
import { z } from 'zod';
import { route } from '../http/route-context.js';
import { ContainerRegistry } from '../models/catalog.js';
import { Refs } from '../refs.js';
import { RegistryView, registryUrl, registryView } from '../schemas/catalog.js';
import { displayText, idParam } from '../schemas/common.js';
import { sealedContexts } from '../security/sealed-contexts.js';
import { findOr404 } from './find.js';

/** Where a registry's password is bound: a ciphertext only opens in its own row. */
/** Container registries (Docker Hub by default; private ones with encrypted credentials). */
export function registryRoutes(container: DependencyContainer): AnyRoute[] {
  const box = container.resolve(Refs.secretBox);
  const params = idParam('registryId');
  const fields = {
    name: displayText(100).min(1, 'must not be empty'),
    url: registryUrl,
    username: displayText(200).min(1).nullable(),
    password: z.string().min(1).max(4096).nullable().describe('write-only'),
  };
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
        .object({ ...fields, username: fields.username.optional(), password: fields.password.optional() })
        .strict(),
      responses: { 201: RegistryView, 409: null },
      handler: async ({ body, db }) => {
        const id = randomUUID();
        const row = await ContainerRegistry.query(db).insertAndFetch({
          id,
          name: body.name,
          url: body.url.replace(/\/+$/, ''),
          username: body.username ?? null,
          passwordEnc: body.password ? box.encrypt(body.password, sealedContexts.registryPassword(id)) : null,
        });
        return { status: 201, body: registryView(row) };
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
      responses: { 200: RegistryView },
      handler: async ({ params, body, db }) => {
        await findOr404(ContainerRegistry, db, params.registryId, 'registry');
        const { password, url, ...rest } = body;
        const patch: Partial<ContainerRegistry> = { ...rest, updatedAt: new Date() };
        if (url) patch.url = url.replace(/\/+$/, '');
        if (password !== undefined) {
          patch.passwordEnc =
            password === null
              ? null
              : box.encrypt(password, sealedContexts.registryPassword(params.registryId));
        }
        const row = await ContainerRegistry.query(db).patchAndFetchById(params.registryId, patch);
        return { status: 200, body: registryView(row) };
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
