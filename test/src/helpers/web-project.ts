import type { ApiClient } from './api-client.js';

/** A pipeline that runs the project's `web` service on port 80 with an HTTP health check. */
export const WEB_PIPELINE = {
  nodes: [
    {
      id: 'web',
      type: 'container.service',
      params: { service: 'web', port: 80, healthCheck: { kind: 'http', path: '/' } },
    },
  ],
  edges: [],
};

/**
 * A project of one service, `web` (`team/web:v1`, pinned, from the registry at `registryUrl`, which
 * it adds), with WEB_PIPELINE as its first pipeline version.
 */
export async function webProject(
  admin: ApiClient,
  registryUrl: string,
  project: { name: string; cpuMillicores: number; memoryMb: number },
): Promise<{ id: string }> {
  const reg = await admin.expect(201, 'POST', '/api/registries', { name: 'local', url: registryUrl });
  const web = await admin.expect(201, 'POST', '/api/services', {
    name: 'web',
    registryId: reg.id,
    image: 'team/web',
    tagMode: 'pinned',
    tag: 'v1',
  });
  const created = await admin.expect(201, 'POST', '/api/projects', { ...project, serviceIds: [web.id] });
  await admin.expect(201, 'POST', `/api/projects/${created.id}/pipeline/versions`, { graph: WEB_PIPELINE });
  return created;
}
