import { EventEmitter } from 'node:events';
import { inject, injectable } from '@nullops/kernel';
import type { Logger } from 'pino';
import type { ControlPlaneConfig } from '../config.js';
import type { Database } from '../database/database.js';
import { Refs } from '../refs.js';
import { ClusterBus } from './cluster-bus.js';
import { ownerOf } from './rendezvous.js';

/** Bus topic: a replica joined or left (everyone looks again at once, not at its next beat). */
const MEMBERSHIP_TOPIC = 'replicas.changed';

export interface Replica {
  id: string;
  address: string | null;
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
  /** Where other replicas reach this one's API (set once it listens). */
  address: string | null = null;
  private live: Replica[] = [];
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

  async start(): Promise<void> {
    this.address ??= this.config.NULLOPS_REPLICA_ADDRESS ?? null;
    // No two live processes listen at one address: a row with ours is a predecessor that crashed
    // here (kill -9, a restarted pod). Gone now, rather than after the replica timeout.
    if (this.address) await this.db('control_plane_replicas').where({ address: this.address }).delete();
    await this.db('control_plane_replicas').insert({ id: this.id, address: this.address });
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
  }

  /** The live replicas, this one included, in a stable order. */
  get members(): readonly Replica[] {
    return this.live;
  }

  isLive(id: string): boolean {
    return this.live.some((r) => r.id === id);
  }

  addressOf(id: string): string | undefined {
    return this.live.find((r) => r.id === id)?.address ?? undefined;
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
      .update({ heartbeatAt: db.fn.now(), address: this.address });
    // Silent so long that others counted it dead (a stopped process, a lost database): it comes
    // back as itself; what it held was taken and is checked by its holders.
    if (!alive) await db('control_plane_replicas').insert({ id: this.id, address: this.address });
    await db('node_link_leases')
      .where({ replicaId: this.id })
      .update({ expiresAt: db.raw('now() + make_interval(secs => ?)', [this.timeoutSeconds]) });
    const rows: Replica[] = await db('control_plane_replicas')
      .where('heartbeatAt', '>', db.raw('now() - make_interval(secs => ?)', [this.timeoutSeconds]))
      .orderBy('id')
      .select('id', 'address');
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
