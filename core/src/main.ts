#!/usr/bin/env node
import 'reflect-metadata';
import { ConfigError, createLogger, forgetSecretVariables } from '@nullops/agent-host/kernel';
import { ensureFirstAdmin, loadSecretKeys } from './control-plane/bootstrap.js';
import { controlPlaneConfigShape, loadControlPlaneConfig } from './control-plane/config.js';
import { createControlPlane } from './control-plane/control-plane.js';
import { createDatabase, migrateLatest } from './control-plane/database/database.js';
import { startEmbeddedPostgres } from './control-plane/database/embedded-postgres.js';
import { startEmbeddedAgent } from './control-plane/embedded-agent.js';
import { Refs } from './control-plane/refs.js';

async function main() {
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

  const controlPlane = createControlPlane({ config, logger, db, secretKeys });
  const server = await controlPlane.listen(config.PORT, config.NULLOPS_LISTEN_HOST);
  const localAgent = await startEmbeddedAgent({
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

main().catch((err) => {
  process.stderr.write(`NullOps failed to start: ${(err as Error)?.message || String(err)}\n`);
  process.exit(1);
});
