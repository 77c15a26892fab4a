import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  EventMessageSchema,
  type EventName,
  EventSchemas,
  type RequestMethod,
  RequestSchemas,
  ResponseMessageSchema,
} from '@nullops/plugin-sdk';
import type { Logger } from 'pino';
import type WebSocket from 'ws';
import type { z } from 'zod';

type Result<M extends RequestMethod> = z.infer<(typeof RequestSchemas)[M]['result']>;
type Params<M extends RequestMethod> = z.input<(typeof RequestSchemas)[M]['params']>;

/** A request larger than the agent accepts in one message (its hello says how much). */
export class TooLargeForAgentError extends Error {
  constructor(
    readonly method: string,
    readonly bytes: number,
    readonly maxBytes: number,
  ) {
    super(
      `${method} would be a message of ${kib(bytes)}, more than the node's agent accepts (${kib(maxBytes)}; its NULLOPS_AGENT_MAX_FRAME_BYTES)`,
    );
    this.name = 'TooLargeForAgentError';
  }
}

const kib = (bytes: number) => `${Math.ceil(bytes / 1024)} KiB`;

/** Typed requests and events over an open agent WebSocket; every inbound message is validated. */
export class AgentLink extends EventEmitter {
  private readonly waiting = new Map<
    string,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  readonly closed: Promise<{ code: number; reason: string }>;
  /** The largest message the agent accepts (from its hello; 1 MiB for agents that do not say). */
  maxMessageBytes = 1024 * 1024;

  constructor(
    readonly ws: WebSocket,
    private readonly logger: Logger,
  ) {
    super();
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        for (const [id, w] of this.waiting) {
          clearTimeout(w.timer);
          w.reject(new Error('the agent connection closed'));
          this.waiting.delete(id);
        }
        resolve({ code, reason: reason.toString() });
      });
    });
    ws.on('error', (err) => logger.debug({ err: err.message }, 'agent socket error'));
    ws.on('message', (data) => this.receive(String(data)));
  }

  get isOpen(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  request<M extends RequestMethod>(method: M, params: Params<M>, timeoutMs = 120_000): Promise<Result<M>> {
    const id = randomUUID();
    return new Promise((resolve, reject) => {
      // A request on a socket that already closed would never be answered: fail it now, not at
      // its timeout (the close handler only rejects requests that were waiting when it fired).
      if (!this.isOpen) {
        reject(new Error('the agent connection closed'));
        return;
      }
      // The agent closes a connection that brings it a message above its limit: such a message is
      // refused here instead, and only the request that carries it fails.
      const message = JSON.stringify({ type: 'request', id, method, params });
      const bytes = Buffer.byteLength(message);
      if (bytes > this.maxMessageBytes) {
        reject(new TooLargeForAgentError(method, bytes, this.maxMessageBytes));
        return;
      }
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`the agent did not answer ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        timer,
        reject,
        resolve: (value) => {
          const parsed = RequestSchemas[method].result.safeParse(value);
          if (parsed.success) resolve(parsed.data as Result<M>);
          else reject(new Error(`the agent's answer to ${method} is malformed`));
        },
      });
      this.ws.send(message, (err) => {
        if (!err) return;
        clearTimeout(timer);
        this.waiting.delete(id);
        reject(new Error(`could not send ${method} to the agent: ${err.message}`));
      });
    });
  }

  /** The next event of this name (e.g. the agent's hello). */
  next<E extends EventName>(event: E, timeoutMs: number): Promise<z.infer<(typeof EventSchemas)[E]>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the agent sent no ${event} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.once(event, (data) => {
        clearTimeout(timer);
        resolve(data);
      });
    });
  }

  close(code = 1000, reason = ''): void {
    this.ws.close(code, reason);
  }

  private receive(text: string) {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      this.logger.warn('agent sent malformed JSON');
      return;
    }
    // Most messages are events (a heartbeat from each agent every few seconds): only a message
    // that says it is a response is checked as one (a failed check costs more than a good one).
    const response =
      (message as { type?: unknown } | null)?.type === 'response'
        ? ResponseMessageSchema.safeParse(message)
        : undefined;
    if (response?.success) {
      const waiting = this.waiting.get(response.data.id);
      if (!waiting) return;
      this.waiting.delete(response.data.id);
      clearTimeout(waiting.timer);
      if (response.data.ok) waiting.resolve(response.data.result);
      else waiting.reject(new Error(`agent: ${response.data.error.message}`));
      return;
    }
    const event = EventMessageSchema.safeParse(message);
    const schema = event.success ? EventSchemas[event.data.event as EventName] : undefined;
    const data = schema?.safeParse(event.data?.data);
    if (!event.success || !data?.success) {
      this.logger.warn({ event: event.data?.event }, 'agent sent an unknown or malformed message');
      return;
    }
    this.emit(event.data.event, data.data);
  }
}
