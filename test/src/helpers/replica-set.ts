import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, tempDir } from './agent-process.js';
import { start, stop } from './control-plane-process.js';
import { viaIngress } from './ingress.js';
import { createTestDatabase, type TestDatabase } from './test-database.js';

/** One control-plane process of a replica set. */
export interface Replica {
  name: string;
  env: Record<string, string>;
  /** Its API. */
  url: string;
  /** Where the others relay requests to it (mutual TLS). */
  relayAddress: string;
  ingressPort: number;
  child?: ChildProcess;
  /** Told to stop: a load balancer in front takes it out of rotation now. */
  stopping?: boolean;
  output?: () => string;
}

/**
 * Control-plane processes (what `npm start` runs, without a local agent) sharing one new
 * PostgreSQL database, each with its own API and ingress port and data directory, and the same
 * secret key. `env` adds settings (e.g. the replica heartbeat) to all of them.
 */
export async function replicaSet(count: number, env: Record<string, string> = {}) {
  const database: TestDatabase = await createTestDatabase({ migrate: false });
  const dataDir = await tempDir('nullops-replicas-');
  const adminPassword = `admin-${randomBytes(8).toString('hex')}`;
  const shared = {
    DATABASE_URL: database.url,
    NULLOPS_SECRET_KEY: randomBytes(32).toString('base64'),
    NULLOPS_ADMIN_PASSWORD: adminPassword,
    NULLOPS_EMBEDDED_AGENT: 'off',
    NULLOPS_LISTEN_HOST: '127.0.0.1',
    NULLOPS_AGENT_RECONNECT_BASE_MS: '100',
    NULLOPS_AGENT_RECONNECT_MAX_MS: '500',
    ...env,
  };
  const replicas: Replica[] = [];
  for (let i = 0; i < count; i++) {
    const port = await freePort();
    const ingressPort = await freePort();
    const relayPort = await freePort();
    replicas.push({
      name: `replica-${i + 1}`,
      url: `http://127.0.0.1:${port}`,
      relayAddress: `https://127.0.0.1:${relayPort}`,
      ingressPort,
      env: {
        ...shared,
        PORT: String(port),
        NULLOPS_REPLICA_PORT: String(relayPort),
        NULLOPS_INGRESS_PORT: String(ingressPort),
        NULLOPS_DATA_DIR: join(dataDir, `replica-${i + 1}`),
      },
    });
  }
  const db = database.db;
  return {
    database,
    replicas,
    adminPassword,
    async launch(replica: Replica): Promise<void> {
      const started = await start(replica.env);
      replica.child = started.child;
      replica.output = started.output;
      replica.stopping = false;
    },
    /** The replicas up and not told to stop. */
    up(): Replica[] {
      return replicas.filter(
        (r) => !r.stopping && r.child && r.child.exitCode === null && r.child.signalCode === null,
      );
    },
    /** Who holds each node's link, from the database: node id → replica id. */
    async leases(): Promise<Map<string, string>> {
      const rows = await db('node_link_leases').where('expiresAt', '>', db.fn.now());
      return new Map(rows.map((r: { nodeId: string; replicaId: string }) => [r.nodeId, r.replicaId]));
    },
    /** The replicas alive by their heartbeats (the default timeout: 8 s). */
    async liveIds(): Promise<Set<string>> {
      const rows = await db('control_plane_replicas').where(
        'heartbeatAt',
        '>',
        db.raw("now() - interval '8 seconds'"),
      );
      return new Set(rows.map((r: { id: string }) => r.id));
    },
    /** The process of a replica id (replicas are found at the address they publish). */
    async byId(id: string): Promise<Replica | undefined> {
      const row = await db('control_plane_replicas').where({ id }).first();
      return replicas.find((r) => r.relayAddress === row?.address);
    },
    /** The live replicas' rows: where each takes relayed requests, and its certificate's thumbprint. */
    async liveRows(): Promise<{ id: string; address: string; thumbprint: string }[]> {
      return db('control_plane_replicas')
        .where('heartbeatAt', '>', db.raw("now() - interval '8 seconds'"))
        .select('id', 'address', 'thumbprint');
    },
    async close(): Promise<void> {
      for (const r of replicas) if (r.child && r.child.exitCode === null) await stop(r.child);
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export type ReplicaSet = Awaited<ReturnType<typeof replicaSet>>;

/**
 * Asks for every host through every replica of `set` that is up, over and over, until stopped: what
 * did not answer 200 is counted (a replica going down in the middle of a request is forgiven: a
 * load balancer in front retries those).
 */
export function watchUrls(set: ReplicaSet, hosts: () => string[]) {
  let stopped = false;
  let asked = 0;
  const failures: string[] = [];
  const loop = (async () => {
    while (!stopped) {
      for (const replica of set.up())
        for (const host of hosts()) {
          const res = await viaIngress(replica.ingressPort, host).catch((err: Error) => ({
            status: 0,
            body: err.message,
          }));
          asked++;
          if (res.status !== 200 && set.up().includes(replica))
            failures.push(`${host} via ${replica.name}: ${res.status} ${res.body.slice(0, 120)}`);
        }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return { asked, failures };
    },
  };
}
