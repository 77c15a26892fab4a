import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  type ControlPlane,
  createControlPlane,
  createLogger,
  ensureFirstAdmin,
  loadControlPlaneConfig,
  parseSecretKeys,
} from '@nullops/core';
import { ApiClient } from './api-client.js';
import { createTestDatabase, type TestDatabase } from './test-database.js';

export interface TestControlPlane {
  url: string;
  cp: ControlPlane;
  database: TestDatabase;
  /** Every log line the control plane wrote, for asserting that secrets never appear. */
  logs: string[];
  adminPassword: string;
  /** A client signed in as the first admin. */
  admin: ApiClient;
  /**
   * Stops this control plane and starts a new one on the same database, secret key and port: what
   * a restart of the process does, with the agents still out there.
   */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** A control plane on its own fresh database, listening on a random port. */
export async function startTestControlPlane(
  env: Record<string, string> = {},
  options: { secretKey?: string } = {},
): Promise<TestControlPlane> {
  const database = await createTestDatabase();
  // Installed plugins live in the data directory: one per control plane.
  const dataDir = await mkdtemp(join(tmpdir(), 'nullops-cp-data-'));
  const adminPassword = `admin-${randomBytes(12).toString('hex')}`;
  const config = loadControlPlaneConfig({
    DATABASE_URL: database.url,
    NULLOPS_LOG_LEVEL: 'debug',
    // Every test control plane has its own ingress on a free port.
    NULLOPS_INGRESS_PORT: '0',
    NULLOPS_LISTEN_HOST: '127.0.0.1',
    NULLOPS_DATA_DIR: dataDir,
    ...env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const logger = createLogger({ level: 'debug' }, sink);
  await ensureFirstAdmin(database.db, adminPassword);
  const secretKeys = parseSecretKeys(options.secretKey ?? randomBytes(32).toString('base64'));
  const boot = async (port: number) => {
    const instance = createControlPlane({ config, logger, db: database.db, secretKeys });
    const listening = await instance.listen(port, '127.0.0.1');
    await instance.start();
    return { instance, listening };
  };
  let { instance: cp, listening: server } = await boot(0);
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  const shutdown = async () => {
    await cp.stop();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections?.();
    });
  };
  const admin = await ApiClient.login(url, 'admin', adminPassword);
  const handle: TestControlPlane = {
    url,
    cp,
    database,
    logs,
    adminPassword,
    admin,
    restart: async () => {
      await shutdown();
      ({ instance: cp, listening: server } = await boot(port));
      handle.cp = cp;
    },
    close: async () => {
      await shutdown();
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return handle;
}

/** The control plane's last warnings and errors (for a failed test's report). */
export function troubleIn(logs: readonly string[], last = 30): string[] {
  return logs
    .flatMap((chunk) => chunk.split('\n'))
    .filter((line) => {
      try {
        return ((JSON.parse(line) as { level?: number }).level ?? 0) >= 40;
      } catch {
        return false;
      }
    })
    .slice(-last);
}
