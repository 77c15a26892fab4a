import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { createSelfSignedIdentity, inject, injectable, type TlsIdentity } from '@nullops/kernel';
import type { Logger } from 'pino';
import type { ControlPlaneConfig } from '../config.js';
import type { Database } from '../database/database.js';
import { Refs } from '../refs.js';
import { ClusterBus } from './cluster-bus.js';
import { RelayListener } from './relay-listener.js';
import { ownerOf } from './rendezvous.js';

/** Bus topic: a replica joined or left (everyone looks again at once, not at its next beat). */
const MEMBERSHIP_TOPIC = 'replicas.changed';

export interface Replica {
  id: string;
  /** Where it takes relayed requests (https://host:port), once it listens. */
  address: string | null;
  /** The thumbprint of the certificate it made at start: pinned by the others, both ways. */
  thumbprint: string | null;
}

/**
 * The control-plane replicas sharing this database, and this one among them. Each says it is alive
 * every heartbeat (on the database's clock, so replicas' clocks need not agree); one silent for
 * the replica timeout is dead, and the live ones share its work: the nodes whose links it held
 * (rendezvous hashing over the live replicas), and its outbox effects. A replica that stops
 * cleanly leaves at once. Its heartbeat also renews the leases of the node links it holds.
 */
@injectable()
export class Replicas extends EventEmitter<{ changed: [] }> {
  /** This replica: new at every start, so a restarted process never inherits a dead one's claims. */
  readonly id: string;
  /** Where other replicas relay requests to this one (its relay listener), once it listens. */
  address: string | null = null;
  /** Its TLS identity for relays, made at every start (as the id is). */
  identity: TlsIdentity | undefined;
  private relayHandler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  private readonly relayListener = new RelayListener();
  private live: Replica[] = [];
  private lookedAgainAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    @inject(Refs.database) private readonly db: Database,
    @inject(Refs.config) private readonly config: ControlPlaneConfig,
    @inject(Refs.logger) private readonly logger: Logger,
    @inject(ClusterBus) private readonly bus: ClusterBus,
  ) {
    super();
    this.id = bus.id;
  }

  /** The replica timeout as a PostgreSQL interval expression's seconds. */
  get timeoutSeconds(): number {
    return this.config.NULLOPS_REPLICA_TIMEOUT_MS / 1000;
  }

  /** Serves requests the other replicas relay here with `handler` (the API's), once started. */
  serveRelays(handler: (req: IncomingMessage, res: ServerResponse) => void): void {
    this.relayHandler = handler;
  }

  async start(): Promise<void> {
    this.identity = await createSelfSignedIdentity({
      commonName: `nullops-replica ${this.id}`,
      dnsName: 'nullops-replica',
      usages: ['serverAuth', 'clientAuth'],
      validDays: 3650,
    });
    if (this.relayHandler) {
      const port = await this.relayListener.start({
        identity: this.identity,
        host: this.config.NULLOPS_LISTEN_HOST,
        port: this.config.NULLOPS_REPLICA_PORT,
        handler: this.relayHandler,
        isReplica: (thumbprint) => this.isReplicaThumbprint(thumbprint),
      });
      const listen = this.config.NULLOPS_LISTEN_HOST;
      const anyHost = !listen || listen === '0.0.0.0' || listen === '::';
      const host = this.config.NULLOPS_REPLICA_HOST ?? (anyHost ? hostname() : listen);
      this.address = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
    }
    // No two live processes listen at one address: a row with ours is a predecessor that crashed
    // here (kill -9, a restarted pod, with a fixed NULLOPS_REPLICA_PORT). Gone now, rather than
    // after the replica timeout.
    if (this.address) await this.db('control_plane_replicas').where({ address: this.address }).delete();
    await this.db('control_plane_replicas').insert(this.row);
    this.unsubscribe = this.bus.on(MEMBERSHIP_TOPIC, () => void this.beat());
    await this.beat();
    this.timer = setInterval(() => void this.beat(), this.config.NULLOPS_REPLICA_HEARTBEAT_MS);
    this.timer.unref();
    await this.bus.publish(MEMBERSHIP_TOPIC).catch(() => {});
  }

  /** Leaves: its node links and outbox claims are free for the others at once. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.unsubscribe?.();
    await this.beating;
    await this.db('node_link_leases').where({ replicaId: this.id }).delete();
    await this.db('outbox')
      .where({ claimedBy: this.id })
      .update({ claimedBy: null, availableAt: this.db.fn.now() });
    await this.db('control_plane_replicas').where({ id: this.id }).delete();
    await this.bus.publish(MEMBERSHIP_TOPIC).catch(() => {});
    await this.relayListener.stop();
  }

  /** This replica's row. */
  private get row(): Replica {
    return { id: this.id, address: this.address, thumbprint: this.identity?.thumbprint ?? null };
  }

  /**
   * Whether a relaying client's certificate is a live replica's. An unknown one may be a replica
   * that just started: the members are looked up again, at most once a second (a stranger knocking
   * must not cost a database round trip per request).
   */
  private async isReplicaThumbprint(thumbprint: string): Promise<boolean> {
    const known = () => this.live.some((r) => r.thumbprint === thumbprint && r.id !== this.id);
    if (known() || Date.now() - this.lookedAgainAt < 1000) return known();
    this.lookedAgainAt = Date.now();
    await this.beat();
    return known();
  }

  /** The live replicas, this one included, in a stable order. */
  get members(): readonly Replica[] {
    return this.live;
  }

  isLive(id: string): boolean {
    return this.live.some((r) => r.id === id);
  }

  /** A live replica, as it said in the database. */
  member(id: string): Replica | undefined {
    return this.live.find((r) => r.id === id);
  }

  /** Whether this replica is the one to hold `key` (a node's link) among the live replicas. */
  owns(key: string): boolean {
    return (
      ownerOf(
        key,
        this.live.map((r) => r.id),
      ) === this.id
    );
  }

  /** One heartbeat; concurrent calls share it. */
  beat(): Promise<void> {
    this.beating ??= this.heartbeat()
      .catch((err) => this.logger.warn({ err: (err as Error).message }, 'replica heartbeat failed'))
      .finally(() => {
        this.beating = undefined;
      });
    return this.beating;
  }

  private async heartbeat(): Promise<void> {
    const { db } = this;
    const alive = await db('control_plane_replicas')
      .where({ id: this.id })
      .update({ heartbeatAt: db.fn.now() });
    // Silent so long that others counted it dead (a stopped process, a lost database): it comes
    // back as itself; what it held was taken and is checked by its holders.
    if (!alive) await db('control_plane_replicas').insert(this.row);
    await db('node_link_leases')
      .where({ replicaId: this.id })
      .update({ expiresAt: db.raw('now() + make_interval(secs => ?)', [this.timeoutSeconds]) });
    const rows: Replica[] = await db('control_plane_replicas')
      .where('heartbeatAt', '>', db.raw('now() - make_interval(secs => ?)', [this.timeoutSeconds]))
      .orderBy('id')
      .select('id', 'address', 'thumbprint');
    // Long gone: forgotten (a row is only a few bytes, but a fleet restarts every day).
    await db('control_plane_replicas')
      .where('heartbeatAt', '<', db.raw('now() - make_interval(secs => ?)', [this.timeoutSeconds * 100]))
      .delete();
    const before = this.live.map((r) => r.id).join();
    this.live = rows;
    if (rows.map((r) => r.id).join() !== before) {
      this.logger.info({ replicas: rows.length }, 'control-plane replicas changed');
      this.emit('changed');
    }
  }
}
