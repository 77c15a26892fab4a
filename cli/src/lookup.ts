import type { Deployment } from '@nullops/core/api-types';
import { Api } from './api.js';
import { loadCredentials, UsageError } from './config.js';

/** The API client of the stored (or NULLOPS_URL / NULLOPS_TOKEN) credentials. */
export async function api(): Promise<Api> {
  const { url, token } = await loadCredentials();
  return new Api(url, { token });
}

export async function byName(client: Api, kind: 'projects' | 'environments', name: string) {
  const { items } = await client.get<{ items: { id: string; name: string }[] }>(`/api/${kind}`);
  const found = items.find((x) => x.name === name || x.id === name);
  if (!found)
    throw new UsageError(
      `no ${kind === 'projects' ? 'project' : 'environment'} "${name}" you can see (there are: ${items.map((x) => x.name).join(', ') || 'none'})`,
    );
  return found;
}

/** A deployment by id, or by name (with --env when the name is used in several environments). */
export async function deploymentOf(client: Api, ref: string, env?: string): Promise<Deployment> {
  if (/^[0-9a-f-]{36}$/.test(ref)) return client.get<Deployment>(`/api/deployments/${ref}`);
  const query = new URLSearchParams({ name: ref });
  if (env) query.set('environmentId', (await byName(client, 'environments', env)).id);
  const { items } = await client.get<{ items: Deployment[] }>(`/api/deployments?${query}`);
  if (!items.length) throw new UsageError(`no deployment "${ref}"${env ? ` in ${env}` : ''} you can see`);
  if (items.length > 1)
    throw new UsageError(
      `"${ref}" names deployments in ${items.map((d) => d.environmentName).join(', ')}: add --env`,
    );
  return items[0] as Deployment;
}
