import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { ClaimHolder, RuntimeOwner } from '@nullops/plugin-sdk';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Whose agent this process is — the control plane's installation and the node — and which process
 * it is. Runtimes label everything they make with the owner and touch nothing without it; until
 * the control plane (or the agent's state) has said who the owner is, they make nothing.
 */
export class AgentIdentity {
  private current: RuntimeOwner | undefined;
  /** This process, as it claims the node's resources on the engine or cluster. */
  readonly holder: ClaimHolder = {
    instance: randomUUID(),
    pid: process.pid,
    host: hostname(),
    since: Date.now(),
  };

  constructor(owner?: RuntimeOwner) {
    this.current = owner;
  }

  get owner(): RuntimeOwner | undefined {
    return this.current;
  }

  /** The owner, for runtimes: refused while nobody has said it. */
  require(): RuntimeOwner {
    if (!this.current)
      throw new Error('this agent does not know its node yet: it waits for the control plane to connect');
    return this.current;
  }

  /** Takes the owner the control plane named; true when it is new to this agent. */
  adopt(owner: RuntimeOwner): boolean {
    const same =
      this.current?.installationId === owner.installationId && this.current?.nodeId === owner.nodeId;
    this.current = owner;
    return !same;
  }

  /** `<installation id>/<node id>` (the control plane's identity header), or undefined. */
  static parse(header: string | undefined): RuntimeOwner | undefined {
    const [installationId, nodeId, ...rest] = (header ?? '').split('/');
    if (rest.length || !installationId || !nodeId || !UUID.test(installationId) || !UUID.test(nodeId))
      return undefined;
    return { installationId, nodeId };
  }

  static format(owner: RuntimeOwner): string {
    return `${owner.installationId}/${owner.nodeId}`;
  }
}
