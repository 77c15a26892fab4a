import { RUNTIME_KINDS, runtimeLabel } from '@nullops/plugin-sdk/runtime';
import { html, nothing } from 'lit';
import type { Api } from '../api.js';
import './admin-resource.js';
import type { AdminResourcePage, Field, Resource } from './admin-resource.js';
import './password-login.js';
import './sso-mappings.js';
import './team-members.js';

// biome-ignore lint/suspicious/noExplicitAny: rows of many API resources, rendered generically by column functions
export type Row = Record<string, any>;
const list = (path: string, label: (r: Row) => string) => async (api: Api) =>
  (await api.get<{ items: Row[] }>(path)).items.map((r) => ({ value: String(r.id), label: label(r) }));
const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString() : '—');

/** Team access as two lists of teams (what `withTeams` turns into assignments). */
const teamFields: Field[] = [
  { key: 'full', label: 'Teams with full access', kind: 'multi', options: list('/api/teams', (r) => r.name) },
  { key: 'read', label: 'Teams with read access', kind: 'multi', options: list('/api/teams', (r) => r.name) },
];

/**
 * An environment's CPU or memory: allocated of what its nodes allow (capacity × overcommit), and
 * measured in use — the two placement weighs.
 */
function capacityCell(r: Row, kind: 'cpu' | 'memory') {
  const c = r.capacity;
  if (!c) return '—';
  const [unit, capacity, allocated, used, ratio] =
    kind === 'cpu'
      ? ['m', c.cpuMillicores, c.allocatedCpuMillicores, c.usedCpuMillicores, r.cpuOvercommit]
      : [' MiB', c.memoryMb, c.allocatedMemoryMb, c.usedMemoryMb, r.memoryOvercommit];
  return html`<span data-capacity=${kind}>${allocated}${unit} allocated of ${Math.round(capacity * ratio)}${unit}${ratio > 1 ? html` <span class="muted">(${capacity}${unit} × ${ratio})</span>` : nothing} · ${used}${unit} used</span>`;
}

