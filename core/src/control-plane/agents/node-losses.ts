import type { Database } from '../database/database.js';
import { statesFor } from '../deployments/lifecycle.js';
import type { Transitions } from '../deployments/transitions.js';
import { AgentNode, Deployment, type NodeStatus, SERVING_NODE_STATES } from '../models/fleet.js';
import type { Outbox } from '../outbox/outbox.js';

/** Outbox topic: tell plugins' node notifiers (administrators) that a node went or came back. */
export const NODE_NOTIFY_TOPIC = 'node.notify';

/** One node found unusable: the status and message it gets, and other columns to set with them. */
export interface NodeLoss {
  nodeId: string;
  status: NodeStatus;
  message: string;
  extra: Partial<AgentNode>;
  /** Its row has this status and message already: its deployments are seen to, the row is kept. */
  unchanged: boolean;
  /** Checked when its transaction runs: a link stopped meanwhile (handed over, removed) writes nothing. */
  stillWanted: () => boolean;
}

/** Nodes lost in one transaction at most: long enough to matter, short enough to hold few locks long. */
const BATCH = 500;

/**
 * Marks nodes unusable (lost, disabled, untrusted, incompatible): a node's status and its
 * running deployments going offline (their routes removed) are one change, so nobody ever sees an
 * offline node still serving. Losses that come together — a network blip drops ten thousand links
 * at once — are written together: while one transaction runs, the next losses wait and then share
 * the next one, instead of ten thousand transactions queueing for the pool.
 */
export class NodeLosses {
  private waiting: { loss: NodeLoss; done: (err?: unknown) => void }[] = [];
  private running = false;

  constructor(
    private readonly deps: {
      db: Database;
      outbox: Outbox;
      transitions: Transitions;
      notifiesNodes: () => boolean;
    },
  ) {}

  /** Resolves once the loss is committed (or was not wanted any more). */
  record(loss: NodeLoss): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ loss, done: (err) => (err ? reject(err) : resolve()) });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.waiting.length) {
        const batch = this.waiting.splice(0, BATCH);
        try {
          await this.write(batch.map((b) => b.loss).filter((l) => l.stillWanted()));
          for (const b of batch) b.done();
        } catch (err) {
          for (const b of batch) b.done(err);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async write(losses: NodeLoss[]): Promise<void> {
    if (!losses.length) return;
    const { db, outbox, transitions } = this.deps;
    const byNode = new Map(losses.map((l) => [l.nodeId, l]));
    const ids = [...byNode.keys()];
    await db.transaction(async (trx) => {
      // The node rows first (in one order, so two writers never deadlock), as agent reports lock
      // them: a report still in flight from a lost link either lands before this (and is undone
      // here) or sees its node offline.
      const before = await AgentNode.query(trx).whereIn('id', ids).orderBy('id').forUpdate();
      // Administrators hear of a node that was online going away (not of every failed retry).
      if (this.deps.notifiesNodes())
        for (const node of before)
          if ((SERVING_NODE_STATES as readonly string[]).includes(node.status))
            await outbox.add(trx, NODE_NOTIFY_TOPIC, `node:${node.id}`, {
              nodeId: node.id,
              event: 'node.offline',
              at: new Date().toISOString(),
            });
      for (const d of await Deployment.query(trx)
        .whereIn('nodeId', ids)
        .whereIn('state', [...statesFor('node-lost')]))
        await transitions.apply(
          trx,
          d,
          'node-lost',
          { stateMessage: 'node is offline' },
          { message: `node is ${byNode.get(d.nodeId as string)?.status ?? 'offline'}; routes removed` },
        );
      const changed = losses.filter((l) => !l.unchanged);
      const plain = changed.filter((l) => !Object.keys(l.extra).length);
      if (plain.length)
        await trx.raw(
          `update nodes as n set status = v.status, status_message = v.message, updated_at = now()
             from (values ${plain.map(() => '(?::uuid, ?, ?)').join(', ')}) as v(id, status, message)
            where n.id = v.id`,
          plain.flatMap((l) => [l.nodeId, l.status, l.message]),
        );
      for (const l of changed.filter((x) => Object.keys(x.extra).length))
        await AgentNode.query(trx)
          .patch({ status: l.status, statusMessage: l.message, ...l.extra, updatedAt: new Date() })
          .where('id', l.nodeId);
    });
    outbox.wake();
  }
}
