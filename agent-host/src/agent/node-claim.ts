import { AGENT_IDENTITY_HEADER, type Runtime } from '@nullops/plugin-sdk';
import type { Logger } from 'pino';
import { AgentIdentity } from './agent-identity.js';
import type { AgentState } from './state-store.js';

/** How often an agent says it still holds its node's resources, and when silence frees them. */
const CLAIM_RENEW_MS = 10_000;
const CLAIM_STALE_MS = 30_000;

/** Another live agent process holds this node's resources: this one must not touch them. */
export class ClaimRefused extends Error {}

/**
 * Whose agent this is, and its claim on that node's resources on the engine or cluster: only one
 * agent process may keep them (two would both recreate, both remove). The owner is learnt from the
 * control plane on connect (or known before, for the embedded agent), claimed before anything
 * runs, and the claim renewed while the agent runs.
 */
export class NodeClaim {
  private renewal: NodeJS.Timeout | undefined;
  /** Set by release: an owner learnt on a connection still being accepted then starts nothing. */
  private released = false;

  constructor(
    private readonly deps: {
      runtime: Runtime;
      identity: AgentIdentity;
      state: AgentState;
      logger: Logger;
      /** This process must stop: another one holds the node. */
      fatal: (message: string) => void;
      /** The owner is known and claimed: the agent's own work may begin. */
      owned: () => void;
      /** Keeps the agent's state (its owner) on disk. */
      save: () => Promise<void>;
    },
  ) {}

  /** Claims the node now, or fails (ClaimRefused when another process holds it). */
  async claim(): Promise<void> {
    const { runtime, identity } = this.deps;
    const result = await runtime.claim(identity.holder, CLAIM_STALE_MS);
    if (!result.held)
      throw new ClaimRefused(
        `another agent process holds the resources of node ${identity.owner?.nodeId} on this ${runtime.engine} (${result.by}): two agents with one node's token would fight over its deployments. Stop the other one, or give this agent its own node and token.`,
      );
  }

  /** Begins the agent's work and the claim's renewal, once; a no-op after `release`. */
  start(): void {
    if (this.renewal || this.released) return;
    this.deps.owned();
    this.renewal = setInterval(
      () =>
        void this.claim().catch((err: Error) => {
          // A failed renewal that is not a refusal (the engine briefly unreachable) is tried again.
          if (err instanceof ClaimRefused) this.deps.fatal(err.message);
          else this.deps.logger.warn({ err: err.message }, 'could not renew this agent’s claim on its node');
        }),
      CLAIM_RENEW_MS,
    );
    this.renewal.unref();
  }

  /**
   * The control plane named this agent's owner on connect (its identity header): adopted and
   * claimed before anything runs. Answers why the connection is refused, or undefined.
   */
  async learn(header: string | undefined): Promise<string | undefined> {
    const { identity, state, logger } = this.deps;
    const owner = AgentIdentity.parse(header);
    if (!owner) return `no ${AGENT_IDENTITY_HEADER} header: the control plane is older than this agent`;
    if (!identity.adopt(owner)) return undefined;
    if (state.owner)
      logger.warn(
        { before: state.owner, now: owner },
        'this agent now works for another node; what it made for the previous one is left alone',
      );
    state.owner = owner;
    try {
      await this.claim();
    } catch (err) {
      // Refused: another process holds the node. Otherwise the runtime did not answer: the
      // control plane will dial again.
      if (err instanceof ClaimRefused) this.deps.fatal(err.message);
      return `could not claim this node's resources: ${(err as Error).message}`;
    }
    await this.deps.save();
    this.start();
    return undefined;
  }

  /** Stops renewing and frees the node at once for the next agent process (a clean stop). */
  async release(): Promise<void> {
    this.released = true;
    clearInterval(this.renewal);
    if (this.deps.identity.owner) await this.deps.runtime.release(this.deps.identity.holder).catch(() => {});
  }
}