/** The admin pages, each a resource description rendered by <nullops-admin-resource>. */
export const RESOURCES: Resource[] = [
  {
    key: 'registries',
    title: 'Registries',
    path: '/api/registries',
    deletable: true,
    fields: [
      { key: 'name', label: 'Name', kind: 'text', required: true },
      { key: 'url', label: 'URL', kind: 'url', required: true, placeholder: 'https://registry.example.com' },
      { key: 'username', label: 'User (optional)', kind: 'text' },
      { key: 'password', label: 'Password (write-only)', kind: 'password' },
      // Saving checks the registry answers and takes the credentials; an admin may insist.
      {
        key: 'unchecked',
        label: 'Save even if the registry refuses or cannot be reached now',
        kind: 'checkbox',
      },
    ],
    body: ({ unchecked, ...v }) => ({ ...v, ...(unchecked ? { unchecked: true } : {}) }),
    warn: async (saved) => (saved.warning ? `Saved without a working check: ${saved.warning}` : undefined),
    columns: [
      { label: 'Name', value: (r) => r.name },
      { label: 'URL', value: (r) => r.url },
      { label: 'Credentials', value: (r) => (r.hasPassword ? `${r.username} / ••••` : 'none') },
    ],
  },
  {
    key: 'services',
    title: 'Services',
    path: '/api/services',
    deletable: true,
    fields: [
      { key: 'name', label: 'Name (DNS label)', kind: 'text', required: true },
      {
        key: 'registryId',
        label: 'Registry',
        kind: 'select',
        required: true,
        options: list('/api/registries', (r) => r.name),
      },
      { key: 'image', label: 'Image', kind: 'text', required: true, placeholder: 'team/web' },
      { key: 'tag', label: 'Pinned tag (or leave empty)', kind: 'text' },
      { key: 'tagPattern', label: 'Selectable tags (glob)', kind: 'text', placeholder: 'v*' },
    ],
    body: (v) => ({
      ...v,
      tagMode: v.tag ? 'pinned' : 'selectable',
      ...(v.tag ? {} : { tagPattern: v.tagPattern ?? '*' }),
    }),
    // Which of the image's tags the pattern selects, asked of the registry as the admin types.
    preview: async (v, api) => {
      if (!v.registryId || !v.image || v.tag) return undefined;
      const query = new URLSearchParams({
        image: v.image,
        ...(v.tagPattern ? { pattern: v.tagPattern } : {}),
      });
      const found = await api.get<{ total: number; matching: number; tags: string[] }>(
        `/api/registries/${v.registryId}/tags?${query}`,
      );
      return found.matching
        ? `${v.tagPattern || '*'} selects ${found.matching} of ${found.total} tags: ${found.tags.join(', ')}${found.matching > found.tags.length ? ', …' : ''}`
        : `${v.tagPattern || '*'} selects none of the ${found.total} tags of ${v.image}`;
    },
    columns: [
      { label: 'Name', value: (r) => r.name },
      { label: 'Image', value: (r) => r.image },
      {
        label: 'Tags',
        value: (r) => (r.tagMode === 'pinned' ? `pinned ${r.tag}` : `selectable ${r.tagPattern}`),
      },
    ],
  },
  {
    key: 'projects',
    title: 'Projects',
    path: '/api/projects',
    deletable: true,
    fields: [
      { key: 'name', label: 'Name', kind: 'text', required: true },
      { key: 'cpuMillicores', label: 'CPU budget (millicores)', kind: 'number', required: true },
      { key: 'memoryMb', label: 'Memory budget (MiB)', kind: 'number', required: true },
      {
        key: 'ttlSeconds',
        label: 'Auto-cleanup after (seconds; empty: the environment decides)',
        kind: 'number',
        clearable: true,
      },
      { key: 'serviceIds', label: 'Services', kind: 'multi', options: list('/api/services', (r) => r.name) },
      ...teamFields,
      { key: 'backupLimit', label: 'Backups kept (at most)', kind: 'number', placeholder: '10' },
      { key: 'backupRetentionDays', label: 'Backups kept for (days)', kind: 'number', placeholder: '30' },
      {
        key: 'securityProfile',
        label: 'Container security profile',
        kind: 'select',
        options: async () => [
          { value: 'baseline', label: 'baseline: images that start as root work' },
          { value: 'restricted', label: 'restricted: non-root, read-only root filesystem, no capabilities' },
        ],
      },
      {
        key: 'egressAllow',
        label: 'Private networks reachable on Kubernetes (CIDRs, comma-separated)',
        kind: 'text',
        placeholder: '10.20.0.0/16',
      },
      ...quotaFields('its'),
    ],
    body: ({ egressAllow, ...v }) => ({
      ...withTeams(v),
      ...(egressAllow === undefined
        ? {}
        : {
            egressAllow: String(egressAllow)
              .split(',')
              .map((cidr) => cidr.trim())
              .filter(Boolean),
          }),
    }),
    // A budget no node can ever hold is saved (nodes may come), but said at once.
    warn: async (p, api) => {
      const nodes = (await api.get<{ items: Row[] }>('/api/nodes')).items.filter((n) => n.capacity);
      if (!nodes.length) return undefined;
      const cpu = Math.max(...nodes.map((n) => n.capacity.cpuMillicores ?? 0));
      const memory = Math.max(...nodes.map((n) => n.capacity.memoryMb ?? 0));
      if (p.cpuMillicores <= cpu && p.memoryMb <= memory) return undefined;
      return `Warning: no node can hold ${p.cpuMillicores}m CPU and ${p.memoryMb} MiB (the largest offers ${cpu}m CPU and ${memory} MiB): its deployments will be refused until one can.`;
    },
    edit: async (r, api) => {
      const detail = await api.get<Row>(`/api/projects/${r.id}`);
      return {
        serviceIds: detail.services.map((x: Row) => x.id),
        egressAllow: (detail.egressAllow ?? []).join(', '),
        ...teamsByLevel(detail.teams),
        ...quotaValues(detail),
      };
    },
    columns: [
      { label: 'Name', value: (r) => r.name },
      { label: 'Budget', value: (r) => `${r.cpuMillicores}m CPU, ${r.memoryMb} MiB` },
      {
        label: 'TTL',
        value: (r) => (r.ttlSeconds ? `${Math.round(r.ttlSeconds / 3600)} h` : 'environment’s'),
      },
      { label: 'Quota', value: quotaText },
      { label: 'Pipeline', value: (r) => html`<a href="/projects/${r.id}/pipeline">edit</a>` },
    ],
  },
  {
    key: 'environments',
    title: 'Environments',
    path: '/api/environments',
    deletable: true,
    fields: [
      { key: 'name', label: 'Name (DNS label)', kind: 'text', required: true },
      {
        key: 'baseDomain',
        label: 'Base domain',
        kind: 'text',
        required: true,
        placeholder: 'qa.example.com',
      },
      {
        key: 'runtime',
        // The first-party kinds are offered; an agent package may bring another (its kind typed here).
        label: 'Runtime',
        kind: 'suggest',
        required: true,
        initial: 'docker',
        options: async () => RUNTIME_KINDS.map((kind) => ({ value: kind, label: runtimeLabel(kind) })),
      },
      {
        key: 'defaultTtlSeconds',
        label: 'Auto-cleanup after (seconds)',
        kind: 'number',
        required: true,
        placeholder: '86400',
      },
      { key: 'cpuOvercommit', label: 'CPU overcommit (× node capacity)', kind: 'number', placeholder: '1.0' },
      {
        key: 'memoryOvercommit',
        label: 'Memory overcommit (× node capacity)',
        kind: 'number',
        placeholder: '1.0',
      },
      ...teamFields,
    ],
    body: withTeams,
    edit: async (r, api) => teamsByLevel((await api.get<Row>(`/api/environments/${r.id}`)).teams),
    columns: [
      { label: 'Name', value: (r) => r.name },
      { label: 'Domain', value: (r) => r.baseDomain },
      { label: 'Runtime', value: (r) => r.runtime },
      { label: 'TTL', value: (r) => `${Math.round(r.defaultTtlSeconds / 3600)} h` },
      { label: 'CPU', value: (r) => capacityCell(r, 'cpu') },
      { label: 'Memory', value: (r) => capacityCell(r, 'memory') },
    ],
  },
  {
    key: 'nodes',
    title: 'Nodes',
    path: '/api/nodes',
    deletable: true,
    fields: [
      { key: 'name', label: 'Name', kind: 'text', required: true },
      {
        key: 'environmentId',
        label: 'Environment',
        kind: 'select',
        required: true,
        options: list('/api/environments', (r) => r.name),
      },
      { key: 'host', label: 'Agent host', kind: 'text', required: true },
      { key: 'port', label: 'Agent port', kind: 'number', required: true, placeholder: '5001' },
    ],
    afterCreate: async (n, page) => {
      const env = await page.api.get<Row>(`/api/environments/${n.environmentId}`);
      return html`<strong>Node ${n.name} created.</strong> Its token is shown only now: start the agent on
        ${n.host} with it.
        <pre class="command" aria-label="install command">${installCommand(n, env)}</pre>
        DNS: point <code>*.${env.name}.${env.baseDomain}</code> at the ingress.`;
    },
    columns: [
      { label: 'Name', value: (r) => r.name },
      { label: 'Address', value: (r) => `${r.host}:${r.port}` },
      {
        label: 'Status',
        value: (r) =>
          html`<span class="state ${r.status === 'online' ? 'running' : 'failed'}">${r.status}</span>${r.enabled ? '' : html` <span class="state">disabled: no new deployments</span>`} ${r.statusMessage ?? ''}`,
      },
      {
        label: 'Usage',
        value: (r) =>
          r.usage?.host
            ? `CPU ${Math.round(r.usage.host.cpuPercent)}%, RAM ${r.usage.host.memoryUsedMb}/${r.usage.host.memoryTotalMb} MiB`
            : '—',
      },
      { label: 'Agent', value: (r) => r.agentVersion ?? '—' },
      { label: 'Last heartbeat', value: (r) => when(r.lastHeartbeatAt) },
    ],
    rowActions: (r, page: AdminResourcePage) => html`
      <button @click=${() =>
        page.act(async () => {
          const { token } = await page.api.post<{ token: string }>(`/api/nodes/${r.id}/token`);
          const env = await page.api.get<Row>(`/api/environments/${r.environmentId}`);
          // The old token stops working: the agent is started again with this one.
          return html`<strong>New token for ${r.name}</strong> (shown only now). Start its agent again with it:
            <pre class="command" aria-label="install command">${installCommand({ ...r, token }, env)}</pre>`;
        })}>Rotate token</button>
      ${r.hasToken ? html`<button @click=${() => page.act(() => page.api.delete(`/api/nodes/${r.id}/token`))}>Revoke token</button>` : nothing}
      ${r.pendingThumbprint ? html`<button title=${r.pendingThumbprint} @click=${() => page.act(() => page.api.post(`/api/nodes/${r.id}/thumbprint/approve`, { thumbprint: r.pendingThumbprint }))}>Approve new certificate</button>` : nothing}
      <button @click=${() => page.act(() => page.api.request('PATCH', `/api/nodes/${r.id}`, { enabled: !r.enabled }))}>${r.enabled ? 'Disable' : 'Enable'}</button>`,
  },
  {
    key: 'teams',
    title: 'Teams',
    path: '/api/teams',
    deletable: true,
    fields: [{ key: 'name', label: 'Name', kind: 'text', required: true }],
    columns: [
      { label: 'Name', value: (r) => r.name },
      { label: 'Description', value: (r) => r.description ?? '' },
    ],
    rowDetail: (r, page: AdminResourcePage) =>
      html`<nullops-team-members .teamId=${r.id} .teamName=${r.name} .api=${page.api}></nullops-team-members>`,
  },
  {
    key: 'users',
    title: 'Users',
    path: '/api/users',
    deletable: true,
    fields: [
      { key: 'username', label: 'User name', kind: 'text', required: true, createOnly: true },
      { key: 'password', label: 'Password', kind: 'password', required: true },
      {
        key: 'role',
        label: 'Role',
        kind: 'select',
        options: async () => [
          { value: 'user', label: 'user' },
          { value: 'admin', label: 'admin' },
        ],
      },
      ...quotaFields('their'),
      { key: 'breakGlass', label: 'Break-glass (password sign-in when it is limited)', kind: 'checkbox' },
    ],
    edit: async (r) => ({ ...quotaValues(r), breakGlass: r.breakGlass }),
    columns: [
      { label: 'User', value: (r) => r.username },
      { label: 'Role', value: (r) => r.role },
      {
        label: 'Signs in',
        value: (r) =>
          r.ssoProviderId ? 'single sign-on' : r.breakGlass ? 'password (break-glass)' : 'password',
      },
      { label: 'State', value: (r) => (r.disabled ? 'disabled' : 'active') },
      { label: 'Quota', value: quotaText },
    ],
  },
  {
    key: 'sso',
    title: 'Single sign-on',
    path: '/api/sso/providers',
    deletable: true,
    intro: (page) => html`<nullops-password-login .api=${page.api}></nullops-password-login>`,
    fields: [
      {
        key: 'slug',
        label: 'Short name (in the callback URL)',
        kind: 'text',
        required: true,
        createOnly: true,
        placeholder: 'keycloak',
      },
      {
        key: 'name',
        label: 'Name on the sign-in button',
        kind: 'text',
        required: true,
        placeholder: 'Keycloak',
      },
      {
        key: 'issuerUrl',
        label: 'Issuer URL',
        kind: 'url',
        required: true,
        placeholder: 'https://sso.example.com/realms/acme',
      },
      { key: 'clientId', label: 'Client id', kind: 'text', required: true },
      { key: 'clientSecret', label: 'Client secret', kind: 'password', clearable: true },
      { key: 'scopes', label: 'Scopes', kind: 'text', placeholder: 'openid profile email' },
      { key: 'groupsClaim', label: 'Groups claim', kind: 'text', placeholder: 'groups' },
      { key: 'usernameClaim', label: 'User name claim', kind: 'text', placeholder: 'preferred_username' },
    ],
    columns: [
      { label: 'Name', value: (r) => r.name },
      { label: 'Issuer', value: (r) => r.issuerUrl },
      {
        label: 'Redirect URI',
        value: (r) => html`<code>${location.origin}/api/auth/sso/${r.slug}/callback</code>`,
      },
      { label: 'Configured', value: (r) => (r.managedByEnv ? 'by NULLOPS_SSO_PROVIDERS' : 'here') },
    ],
    rowDetail: (r, page: AdminResourcePage) =>
      html`<nullops-sso-mappings .providerId=${r.id} .providerName=${r.name} .api=${page.api}></nullops-sso-mappings>`,
  },
  {
    key: 'secrets',
    title: 'Secrets',
    path: '/api/secrets',
    deletable: true,
    fields: [
      { key: 'name', label: 'Name', kind: 'text', required: true, placeholder: 'DB_PASSWORD' },
      { key: 'value', label: 'Value (write-only)', kind: 'password', required: true },
    ],
    columns: [
      { label: 'Name', value: (r) => html`<code>${r.name}</code>` },
      { label: 'Use as', value: (r) => html`<code>\${secret:${r.name}}</code>` },
      { label: 'Updated', value: (r) => when(r.updatedAt) },
    ],
  },
  {
    key: 'audit',
    title: 'Audit log',
    path: '/api/audit',
    fields: [],
    filters: [
      { key: 'action', label: 'Action', placeholder: 'deployments.* or users.create' },
      { key: 'targetType', label: 'Target type', placeholder: 'project' },
      { key: 'outcome', label: 'Outcome', options: ['success', 'denied', 'failure'] },
    ],
    pageSize: 50,
    columns: [
      { label: 'When', value: (r) => when(r.at) },
      { label: 'Who', value: (r) => r.actorName ?? 'system' },
      { label: 'What', value: (r) => r.action },
      {
        label: 'Target',
        value: (r) =>
          r.targetName
            ? html`${r.targetType} <strong title=${r.targetId}>${r.targetName}</strong>`
            : [r.targetType, r.targetId].filter(Boolean).join(' '),
      },
      { label: 'Outcome', value: (r) => r.outcome },
    ],
  },
];

