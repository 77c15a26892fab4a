/**
 * The work needs a node's link, and another live replica holds it: an outbox effect is handed to
 * that replica, an API request relayed to its address.
 */
export class ElsewhereError extends Error {
  constructor(
    readonly nodeId: string,
    readonly replicaId: string,
    readonly address: string | undefined,
  ) {
    super(`node ${nodeId} is linked by another control-plane replica (${replicaId})`);
    this.name = 'ElsewhereError';
  }
}
