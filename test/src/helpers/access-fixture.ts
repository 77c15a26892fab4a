import { ApiClient } from './api-client.js';
import type { TestControlPlane } from './test-control-plane.js';

export const ROLES = ['anonymous', 'noTeam', 'reader', 'fuller', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface AccessFixture {
  clients: Record<Role, ApiClient>;
  /** A value for every path parameter the API uses. */
  params: Record<string, string>;
  ids: {
    environment: string;
    project: string;
    service: string;
    registry: string;
    node: string;
    secret: string;
    deployment: string;
    readTeam: string;
    fullTeam: string;
    victim: string;
    users: Record<Exclude<Role, 'anonymous' | 'admin'>, string>;
  };
}

const PASSWORD = 'correct-horse-battery-staple';

/**
 * One object of every kind, and users at every access level: `reader` is in a team with read
 * access to the project and the environment, `fuller` in one with full access, `noTeam` in none.
 * Non-anonymous clients authenticate with personal API tokens.
 */
export async function seedAccessFixture(t: TestControlPlane): Promise<AccessFixture> {
  const admin = t.admin;
  const user = async (username: string) =>
    (await admin.expect(201, 'POST', '/api/users', { username, password: PASSWORD, role: 'user' }))
      .id as string;
  const users = { noTeam: await user('noteam'), reader: await user('reader'), fuller: await user('fuller') };
  const victim = await user('victim');
  const readTeam = (await admin.expect(201, 'POST', '/api/teams', { name: 'Readers' })).id as string;
  const fullTeam = (await admin.expect(201, 'POST', '/api/teams', { name: 'Builders' })).id as string;
  await admin.expect(204, 'PUT', `/api/teams/${readTeam}/members/${users.reader}`);
  await admin.expect(204, 'PUT', `/api/teams/${fullTeam}/members/${users.fuller}`);
  const teams = [
    { teamId: readTeam, access: 'read' },
    { teamId: fullTeam, access: 'full' },
  ];
  const registry = (
    await admin.expect(201, 'POST', '/api/registries', {
      name: 'private',
      url: 'http://127.0.0.1:5001',
      unchecked: true,
      username: 'ci',
      password: 'registry-password-123',
    })
  ).id as string;
  const service = (
    await admin.expect(201, 'POST', '/api/services', {
      name: 'web',
      registryId: registry,
      image: 'team/web',
      tagMode: 'selectable',
      tagPattern: 'v*',
    })
  ).id as string;
  const environment = (
    await admin.expect(201, 'POST', '/api/environments', {
      name: 'qa',
      baseDomain: 'qa.example.test',
      runtime: 'docker',
      defaultTtlSeconds: 86400,
      teams,
    })
  ).id as string;
  const node = (
    await admin.expect(201, 'POST', '/api/nodes', {
      environmentId: environment,
      name: 'node-1',
      host: '127.0.0.1',
      port: 5000,
    })
  ).id as string;
  const project = (
    await admin.expect(201, 'POST', '/api/projects', {
      name: 'shop',
      cpuMillicores: 1000,
      memoryMb: 512,
      serviceIds: [service],
      teams,
    })
  ).id as string;
  await admin.expect(201, 'POST', `/api/projects/${project}/pipeline/versions`, {
    // Saved under the container service's former name: such pipelines must keep working.
    graph: { nodes: [{ id: 'web', type: 'docker.service', params: { service: 'web' } }], edges: [] },
  });
  const secret = (
    await admin.expect(201, 'POST', '/api/secrets', { name: 'DB_PASSWORD', value: 'hunter2-but-longer' })
  ).id as string;
  // A single sign-on provider nobody can reach (the matrix only asks who may call its routes).
  const ssoProvider = (
    await admin.expect(201, 'POST', '/api/sso/providers', {
      slug: 'corp',
      name: 'Corp',
      issuerUrl: 'https://sso.corp.invalid/realms/corp',
      clientId: 'nullops',
    })
  ).id as string;
  const ssoMapping = (
    await admin.expect(201, 'POST', `/api/sso/providers/${ssoProvider}/mappings`, {
      group: 'admins',
      role: 'admin',
    })
  ).id as string;
  // A deployment that already failed: its node is offline, so no agent is involved.
  const deployment = '7d3f1a2b-4c5d-4e6f-8a9b-0c1d2e3f4a5b';
  const version = await t.database.db('pipeline_versions').where('projectId', project).first('id');
  await t.database.db('deployments').insert({
    id: deployment,
    name: 'demo',
    projectId: project,
    environmentId: environment,
    nodeId: node,
    pipelineVersionId: version.id,
    state: 'failed',
    error: JSON.stringify({ step: 'web', message: 'health check failed' }),
    tags: JSON.stringify({ web: 'v1' }),
    cpuMillicores: 1000,
    memoryMb: 512,
  });

  const tokenFor = async (username: string) => {
    const session = await ApiClient.login(t.url, username, PASSWORD);
    const { token, id } = await session.expect(201, 'POST', '/api/auth/tokens', { name: 'tests' });
    return { client: ApiClient.withToken(t.url, token), tokenId: id as string };
  };
  const adminToken = (await admin.expect(201, 'POST', '/api/auth/tokens', { name: 'tests' })).token as string;
  const noTeam = await tokenFor('noteam');
  const reader = await tokenFor('reader');
  const fuller = await tokenFor('fuller');
  const victimToken = await tokenFor('victim');

  return {
    clients: {
      anonymous: ApiClient.anonymous(t.url),
      noTeam: noTeam.client,
      reader: reader.client,
      fuller: fuller.client,
      admin: ApiClient.withToken(t.url, adminToken),
    },
    params: {
      projectId: project,
      environmentId: environment,
      serviceId: service,
      registryId: registry,
      nodeId: node,
      secretId: secret,
      teamId: readTeam,
      userId: victim,
      tokenId: victimToken.tokenId,
      deploymentId: deployment,
      service: 'web',
      action: 'restart',
      backupId: '00000000-0000-4000-8000-000000000000',
      version: '1',
      extensionId: encodeURIComponent('nav-item:projects'),
      // A bundled plugin (installing one needs a registry); its name is one URL-encoded segment.
      name: encodeURIComponent('@nullops/plugin-postgres'),
      rest: 'no-such-plugin/route',
      slug: 'corp',
      providerId: ssoProvider,
      mappingId: ssoMapping,
    },
    ids: {
      environment,
      project,
      service,
      registry,
      node,
      secret,
      deployment,
      readTeam,
      fullTeam,
      victim,
      users,
    },
  };
}
