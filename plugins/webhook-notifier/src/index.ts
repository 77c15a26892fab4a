import { type DeploymentNotification, definePlugin, z } from '@nullops/plugin-sdk';

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
    const settings = webhookSettings.parse(ctx.settings);
    const post = async (n: DeploymentNotification) => {
      const body = settings.format === 'teams' ? teamsCard(n) : n;
      const response = await fetch(settings.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...settings.headers },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(8000),
      });
      if (!response.ok) throw new Error(`webhook answered HTTP ${response.status}`);
    };
    ctx.notifiers.add(async (n) => {
      if (settings.events.length && !settings.events.includes(n.event)) return;
      await post(n);
    });
    ctx.routes.add({
      method: 'post',
      path: '/test',
      access: 'admin',
      async handler(request) {
        await post({
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
