import { defineComponent, z } from '@nullops/plugin-sdk';

export const httpCheckParams = z
  .object({
    /** A service of the deployment: checked from the runtime, inside the deployment. */
    service: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a DNS label')
      .optional(),
    port: z.number().int().min(1).max(65535).optional(),
    path: z.string().startsWith('/').default('/'),
    /** Or any URL the agent can reach (a shared server, a public endpoint). */
    url: z.url({ protocol: /^https?$/ }).optional(),
    expectStatus: z.number().int().min(100).max(599).default(200),
    /** With `url`: the body must contain this text. */
    bodyContains: z.string().max(1000).optional(),
    timeoutSeconds: z.number().int().min(1).max(3600).default(60),
    intervalMs: z.number().int().min(100).max(60_000).default(500),
  })
  .strict()
  .refine((p) => Boolean(p.service) !== Boolean(p.url), {
    message: 'give either service or url',
    path: ['service'],
  });

/**
 * `http.check`: waits until an HTTP endpoint answers with the expected status (and text), or
 * fails the pipeline at its deadline with the last answer. Nothing to roll back.
 */
export const httpCheck = defineComponent({
  type: 'http.check',
  version: 1,
  title: 'HTTP check',
  category: 'Checks',
  params: httpCheckParams,
  outputs: { status: { description: 'the status that passed' } },
  timeoutMs: 60 * 60_000,
  async run(ctx, p) {
    const target = p.url ?? `http://${p.service}${p.port ? `:${p.port}` : ''}${p.path}`;
    ctx.log(`checking ${target} for HTTP ${p.expectStatus}`);
    const deadline = Date.now() + p.timeoutSeconds * 1000;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      if (ctx.signal.aborted) throw new Error('cancelled during the HTTP check');
      const outcome = p.url
        ? await fetchOnce(p.url, p.expectStatus, p.bodyContains, ctx.signal)
        : await ctx.runtime
            .checkHealth(
              ctx.deployment.id,
              p.service as string,
              {
                kind: 'http',
                path: p.path,
                ...(p.port ? { port: p.port } : {}),
                expectStatus: p.expectStatus,
              },
              5000,
            )
            .then((r) => ({ ok: r.healthy, detail: r.detail }));
      if (outcome.ok) {
        ctx.log(`${target} passed (${outcome.detail})`);
        return { status: p.expectStatus };
      }
      last = outcome.detail;
      ctx.waiting?.(`GET ${target} → ${last}`);
      await new Promise((r) => setTimeout(r, p.intervalMs));
    }
    throw new Error(
      `${target} did not answer HTTP ${p.expectStatus} within ${p.timeoutSeconds} s (last: ${last})`,
    );
  },
});

async function fetchOnce(url: string, status: number, text: string | undefined, signal: AbortSignal) {
  try {
    const response = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(5000)]) });
    const body = await response.text();
    if (response.status !== status) return { ok: false, detail: `HTTP ${response.status}` };
    if (text && !body.includes(text))
      return { ok: false, detail: `HTTP ${response.status} without "${text}"` };
    return { ok: true, detail: `HTTP ${response.status}` };
  } catch (err) {
    const e = err as { message?: string; cause?: { message?: string } };
    return {
      ok: false,
      detail: e.cause?.message ? `${e.message}: ${e.cause.message}` : String(e.message ?? err),
    };
  }
}
