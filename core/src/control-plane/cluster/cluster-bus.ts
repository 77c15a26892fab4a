import { randomUUID } from 'node:crypto';
import { inject, injectable } from '@nullops/kernel';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Database } from '../database/database.js';
import { Refs } from '../refs.js';

/** The one PostgreSQL channel the replicas of an installation talk on. */
const CHANNEL = 'nullops_cluster';
/** PostgreSQL refuses a NOTIFY payload of 8000 bytes or more. */
export const MAX_MESSAGE_BYTES = 7900;

type Handler = (payload: Record<string, unknown>) => void;

interface Subscription {
  handler: Handler;
  /** Only what other replicas sent (this one acted on its own already). */
  othersOnly: boolean;
}

/**
 * Messages between the control-plane replicas on one database, by PostgreSQL `LISTEN/NOTIFY`:
 * every replica (this one included) hears every message once. Published inside a transaction, a
 * message is sent when that commits, and never when it rolls back. While the listening connection
 * is lost nothing is heard; when it is back, `resync` tells every subscriber to reload what it
 * keeps, so a missed message costs a reload and is never lost for good.
 */
@injectable()
export class ClusterBus {
  /** This replica's identity (`Replicas` uses it too): new at every start. */
  readonly id = randomUUID();
  private readonly handlers = new Map<string, Set<Subscription>>();
  private client: pg.Client | undefined;
  private stopped = true;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    @inject(Refs.database) private readonly db: Database,
    @inject(Refs.logger) private readonly logger: Logger,
  ) {}

  /** Subscribes to a topic; returns the unsubscribe. */
  on(topic: string, handler: Handler, options: { othersOnly?: boolean } = {}): () => void {
    const set = this.handlers.get(topic) ?? new Set();
    const subscription = { handler, othersOnly: options.othersOnly ?? false };
    set.add(subscription);
    this.handlers.set(topic, set);
    return () => set.delete(subscription);
  }

  /** Sends to every replica; in a transaction (`db`), once it commits. */
  async publish(topic: string, payload: Record<string, unknown> = {}, db: Database = this.db): Promise<void> {
    const message = JSON.stringify({ topic, from: this.id, payload });
    if (Buffer.byteLength(message) > MAX_MESSAGE_BYTES)
      throw new RangeError(`cluster message ${topic} is larger than ${MAX_MESSAGE_BYTES} bytes`);
    await db.raw('select pg_notify(?, ?)', [CHANNEL, message]);
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.listen();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  private async listen(): Promise<void> {
    const connection = this.db.client.config.connection as string | pg.ClientConfig;
    const client = new pg.Client(
      typeof connection === 'string' ? { connectionString: connection } : connection,
    );
    client.on('notification', (n) => {
      if (n.channel === CHANNEL && n.payload) this.deliver(n.payload);
    });
    const lost = (err?: Error) => {
      if (this.client !== client) return;
      this.client = undefined;
      client.end().catch(() => {});
      this.logger.warn({ err: err?.message }, 'cluster channel lost; listening again');
      this.reconnect();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (err) {
      client.end().catch(() => {});
      throw err;
    }
    this.client = client;
  }

  /** Listens again, then everyone reloads what a missed message would have told them. */
  private reconnect() {
    if (this.stopped) return;
    this.retry = setTimeout(() => {
      this.listen()
        .then(() => this.emit('resync', {}))
        .catch((err) => {
          this.logger.warn({ err: (err as Error).message }, 'cluster channel: could not listen again');
          this.reconnect();
        });
    }, 500);
  }

  private deliver(raw: string) {
    let message: { topic: string; from: string; payload: Record<string, unknown> };
    try {
      message = JSON.parse(raw);
    } catch {
      return;
    }
    this.emit(message.topic, message.payload, message.from !== this.id);
  }

  private emit(topic: string, payload: Record<string, unknown>, fromOther = false) {
    for (const { handler, othersOnly } of this.handlers.get(topic) ?? []) {
      if (othersOnly && !fromOther) continue;
      try {
        handler(payload);
      } catch (err) {
        this.logger.error({ err, topic }, 'a cluster message handler failed');
      }
    }
  }
}
