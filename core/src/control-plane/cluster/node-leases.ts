import { inject, injectable } from '@nullops/kernel';
import type { Database } from '../database/database.js';
import { Refs } from '../refs.js';
import { Replicas } from './replicas.js';

/**
 * Who holds each node's link: a lease row per node, taken by one replica, renewed with its
 * heartbeat (`Replicas`), and free again when it ends — released, or not renewed for the replica
 * timeout. A node's agent takes one control-plane connection at a time (a new one replaces the
 * old), so two replicas dialling it would take it from each other forever: the lease makes one.
 */
@injectable()
export class NodeLeases {
  constructor(
    @inject(Refs.database) private readonly db: Database,
    @inject(Replicas) private readonly replicas: Replicas,
  ) {}

  /**
   * Takes (or keeps) the node's lease for this replica; false when another live replica holds it.
   * A lease runs out, and a replica counted dead holds none (it is dead for the same silence).
   */
  async acquire(nodeId: string): Promise<boolean> {
    const result = await this.db.raw(
      `insert into node_link_leases (node_id, replica_id, expires_at)
       values (?, ?, now() + make_interval(secs => ?))
       on conflict (node_id) do update set replica_id = excluded.replica_id, expires_at = excluded.expires_at
       where node_link_leases.replica_id = excluded.replica_id or node_link_leases.expires_at < now()
         or not (node_link_leases.replica_id = any(?::uuid[]))
       returning node_id`,
      [nodeId, this.replicas.id, this.replicas.timeoutSeconds, this.replicas.members.map((r) => r.id)],
    );
    return result.rows.length === 1;
  }

  /** Whether this replica still holds the node's lease. */
  async holds(nodeId: string): Promise<boolean> {
    return (await this.holderOf(nodeId)) === this.replicas.id;
  }

  /** The replica holding the node's link now, if any. */
  async holderOf(nodeId: string): Promise<string | undefined> {
    const row = await this.db('node_link_leases')
      .where({ nodeId })
      .where('expiresAt', '>', this.db.fn.now())
      .first('replicaId');
    return row?.replicaId;
  }

  async release(nodeId: string): Promise<void> {
    await this.db('node_link_leases').where({ nodeId, replicaId: this.replicas.id }).delete();
  }
}
