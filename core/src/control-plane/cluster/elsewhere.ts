import type { Replica } from './replicas.js';

/**
 * The work needs a node's link, and another live replica holds it: an outbox effect is handed to
 * that replica, an API request relayed to it.
 */
export class ElsewhereError extends Error {
  constructor(
    readonly nodeId: string,
    readonly replicaId: string,
    /** Where it is reached, as it said in the database (if it is still live). */
    readonly replica: Replica | undefined,
  ) {
    super(`node ${nodeId} is linked by another control-plane replica (${replicaId})`);
    this.name = 'ElsewhereError';
  }
}
