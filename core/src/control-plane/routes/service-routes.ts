import type { DependencyContainer } from '@nullops/kernel';
import { z } from 'zod';
import { Access, type AnyRoute } from '../http/route.js';
import { route } from '../http/route-context.js';
import { Service } from '../models/catalog.js';
import { ServiceView, serviceFields, serviceView } from '../schemas/catalog.js';
import { idParam } from '../schemas/common.js';
import { deleteRecord, findOr404, listByName } from '../services/records.js';
import { createServiceDefinition, updateServiceDefinition } from '../services/service-definitions.js';

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
        body: { items: (await listByName(Service, db)).map(serviceView) },
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
        const row = await createServiceDefinition(db, body);
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
        const row = await updateServiceDefinition(db, params.serviceId, body);
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
        await deleteRecord(Service, db, params.serviceId, 'service');
        return { status: 204 };
      },
    }),
  ];
}
