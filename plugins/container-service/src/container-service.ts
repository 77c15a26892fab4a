import {
  defineComponent,
  describeCheck,
  type HealthCheck,
  ServiceCommandSchema,
  ServiceEnvSchema,
  z,
} from '@nullops/plugin-sdk';

const dnsLabel = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a DNS label');

const healthCheck = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('http'),
    path: z.string().startsWith('/').default('/'),
    port: z.number().int().optional(),
    expectStatus: z.number().int().optional(),
  }),
  z.object({ kind: z.literal('tcp'), port: z.number().int().optional() }),
  z.object({ kind: z.literal('command'), command: z.array(z.string()).min(1) }),
]);

export const containerServiceParams = z
  .object({
    /** The project service this node runs; also its host name inside the deployment. */
    service: dnsLabel,
    /** Filled in by the control plane from the service's registry, image and the chosen tag. */
    image: z.string().min(1),
    port: z.number().int().min(1).max(65535).optional(),
    command: ServiceCommandSchema.optional(),
    env: ServiceEnvSchema.default({}),
    volumes: z.record(dnsLabel, z.string().startsWith('/')).optional(),
    /** Filled in by the control plane from the project's budget when not set. */
    cpuMillicores: z.number().int().min(1),
    memoryMb: z.number().int().min(4),
    pull: z.enum(['always', 'missing']).default('always'),
    healthCheck: healthCheck.optional(),
    healthTimeoutSeconds: z.number().int().min(1).max(3600).default(60),
    /** Kubernetes restarts the container when this keeps failing (Docker ignores it). */
    livenessCheck: healthCheck.optional(),
    /** `restricted` or `baseline`; unset, the project's security profile (filled in by the control plane). */
    securityProfile: z.enum(['baseline', 'restricted']).optional(),
    /** Capabilities the image needs, e.g. `["NET_BIND_SERVICE"]`; unset, the profile's. */
    capabilities: z
      .array(z.string().regex(/^[A-Z_]{2,32}$/, 'must be a capability name such as NET_BIND_SERVICE'))
      .max(40)
      .optional(),
    /** Under `restricted`: paths it writes to (besides volumes and /tmp). */
    writablePaths: z.array(z.string().startsWith('/').max(200)).max(20).optional(),
    /** The user id to run as (`restricted` needs a non-root one when the image runs as root). */
    runAsUser: z.number().int().min(0).max(2147483647).optional(),
    /** Most it may write outside its volumes, MiB (`restricted` default 1024). */
    diskMb: z.number().int().min(16).max(1_048_576).optional(),
  })
  .strict();

/**
 * `container.service`: pulls the image (with the registry's credentials, reporting progress),
 * starts the service with the deployment's limits, and waits until its health check passes — on
 * any runtime (a container on Docker, a Deployment and Service on Kubernetes, where the health
 * check is the readiness probe). Rollback removes the service. Its former name `docker.service`
 * still resolves to it.
 */
export const containerService = defineComponent({
  type: 'container.service',
  aliases: ['docker.service'],
  projectService: true,
  version: 1,
  title: 'Container service',
  category: 'Services',
  params: containerServiceParams,
  hostFilled: ['image', 'cpuMillicores', 'memoryMb'],
  outputs: {
    host: { description: 'host name of the service inside the deployment' },
    port: { description: 'its port' },
    address: { description: 'host:port other services of the deployment reach it at' },
  },
  timeoutMs: 30 * 60_000,
  async run(ctx, p) {
    const auth = ctx.registryAuth(p.image);
    if (p.pull === 'always') {
      ctx.log(`pulling ${p.image}`);
      let last = -1;
      await ctx.runtime.pullImage(
        p.image,
        auth,
        (progress) => {
          // One line per 10 % is progress enough; a line per layer chunk would flood the UI.
          const tenth = progress.fraction === undefined ? -1 : Math.floor(progress.fraction * 10);
          if (tenth > last) {
            last = tenth;
            ctx.log(`pull ${p.image}: ${progress.status}${tenth >= 0 ? ` ${tenth * 10}%` : ''}`);
          }
        },
        ctx.signal,
      );
    }
    const spec = {
      name: p.service,
      image: p.image,
      ...(p.command ? { command: p.command } : {}),
      env: p.env,
      ...(p.port ? { port: p.port } : {}),
      cpuMillicores: p.cpuMillicores,
      memoryMb: p.memoryMb,
      ...(p.volumes ? { volumes: p.volumes } : {}),
      ...(p.healthCheck ? { healthCheck: p.healthCheck } : {}),
      ...(p.livenessCheck ? { livenessCheck: p.livenessCheck } : {}),
      pull: p.pull,
      secretEnv: Object.keys(p.env).filter((name) => ctx.isSecret(p.env[name] as string)),
      security: {
        profile: p.securityProfile ?? 'baseline',
        ...(p.capabilities ? { capabilities: p.capabilities } : {}),
        ...(p.writablePaths ? { writablePaths: p.writablePaths } : {}),
        ...(p.runAsUser !== undefined ? { runAsUser: p.runAsUser } : {}),
        ...(p.diskMb ? { diskMb: p.diskMb } : {}),
      },
    };
    const state = await ctx.runtime.startService(ctx.deployment.id, spec, auth, ctx.signal);
    ctx.recordService(spec);
    ctx.log(`started ${p.service} (${state.ref.slice(0, 12)})`);
    if (p.healthCheck) await waitHealthy(ctx, p.service, p.healthCheck, p.healthTimeoutSeconds);
    return {
      host: p.service,
      ...(p.port ? { port: p.port, address: `${p.service}:${p.port}` } : {}),
    };
  },
  async rollback(ctx, p) {
    await ctx.runtime.removeService(ctx.deployment.id, p.service);
  },
});

async function waitHealthy(
  ctx: Parameters<typeof containerService.run>[0],
  service: string,
  check: HealthCheck,
  timeoutSeconds: number,
) {
  const deadline = Date.now() + timeoutSeconds * 1000;
  let detail = 'not checked yet';
  let attempt = 0;
  while (Date.now() < deadline) {
    if (ctx.signal.aborted) throw new Error('cancelled while waiting for the health check');
    const result = await ctx.runtime.checkHealth(ctx.deployment.id, service, check, 2000);
    if (result.healthy) {
      ctx.log(`${service} is healthy (${result.detail})`);
      return;
    }
    detail = result.detail;
    ctx.waiting?.(`${describeCheck(check)} → ${detail}`);
    // Most services come up within a second: look often at first (25, 50, 100 ms…), then every
    // 250 ms. A fixed 250 ms cost every deployment 125 ms per service on average (benchmark P1).
    await new Promise((resolve) => setTimeout(resolve, Math.min(250, 25 * 2 ** attempt++)));
  }
  throw new Error(
    `${service} did not pass its ${check.kind} health check within ${timeoutSeconds} s (last: ${detail})`,
  );
}