/** Team assignments as the form's two lists, and back. */
function teamsByLevel(teams: { teamId: string; access: string }[]) {
  return {
    full: teams.filter((t) => t.access === 'full').map((t) => t.teamId),
    read: teams.filter((t) => t.access === 'read').map((t) => t.teamId),
  };
}

function withTeams({ full, read, ...v }: Record<string, unknown>) {
  return full || read
    ? {
        ...v,
        teams: [
          ...((full as string[]) ?? []).map((teamId) => ({ teamId, access: 'full' })),
          ...((read as string[]) ?? []).map((teamId) => ({ teamId, access: 'read' })),
        ],
      }
    : v;
}

/** The command that starts a new node's agent, its token filled in, as README.md documents it. */
function installCommand(node: Row, env: Row): string {
  if (env.runtime === 'kubernetes')
    return [
      '# from the NullOps repository: build the image (npm run image:agent-k8s), push it, set it in the kustomization',
      'kubectl apply -k deploy/kubernetes/agent',
      `kubectl -n nullops-system create secret generic nullops-agent-token --from-literal=token=${node.token}`,
      `# then register the agent's address (a node IP and NodePort 30500) as this node's host and port`,
    ].join('\n');
  return [
    '# from the NullOps repository: npm run image:agent-docker builds the image (nullops/agent-docker:latest)',
    'docker run -d --name nullops-agent --restart unless-stopped --network host \\',
    `  -e NULLOPS_AGENT_TOKEN=${node.token} \\`,
    `  -e NULLOPS_AGENT_PORT=${node.port} \\`,
    '  -v /var/run/docker.sock:/var/run/docker.sock \\',
    '  -v /var/lib/nullops-agent:/data \\',
    '  nullops/agent-docker:latest',
  ].join('\n');
}

