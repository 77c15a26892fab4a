import { defineComponent, z } from '@nullops/plugin-sdk';

export const sqlScriptParams = z
  .object({
    /** Usually `${output:<database node>.connectionString}`. */
    connectionString: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// connection string'),
    /** The script; it runs in one transaction and stops at the first error. */
    sql: z.string().min(1).max(1_000_000),
    /** An image with `psql` (any official postgres image has it). */
    image: z.string().min(1).default('postgres:16-alpine'),
    timeoutSeconds: z.number().int().min(1).max(3600).default(300),
    /** Limits of the one-off psql container. */
    cpuMillicores: z.number().int().min(10).default(250),
    memoryMb: z.number().int().min(16).default(128),
  })
  .strict();

/**
 * `postgres.sql`: runs a SQL script with `psql` in a one-off container on the deployment's
 * network (so database host names resolve), in a single transaction, stopping at the first
 * error. The connection string and the script travel as environment variables, not arguments,
 * so they do not show in process lists.
 */
export const sqlScript = defineComponent({
  type: 'postgres.sql',
  version: 1,
  title: 'SQL script',
  category: 'Databases',
  params: sqlScriptParams,
  outputs: { output: { description: "psql's output (the script's last lines)" } },
  timeoutMs: 60 * 60_000,
  reserves: (p) => ({ cpuMillicores: Number(p.cpuMillicores ?? 250), memoryMb: Number(p.memoryMb ?? 128) }),
  async run(ctx, p) {
    ctx.log(`running a SQL script (${p.sql.length} characters) with ${p.image}`);
    const result = await ctx.runtime.runJob(
      ctx.deployment.id,
      {
        name: `sql-${ctx.nodeId.toLowerCase().replace(/[^a-z0-9-]/g, '-')}`.slice(0, 40),
        image: p.image,
        command: [
          'sh',
          '-c',
          'exec psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=terse --single-transaction -d "$NULLOPS_DATABASE_URL" -c "$NULLOPS_SQL"',
        ],
        env: { NULLOPS_DATABASE_URL: p.connectionString, NULLOPS_SQL: p.sql },
        cpuMillicores: p.cpuMillicores,
        memoryMb: p.memoryMb,
        timeoutMs: p.timeoutSeconds * 1000,
      },
      ctx.signal,
    );
    const output = result.output.trim().slice(-4000);
    if (result.exitCode !== 0)
      throw new Error(`the SQL script failed (psql exit ${result.exitCode}): ${output || 'no output'}`);
    if (output) ctx.log(output);
    ctx.log('SQL script applied');
    return { output };
  },
});
