import { docker } from './docker.js';

export const POSTGRES_IMAGE = 'nullops-test/postgres:15';

/**
 * A pipeline with a PostgreSQL database (`db`, database and user `shop`) and a schema script
 * (`sql`), then a web service when `web` is set.
 */
export function databasePipeline(sql: string, options: { web?: boolean } = {}) {
  return {
    nodes: [
      {
        id: 'db',
        type: 'postgres.database',
        params: { image: POSTGRES_IMAGE, database: 'shop', user: 'shop' },
      },
      {
        id: 'schema',
        type: 'postgres.sql',
        params: {
          connectionString: '${output:db.connectionString}',
          image: POSTGRES_IMAGE,
          sql,
          cpuMillicores: 50,
          memoryMb: 64,
        },
      },
      ...(options.web
        ? [{ id: 'web', type: 'container.service', params: { service: 'web', port: 80 } }]
        : []),
    ],
    edges: [{ from: 'db', to: 'schema' }, ...(options.web ? [{ from: 'schema', to: 'web' }] : [])],
  };
}

/** Runs a command in a deployment's service container; its output (stdout and stderr) and exit code. */
export async function execIn(
  deploymentId: string,
  service: string,
  cmd: string[],
): Promise<{ output: string; code: number | null }> {
  const exec = await docker.getContainer(`nullops-${deploymentId}-${service}`).exec({
    Cmd: cmd,
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = await exec.start({ hijack: true, stdin: false });
  let output = '';
  await new Promise((done) => {
    stream.on('data', (chunk: Buffer) => (output += chunk.subarray(8).toString()));
    stream.on('end', done);
  });
  return { output: output.trim(), code: (await exec.inspect()).ExitCode };
}

/** Runs SQL in a deployment's `db` as its owner (`shop`, the image's superuser); the rows, unaligned. */
export async function psql(deploymentId: string, sql: string): Promise<string> {
  const { output } = await execIn(deploymentId, 'db', [
    'sh',
    '-c',
    'PGPASSWORD="$POSTGRES_PASSWORD" psql -U shop -d shop -tAc "$1"',
    'sh',
    sql,
  ]);
  return output;
}
