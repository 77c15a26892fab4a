import { inject, injectable } from '@nullops/kernel';
import type { Logger } from 'pino';
import { ClusterBus } from '../cluster/cluster-bus.js';
import { ElsewhereError } from '../cluster/elsewhere.js';
import { NodeLeases } from '../cluster/node-leases.js';
import { Replicas } from '../cluster/replicas.js';
import type { ControlPlaneConfig } from '../config.js';
import type { Database } from '../database/database.js';
import { Transitions } from '../deployments/transitions.js';
import { Installation } from '../installation.js';
import { AgentNode } from '../models/fleet.js';
import { Outbox } from '../outbox/outbox.js';
import { Refs } from '../refs.js';
import type { SecretBox } from '../security/secret-box.js';
import { AgentEvents } from './agent-events.js';
import { AgentLink } from './agent-link.js';
import { DialGate } from './dial-gate.js';
import { HeartbeatRecorder } from './heartbeat-recorder.js';
import { NodeLink } from './node-link.js';
import { NodeLosses } from './node-losses.js';

/** Outbox topic: re-read a node after a committed change of its settings. */
const REFRESH_TOPIC = 'node.refresh';

/**
 * Keeps one connection to every enabled node. The control plane dials the agents (they are the
 * servers), pins their certificate on first contact, checks the protocol version, announces every
 * connect (`node.connected`, on which the node is sent its plugins and desired state), records
 * heartbeats, and retries lost connections forever with backoff until the node is disabled.
 *
 * With several replicas on one database, each node is linked by one of them: the one rendezvous
 * hashing picks among the live replicas, holding the node's lease. When replicas come or go, the
 * nodes that move are handed over quietly (their deployments stay as they are) and the new holder
 * dials them.
 */
@injectable()
export class AgentConnectionManager {
  private readonly links = new Map<string, NodeLink>();
  private stopped = false;
  readonly heartbeats: HeartbeatRecorder;
  /** Whether anyone is told of nodes going offline and coming back (NodeNotifications says). */
  notifiesNodes: () => boolean = () => true;
  /** Nodes found unusable, written together when they come together. */
  readonly losses: NodeLosses;
  /** Connections being made at once (NULLOPS_AGENT_DIAL_CONCURRENCY). */
  readonly dialGate: DialGate;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    @inject(Refs.database) readonly db: Database,
    @inject(Refs.secretBox) readonly box: SecretBox,
    @inject(Refs.logger) readonly logger: Logger,
    @inject(Refs.config) readonly config: ControlPlaneConfig,
    @inject(AgentEvents) readonly events: AgentEvents,
    @inject(Outbox) readonly outbox: Outbox,
    @inject(Transitions) readonly transitions: Transitions,
    @inject(Installation) readonly installation: Installation,
    @inject(Replicas) readonly replicas: Replicas,
    @inject(NodeLeases) readonly leases: NodeLeases,
    @inject(ClusterBus) private readonly bus: ClusterBus,
  ) {
    this.heartbeats = new HeartbeatRecorder(db, logger);
    this.dialGate = new DialGate(config.NULLOPS_AGENT_DIAL_CONCURRENCY);
    this.losses = new NodeLosses({
      db,
      outbox,
      transitions,
      notifiesNodes: () => this.notifiesNodes(),
    });
  }

  async start(): Promise<void> {
    // A node's settings changed: the replica that links it (whichever ran the effect) acts.
    this.outbox.handle(REFRESH_TOPIC, (payload) => this.bus.publish(REFRESH_TOPIC, payload));
    this.unsubscribe.push(
      this.bus.on(REFRESH_TOPIC, (payload) => {
        const nodeId = payload.nodeId as string;
        if (this.links.has(nodeId) || this.replicas.owns(nodeId))
          void this.refresh(nodeId, { reconnect: payload.reconnect === true });
      }),
      this.bus.on('resync', () => void this.rebalance()),
    );
    const rebalance = () => void this.rebalance();
    this.replicas.on('changed', rebalance);
    this.unsubscribe.push(() => this.replicas.off('changed', rebalance));
    await this.rebalance();
  }

  /** Links the nodes this replica owns now, and hands over those it no longer does. */
  private async rebalance(): Promise<void> {
    if (this.stopped) return;
    const nodes = await AgentNode.query(this.db).select('id');
    for (const { id } of nodes) {
      if (this.replicas.owns(id)) void this.refresh(id);
      else this.links.get(id)?.handOver();
    }
  }

  /**
   * Re-reads a node after a change and acts on it. `reconnect` drops an open connection so it is
   * made again (a new address, a new token); other changes (enabled, name, labels) keep it:
   * disabling a node stops placements only, its link and deployments go on.
   */
  async refresh(nodeId: string, options: { reconnect?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    const link = this.links.get(nodeId);
    if (!link) {
      const created = new NodeLink(nodeId, this);
      this.links.set(nodeId, created);
      let failed = false;
      created.done = created
        .run()
        .catch((err) => {
          failed = !this.stopped;
          if (failed)
            this.logger.error({ err, node: nodeId }, 'node connection loop failed; starting it again');
        })
        .finally(() => {
          if (this.links.get(nodeId) === created) this.links.delete(nodeId);
          // Failed (the database out of reach for a while): it starts again, so that no node is
          // left unlinked until the next restart.
          if (failed) setTimeout(() => void this.refresh(nodeId), 500 + Math.random() * 1000).unref();
        });
      return;
    }
    link.wake(options.reconnect ?? false);
  }

  /** Queues `refresh` in the transaction that changes the node: it runs once that has committed. */
  refreshLater(db: Database, nodeId: string, options: { reconnect?: boolean } = {}): Promise<void> {
    return this.outbox.add(db, REFRESH_TOPIC, `node:${nodeId}`, {
      nodeId,
      ...(options.reconnect ? { reconnect: true } : {}),
    });
  }

  /** The open link to a node, when this replica holds it. */
  linkOf(nodeId: string): AgentLink | undefined {
    return this.links.get(nodeId)?.current;
  }

  /**
   * The open link to a node for work that must reach it: this replica's, or — when another live
   * replica holds the node — an `ElsewhereError` naming that replica (an outbox effect is then
   * handed to it, a request relayed to it). Undefined when nobody holds it: the node is offline.
   */
  async linkFor(nodeId: string): Promise<AgentLink | undefined> {
    const local = this.linkOf(nodeId);
    if (local) return local;
    const holder = await this.leases.holderOf(nodeId);
    if (holder && holder !== this.replicas.id && this.replicas.isLive(holder))
      throw new ElsewhereError(nodeId, holder, this.replicas.member(holder));
    return undefined;
  }

  /** Closes every connection and waits for the loops to finish, so no write outlives the database. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const off of this.unsubscribe) off();
    const links = [...this.links.values()];
    for (const link of links) link.stop();
    await Promise.race([Promise.all(links.map((l) => l.done)), new Promise((r) => setTimeout(r, 5000))]);
    await this.heartbeats.stop();
  }
}
