import { type DeploymentNotification, definePlugin, type NodeNotification, z } from '@nullops/plugin-sdk';

/**
 * Settings: the plugin's own (the administrators' channel: every project's deployment events and
 * node events), and per project (`PUT /api/projects/{id}/plugins/@nullops%2Fplugin-webhook-notifier/settings`:
 * that project's deployment events to its own webhook). The same shape for both.
 */
export const webhookSettings = z
  .object({
    /** Where to post; put a Teams/Slack webhook URL in a secret: `${secret:TEAMS_WEBHOOK}`. */
    url: z.url({ protocol: /^https?$/ }),
    /** `json`: the notification as is; `teams`: a Microsoft Teams message card. */
    format: z.enum(['json', 'teams']).default('json'),
    /** Only these events (e.g. running, failed, expired); all when empty. */
    events: z.array(z.string()).default([]),
    /** Extra request headers, e.g. an Authorization header (use a secret reference). */
    headers: z.record(z.string(), z.string()).default({}),
  })
  .strict();

const COLORS: Record<string, string> = {
  running: '2E7D32',
  failed: 'C62828',
  expired: '757575',
  deleted: '757575',
};

/** The plugin's own settings: like a project's, but the webhook may be left out (projects only). */
const globalSettings = webhookSettings.extend({ url: webhookSettings.shape.url.optional() });

/** A node going offline (or back), as a Teams card. */
export function nodeCard(n: NodeNotification) {
  return {
    '@type': 'MessageCard',
    '@context': 'https://schema.org/extensions',
    summary: `node ${n.node.name}: ${n.event}`,
    themeColor: n.event === 'node.offline' ? 'C62828' : '2E7D32',
    title: `Node ${n.node.name} (${n.node.environmentName}) — ${n.event === 'node.offline' ? 'offline' : 'back online'}`,
    sections: [
      {
        facts: [
          { name: 'Status', value: n.node.status },
          ...(n.node.message ? [{ name: 'Details', value: n.node.message }] : []),
        ],
      },
    ],
  };
}

/** A Microsoft Teams message card (what Teams incoming webhooks accept). */
export function teamsCard(n: DeploymentNotification) {
  const d = n.deployment;
  return {
    '@type': 'MessageCard',
    '@context': 'https://schema.org/extensions',
    summary: `${d.name}: ${n.event}`,
    themeColor: COLORS[n.event] ?? '1565C0',
    title: `Deployment ${d.name} (${d.projectName}) — ${n.event}`,
    sections: [
      {
        facts: [
          { name: 'Environment', value: d.environmentName },
          { name: 'State', value: d.state },
          ...(n.actor ? [{ name: 'By', value: n.actor }] : []),
          ...(n.message ? [{ name: 'Details', value: n.message }] : []),
          ...(d.expiresAt ? [{ name: 'Expires', value: d.expiresAt }] : []),
        ],
      },
    ],
    potentialAction: Object.entries(d.urls).map(([service, uri]) => ({
      '@type': 'OpenUri',
      name: `Open ${service}`,
      targets: [{ os: 'default', uri }],
    })),
  };
}

/**
 * A control-plane plugin: posts deployment events to a webhook, as JSON or as a Microsoft Teams
 * card. Admins set `settings` when installing; `POST /api/ext/@nullops/plugin-webhook-notifier/test`
 * sends a test message.
 */
export default definePlugin({
  controlPlane(ctx) {
    const settings = globalSettings.parse(ctx.settings);
    const post = async (to: z.infer<typeof webhookSettings>, body: unknown) => {
      const response = await fetch(to.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...to.headers },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(8000),
      });
      if (!response.ok) throw new Error(`webhook answered HTTP ${response.status}`);
    };
    const deliver = (to: z.infer<typeof webhookSettings>, n: DeploymentNotification) =>
      to.events.length && !to.events.includes(n.event)
        ? undefined
        : post(to, to.format === 'teams' ? teamsCard(n) : n);
    const global = settings.url ? { ...settings, url: settings.url } : undefined;
    ctx.notifiers.add(async (n) => {
      const own = await ctx.projectSettings.get(n.deployment.projectId);
      const project = own ? webhookSettings.safeParse(own) : undefined;
      if (project && !project.success)
        ctx.log.warn('project webhook settings are not valid', { project: n.deployment.projectId });
      await Promise.all([
        global && deliver(global, n),
        project?.success ? deliver(project.data, n) : undefined,
      ]);
    });
    // Node events are for administrators: the plugin's own webhook only.
    ctx.nodeNotifiers.add(async (n) => {
      if (!global || (global.events.length && !global.events.includes(n.event))) return;
      await post(global, global.format === 'teams' ? nodeCard(n) : n);
    });
    ctx.routes.add({
      method: 'post',
      path: '/test',
      access: 'admin',
      async handler(request) {
        if (!global)
          return { status: 409, body: { error: { message: 'no webhook url is set in the settings' } } };
        await deliver(global, {
          event: 'test',
          deployment: {
            id: '00000000-0000-0000-0000-000000000000',
            name: 'test',
            state: 'running',
            projectId: '00000000-0000-0000-0000-000000000000',
            projectName: 'test',
            environmentName: 'test',
            urls: {},
            expiresAt: null,
          },
          actor: request.user.username,
          message: 'a test message from NullOps',
          at: new Date().toISOString(),
        });
        return { status: 200, body: { sent: true } };
      },
    });
    ctx.log.info('webhook notifier ready', { format: settings.format });
  },
});
