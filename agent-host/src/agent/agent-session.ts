import {
  type EventName,
  RequestMessageSchema,
  type RequestMethod,
  RequestSchemas,
  type Runtime,
} from '@nullops/plugin-sdk';
import type { Logger } from 'pino';
import type WebSocket from 'ws';
import type { HostMetrics } from './host-metrics.js';

/** What handles the control plane's requests; the agent host supplies it. */
export type RequestHandlers = {
  [M in RequestMethod]: (
    params: (typeof RequestSchemas)[M]['params']['_output'],
  ) => Promise<(typeof RequestSchemas)[M]['result']['_input']>;
};

// More queued requests than this and the control plane is misbehaving: refuse, do not buffer.
const MAX_PENDING = 64;

/**
 * One control-plane connection: says hello, sends heartbeats, and answers requests. Every inbound
 * message is parsed and validated; garbage is answered with an error and never stops the agent.
 */
export class AgentSession {
  private pending = 0;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: WebSocket,
    private readonly deps: {
      runtime: Runtime;
      handlers: RequestHandlers;
      metrics: HostMetrics;
      logger: Logger;
      agentVersion: string;
      protocolVersion: number;
      heartbeatSeconds: number;
      maxMessageBytes: number;
    },
  ) {}

  /**
   * Says hello with what the node offers and whether its runtime answers — measured first, so the
   * control plane never has the node online with its capacity unknown — then beats.
   */
  async start(): Promise<void> {
    this.socket.on('message', (data, isBinary) => this.receive(data as Buffer, isBinary));
    this.socket.on('close', () => this.stop());
    this.socket.on('error', (err) =>
      this.deps.logger.warn({ err: err.message }, 'control plane connection error'),
    );
    const { capacity, runtimeHealth } = await this.measureCapacity();
    this.emit('hello', {
      protocolVersion: this.deps.protocolVersion,
      agentVersion: this.deps.agentVersion,
      runtime: this.deps.runtime.kind,
      capabilities: this.deps.runtime.capabilities,
      maxMessageBytes: this.deps.maxMessageBytes,
      ...(capacity ? { capacity } : {}),
      runtimeHealth,
    });
    this.heartbeat = setInterval(() => void this.sendHeartbeat(), this.deps.heartbeatSeconds * 1000);
  }

  private lastCapacity: { cpuMillicores: number; memoryMb: number } | undefined;

  private async measureCapacity() {
    try {
      this.lastCapacity = await this.deps.runtime.capacity();
      return { capacity: this.lastCapacity, runtimeHealth: { healthy: true } };
    } catch (err) {
      const reason = `the ${this.deps.runtime.engine} does not answer: ${(err as Error).message}`;
      return {
        capacity: this.lastCapacity,
        runtimeHealth: { healthy: false, reason: reason.slice(0, 1000) },
      };
    }
  }

  stop(): void {
    clearInterval(this.heartbeat);
  }

  emit(event: EventName, data: unknown): void {
    if (this.socket.readyState === this.socket.OPEN)
      this.socket.send(JSON.stringify({ type: 'event', event, data }));
  }

  private reply(
    id: string,
    body: { ok: true; result: unknown } | { ok: false; error: { code: string; message: string } },
  ) {
    if (this.socket.readyState === this.socket.OPEN)
      this.socket.send(JSON.stringify({ type: 'response', id, ...body }));
  }

  /** A beat goes out even when the runtime does not answer: it then says so (the node is degraded). */
  private async sendHeartbeat() {
    const { capacity, runtimeHealth } = await this.measureCapacity();
    const services = runtimeHealth.healthy
      ? await this.deps.runtime.usage().catch((err: Error) => {
          this.deps.logger.warn({ err: err.message }, 'could not measure usage for the heartbeat');
          return [];
        })
      : [];
    this.emit('heartbeat', {
      at: new Date().toISOString(),
      capacity: capacity ?? { cpuMillicores: 0, memoryMb: 0 },
      runtimeHealth,
      host: this.deps.metrics.read(),
      services,
    });
  }

  private receive(data: Buffer, isBinary: boolean) {
    let message: unknown;
    try {
      if (isBinary) throw new Error('binary frames are not part of the protocol');
      message = JSON.parse(data.toString('utf8'));
    } catch (err) {
      this.protocolError(`malformed message: ${(err as Error).message}`);
      return;
    }
    const parsed = RequestMessageSchema.safeParse(message);
    if (!parsed.success) {
      this.protocolError('not a request message ({type:"request", id, method, params})');
      return;
    }
    const { id, method, params } = parsed.data;
    const schemas = RequestSchemas[method as RequestMethod];
    if (!schemas) {
      this.reply(id, { ok: false, error: { code: 'unknown_method', message: `unknown method ${method}` } });
      return;
    }
    const input = schemas.params.safeParse(params);
    if (!input.success) {
      this.reply(id, {
        ok: false,
        error: {
          code: 'invalid_params',
          message: input.error.issues
            .map((i) => `${i.path.join('.')}: ${i.message}`)
            .join('; ')
            .slice(0, 1000),
        },
      });
      return;
    }
    if (this.pending >= MAX_PENDING) {
      this.reply(id, {
        ok: false,
        error: { code: 'busy', message: `more than ${MAX_PENDING} requests in flight` },
      });
      return;
    }
    this.pending++;
    const handler = this.deps.handlers[method as RequestMethod] as (p: unknown) => Promise<unknown>;
    handler(input.data)
      .then((result) => this.reply(id, { ok: true, result }))
      .catch((err: Error) => {
        this.deps.logger.error({ err, method }, 'request failed');
        this.reply(id, { ok: false, error: { code: 'failed', message: err.message } });
      })
      .finally(() => this.pending--);
  }

  private protocolError(message: string) {
    this.deps.logger.warn({ reason: message.slice(0, 200) }, 'refused a message from the control plane');
    this.emit('protocol.error', { message: message.slice(0, 500) });
  }
}
