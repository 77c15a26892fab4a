import { randomUUID } from 'node:crypto';
import { inject, injectable } from '@nullops/kernel';
import { type EventSchemas, NotFoundError, RateLimitError } from '@nullops/plugin-sdk';
import type { z } from 'zod';
import type { Deployment } from '../models/fleet.js';
import { AgentEvents } from './agent-events.js';
import { AgentConnectionManager } from './connection-manager.js';

export type LogLine = z.infer<(typeof EventSchemas)['log.line']>;
export type LogEnd = z.infer<(typeof EventSchemas)['log.end']>;

/** States in which a deployment's services have logs worth reading. */
const WITH_LOGS = new Set(['pending', 'deploying', 'running', 'failed']);

/**
 * How many log streams one reader may hold open on one node: a node serves a few dozen at once,
 * and one person (a dashboard left open in many tabs, a script) must not take them all.
 */
export const LOG_STREAMS_PER_READER = 10;

/**
 * A service's log, read from the node that runs it: the agent streams lines under a stream id
 * until the reader closes (or the service's log ends). Each reader holds at most
 * `LOG_STREAMS_PER_READER` streams per node; a stream the agent refuses (its own cap) is closed at
 * once with the agent's reason.
 */
@injectable()
export class LogStreams {
  /** Open streams per reader and node (`<reader>|<node>`). */
  private readonly open_ = new Map<string, number>();

  constructor(
    @inject(AgentConnectionManager) private readonly agents: AgentConnectionManager,
    @inject(AgentEvents) private readonly events: AgentEvents,
  ) {}

  /** Opens a stream for `reader` (a user id); the returned function closes it (idempotent). */
  async open(
    d: Deployment,
    options: { service: string; follow: boolean; tail: number },
    on: { line: (line: LogLine) => void; end: (end: LogEnd) => void },
    reader: string,
  ): Promise<() => void> {
    const link = d.nodeId ? await this.agents.linkFor(d.nodeId) : undefined;
    if (!link || !WITH_LOGS.has(d.state))
      throw new NotFoundError(
        `logs of ${d.name} are not available while it is ${d.state}${link ? '' : ' and its node is offline'}`,
      );
    const slot = `${reader}|${d.nodeId}`;
    const held = this.open_.get(slot) ?? 0;
    if (held >= LOG_STREAMS_PER_READER)
      throw new RateLimitError(
        `you already have ${held} log streams open on this node (at most ${LOG_STREAMS_PER_READER}): close one (a browser tab, a script) first`,
        5,
      );
    this.open_.set(slot, held + 1);
    const streamId = randomUUID();
    const onLine = (_node: string, line: LogLine) => {
      if (line.streamId === streamId) on.line(line);
    };
    const onEnd = (_node: string, end: LogEnd) => {
      if (end.streamId === streamId) on.end(end);
    };
    this.events.on('log.line', onLine);
    this.events.on('log.end', onEnd);
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      const left = (this.open_.get(slot) ?? 1) - 1;
      if (left > 0) this.open_.set(slot, left);
      else this.open_.delete(slot);
      this.events.off('log.line', onLine);
      this.events.off('log.end', onEnd);
      void link.request('logs.close', { streamId }).catch(() => {});
    };
    try {
      const { opened } = await link.request('logs.open', { streamId, deploymentId: d.id, ...options });
      if (!opened)
        throw new RateLimitError(
          'the node is serving as many log streams as it can right now: try again in a moment',
          5,
        );
    } catch (err) {
      close();
      throw err;
    }
    return close;
  }
}
