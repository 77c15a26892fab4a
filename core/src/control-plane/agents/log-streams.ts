import { randomUUID } from 'node:crypto';
import { type EventSchemas, NotFoundError } from '@nullops/plugin-sdk';
import { inject, injectable } from 'tsyringe';
import type { z } from 'zod';
import type { Deployment } from '../models/fleet.js';
import { AgentEvents } from './agent-events.js';
import { AgentConnectionManager } from './connection-manager.js';

export type LogLine = z.infer<(typeof EventSchemas)['log.line']>;
export type LogEnd = z.infer<(typeof EventSchemas)['log.end']>;

/** States in which a deployment's services have logs worth reading. */
const WITH_LOGS = new Set(['pending', 'deploying', 'running', 'failed']);

/**
 * A service's log, read from the node that runs it: the agent streams lines under a stream id
 * until the reader closes (or the service's log ends).
 */
@injectable()
export class LogStreams {
  constructor(
    @inject(AgentConnectionManager) private readonly agents: AgentConnectionManager,
    @inject(AgentEvents) private readonly events: AgentEvents,
  ) {}

  /** Opens a stream; the returned function closes it (idempotent). */
  async open(
    d: Deployment,
    options: { service: string; follow: boolean; tail: number },
    on: { line: (line: LogLine) => void; end: (end: LogEnd) => void },
  ): Promise<() => void> {
    const link = d.nodeId ? this.agents.linkOf(d.nodeId) : undefined;
    if (!link || !WITH_LOGS.has(d.state))
      throw new NotFoundError(
        `logs of ${d.name} are not available while it is ${d.state}${link ? '' : ' and its node is offline'}`,
      );
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
      this.events.off('log.line', onLine);
      this.events.off('log.end', onEnd);
      void link.request('logs.close', { streamId }).catch(() => {});
    };
    try {
      await link.request('logs.open', { streamId, deploymentId: d.id, ...options });
    } catch (err) {
      close();
      throw err;
    }
    return close;
  }
}
