import type { DependencyContainer } from '@nullops/kernel';
import { z } from 'zod';
import { Access, type AnyRoute } from '../http/route.js';
import { caller, route } from '../http/route-context.js';
import { Secret } from '../models/catalog.js';
import { displayText, idParam, iso, timestamp, uuid } from '../schemas/common.js';
import { deleteRecord, findOr404, listByName } from '../services/records.js';
import { SecretService } from '../services/secret-service.js';

const SecretView = z.object({
  id: uuid,
  name: z.string().describe('referenced from pipeline params as ${secret:NAME}'),
  description: z.string().nullable(),
  createdAt: timestamp,
  updatedAt: timestamp,
});

function secretView(s: Secret): z.infer<typeof SecretView> {
  return {
    id: s.id,
    name: s.name,
    description: s.description,
    createdAt: iso(s.createdAt) as string,
    updatedAt: iso(s.updatedAt) as string,
  };
}

/** Pipeline secrets: AES-256-GCM at rest, values write-only through the API. */
export function secretRoutes(container: DependencyContainer): AnyRoute[] {
  const secrets = container.resolve(SecretService);
  const params = idParam('secretId');
  const value = z.string().min(1, 'must not be empty').max(65536, 'must be at most 64 KiB');
  const name = z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be letters, digits and _, not starting with a digit');
  return [
    route({
      method: 'get',
      path: '/api/secrets',
      operationId: 'secrets.list',
      summary: 'List secrets (names only; values are never returned)',
      tags: ['secrets'],
      access: Access.admin,
      responses: { 200: z.object({ items: z.array(SecretView) }) },
      handler: async ({ db }) => ({
        status: 200,
        body: { items: (await listByName(Secret, db)).map(secretView) },
      }),
    }),
    route({
      method: 'post',
      path: '/api/secrets',
      operationId: 'secrets.create',
      summary: 'Create a secret',
      tags: ['secrets'],
      access: Access.admin,
      body: z.object({ name, value, description: displayText(500).optional() }).strict(),
      responses: { 201: SecretView, 409: null },
      handler: async ({ body, db, principal }) => {
        const row = await secrets.create(db, body, caller(principal).userId);
        return { status: 201, body: secretView(row) };
      },
    }),
    route({
      method: 'get',
      path: '/api/secrets/:secretId',
      operationId: 'secrets.get',
      summary: 'Get a secret (without its value)',
      tags: ['secrets'],
      access: Access.admin,
      params,
      responses: { 200: SecretView },
      handler: async ({ params, db }) => ({
        status: 200,
        body: secretView(await findOr404(Secret, db, params.secretId, 'secret')),
      }),
    }),
    route({
      method: 'patch',
      path: '/api/secrets/:secretId',
      operationId: 'secrets.update',
      summary: "Replace a secret's value or description",
      tags: ['secrets'],
      access: Access.admin,
      params,
      body: z
        .object({ value, description: displayText(500).nullable() })
        .partial()
        .strict(),
      responses: { 200: SecretView },
      handler: async ({ params, body, db }) => {
        return { status: 200, body: secretView(await secrets.update(db, params.secretId, body)) };
      },
    }),
    route({
      method: 'delete',
      path: '/api/secrets/:secretId',
      operationId: 'secrets.delete',
      summary: 'Delete a secret',
      tags: ['secrets'],
      access: Access.admin,
      params,
      responses: { 204: null },
      handler: async ({ params, db }) => {
        await deleteRecord(Secret, db, params.secretId, 'secret');
        return { status: 204 };
      },
    }),
  ];
}