/** A project's or user's quota fields: empty means no limit. */
function quotaFields(whose: string): Field[] {
  return [
    {
      key: 'quotaDeployments',
      label: `Quota: ${whose} live deployments (empty: no limit)`,
      kind: 'number',
      clearable: true,
    },
    {
      key: 'quotaCpuMillicores',
      label: `Quota: CPU ${whose} deployments reserve (millicores)`,
      kind: 'number',
      clearable: true,
    },
    {
      key: 'quotaMemoryMb',
      label: `Quota: memory ${whose} deployments reserve (MiB)`,
      kind: 'number',
      clearable: true,
    },
  ];
}

function quotaValues(r: Row) {
  return {
    quotaDeployments: r.quota?.deployments ?? null,
    quotaCpuMillicores: r.quota?.cpuMillicores ?? null,
    quotaMemoryMb: r.quota?.memoryMb ?? null,
  };
}

function quotaText(r: Row): string {
  return (
    [
      r.quota?.deployments != null ? `${r.quota.deployments} deployments` : '',
      r.quota?.cpuMillicores != null ? `${r.quota.cpuMillicores}m CPU` : '',
      r.quota?.memoryMb != null ? `${r.quota.memoryMb} MiB` : '',
    ]
      .filter(Boolean)
      .join(', ') || 'none'
  );
}
