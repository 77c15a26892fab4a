import { randomBytes } from 'node:crypto';
import { defineComponent, z } from '@nullops/plugin-sdk';
import { backupDatabase, restoreDatabase } from './postgres-data.js';

const dnsLabel = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a DNS label');
const identifier = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lowercase SQL identifier');

export const postgresDatabaseParams = z
  .object({
    /** Host name of the database inside the deployment. */
    service: dnsLabel.default('db'),
    /** Any image that follows the official postgres image's POSTGRES_* environment contract. */
    image: z.string().min(1).default('postgres:16-alpine'),
    database: identifier.default('app'),
    user: identifier.default('app'),
    /** Leave empty to generate a random one per deployment (recommended). */
    password: z.string().max(200).optional(),
    cpuMillicores: z.number().int().min(50).default(500),
    memoryMb: z.number().int().min(64).default(256),
    pull: z.enum(['always', 'missing']).default('missing'),
    readyTimeoutSeconds: z.number().int().min(5).max(900).default(120),
  })
  .strict();

/**
 * `postgres.database`: runs a PostgreSQL server as a service of the deployment (on its private
 * network) and outputs its connection string, which later nodes reference as
 * `${output:<node>.connectionString}`. Rollback removes the server. Its data can be backed up and
 * restored into this or another deployment of the project.
 */
export const postgresDatabase = defineComponent({
  type: 'postgres.database',
  version: 1,
  title: 'PostgreSQL database',
  category: 'Databases',
  params: postgresDatabaseParams,
  outputs: {
    connectionString: { description: 'postgres://user:password@host:5432/database', secret: true },
    host: { description: 'host name inside the deployment' },
    port: { description: '5432' },
    database: { description: 'database name' },
    user: { description: 'user name' },
    password: { description: 'password', secret: true },
  },
  timeoutMs: 20 * 60_000,
  reserves: (p) => ({ cpuMillicores: Number(p.cpuMillicores ?? 500), memoryMb: Number(p.memoryMb ?? 256) }),
  async run(ctx, p) {
    const password = p.password || randomBytes(18).toString('base64url');
    const auth = ctx.registryAuth(p.image);
    if (p.pull === 'always') {
      ctx.log(`pulling ${p.image}`);
      await ctx.runtime.pullImage(p.image, auth, undefined, ctx.signal);
    }
    const spec = {
      name: p.service,
      image: p.image,
      env: { POSTGRES_USER: p.user, POSTGRES_PASSWORD: password, POSTGRES_DB: p.database },
      cpuMillicores: p.cpuMillicores,
      memoryMb: p.memoryMb,
      volumes: { [`${p.service}-data`]: '/var/lib/postgresql/data' },
    };
    await ctx.runtime.startService(ctx.deployment.id, spec, auth);
    ctx.recordService(spec);
    ctx.log(`started PostgreSQL "${p.service}"; waiting until it accepts connections`);
    const deadline = Date.now() + p.readyTimeoutSeconds * 1000;
    let last = '';
    while (Date.now() < deadline) {
      if (ctx.signal.aborted) throw new Error('cancelled while waiting for PostgreSQL');
      // Over TCP (not the socket): the image's init phase listens on the socket only.
      const check = await ctx.runtime.exec(
        ctx.deployment.id,
        p.service,
        ['pg_isready', '-h', '127.0.0.1', '-U', p.user, '-d', p.database],
        5000,
      );
      if (check.exitCode === 0) {
        ctx.log(`PostgreSQL "${p.service}" is ready`);
        const connectionString = `postgres://${p.user}:${encodeURIComponent(password)}@${p.service}:5432/${p.database}`;
        return {
          connectionString,
          host: p.service,
          port: 5432,
          database: p.database,
          user: p.user,
          password,
        };
      }
      last = check.output.trim();
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(
      `PostgreSQL "${p.service}" was not ready within ${p.readyTimeoutSeconds} s (last: ${last || 'no answer'})`,
    );
  },
  async rollback(ctx, p) {
    await ctx.runtime.removeService(ctx.deployment.id, p.service);
  },
  // Its data, backed up and restored (safely: see postgres-data.ts) through the runtime.
  backup: (ctx, p) => backupDatabase(ctx, p),
  restore: (ctx, p, archive) => restoreDatabase(ctx, p, archive),
  dataService: (p) => String(p.service ?? 'db'),
});
