import { ConfigError, createLogger, forgetSecretVariables } from '@nullops/kernel';
import type { Logger } from 'pino';
import { ensureFirstAdmin, loadSecretKeys } from './bootstrap.js';
import { type ControlPlaneConfig, controlPlaneConfigShape, loadControlPlaneConfig } from './config.js';
import { createControlPlane } from './control-plane.js';
import { createDatabase, type Database, migrateLatest } from './database/database.js';
import { startEmbeddedPostgres } from './database/embedded-postgres.js';
import { ensureConfiguredAgent } from './local-node.js';
import { Refs } from './refs.js';
import { SecretBox } from './security/secret-box.js';

/**
 * Starts an agent in the control plane's own process (the all-in-one entry's Docker agent), once
 * the database is migrated and the control plane listens; undefined when it does not run one.
 */
export type LocalAgentStarter = (deps: {
  config: ControlPlaneConfig;
  db: Database;
  box: SecretBox;
  logger: Logger;
}) => Promise<{ close(): Promise<void> } | undefined>;

/**
 * A control-plane process: configuration (a bad one is exit 2, every problem named), the database
 * (embedded PostgreSQL unless DATABASE_URL), migrations, the first admin, the HTTP server, the
 * local agent if one is given, and an orderly stop on SIGINT/SIGTERM.
 */
export async function runControlPlaneProcess(
  options: { localAgent?: LocalAgentStarter } = {},
): Promise<void> {
  let config: ReturnType<typeof loadControlPlaneConfig>;
  try {
    config = loadControlPlaneConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`NullOps cannot start: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  // The secret key, the admin password, the database URL: read once, then gone from the environment.
  forgetSecretVariables(controlPlaneConfigShape);
  const logger = createLogger({ level: config.NULLOPS_LOG_LEVEL });
  const embedded = config.DATABASE_URL
    ? undefined
    : await startEmbeddedPostgres(config.NULLOPS_DATA_DIR, config.NULLOPS_EMBEDDED_PG_PORT, logger);
  const db = createDatabase(config.DATABASE_URL ?? (embedded?.url as string));
  const ran = await migrateLatest(db);
  if (ran.length) logger.info({ migrations: ran }, 'database migrated');
  const secretKeys = await loadSecretKeys(config.NULLOPS_SECRET_KEY, config.NULLOPS_DATA_DIR, logger);
  const admin = await ensureFirstAdmin(db, config.NULLOPS_ADMIN_PASSWORD);
  await ensureConfiguredAgent({ config, db, box: new SecretBox(secretKeys), logger });

  const controlPlane = createControlPlane({ config, logger, db, secretKeys });
  const server = await controlPlane.listen(config.PORT, config.NULLOPS_LISTEN_HOST);
  const localAgent = await options.localAgent?.({
    config,
    db,
    box: controlPlane.container.resolve(Refs.secretBox),
    logger,
  });
  await controlPlane.start();
  const url = `http://localhost:${config.PORT}`;
  logger.info({ url }, 'NullOps control plane is listening');
  if (admin.generatedPassword) {
    // Printed once, on the first start only, to the terminal rather than the structured log.
    process.stdout.write(
      `\n  NullOps is ready at ${url}\n  Sign in as: admin / ${admin.generatedPassword}\n  (shown only now; set NULLOPS_ADMIN_PASSWORD to choose it)\n\n`,
    );
  } else {
    // Every later start says so plainly too, between the structured log lines.
    process.stdout.write(`\n  NullOps is ready at ${url} (sign in with your account)\n\n`);
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    let failed = false;
    // In order: stop taking requests, stop agent connections, then the stores they write to.
    for (const [what, step] of [
      [
        'http server',
        () =>
          new Promise((resolve) => {
            server.close(resolve);
            // Keep-alive connections would otherwise hold close() open until they time out.
            server.closeIdleConnections();
          }),
      ],
      ['agent connections', () => controlPlane.stop()],
      ['local agent', async () => localAgent?.close()],
      ['database pool', () => db.destroy()],
      ['embedded PostgreSQL', async () => embedded?.stop()],
    ] as const) {
      try {
        await step();
      } catch (err) {
        failed = true;
        logger.error({ err, step: what }, 'shutdown step failed');
      }
    }
    process.exit(failed ? 1 : 0);
  };
  // embedded-postgres registers its own signal handlers (async-exit-hook) that stop PostgreSQL and
  // exit at once, racing the orderly shutdown above (which stops PostgreSQL last): ours alone run.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.removeAllListeners(signal);
    process.on(signal, () => void stop(signal));
  }
}
