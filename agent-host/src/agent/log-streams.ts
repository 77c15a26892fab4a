import type { EventName, Runtime } from '@nullops/plugin-sdk';
import type { DeploymentRunner } from './deployment-runner.js';

/** Log streams one node serves at once, for everyone together. */
const MAX_LOG_STREAMS = 50;

/**
 * Service logs streamed to the control plane, each under its stream id until closed, with the
 * deployment's secrets masked. A deployment whose secrets the agent does not know yet (it just
 * restarted; the control plane sends them on its next sync) gets no lines rather than raw ones.
 */
export class LogStreams {
  private readonly streams = new Map<string, AbortController>();

  constructor(
    private readonly deps: {
      runtime: Runtime;
      runner: DeploymentRunner;
      emit: (event: EventName, data: unknown) => void;
    },
  ) {}

  open(params: { streamId: string; deploymentId: string; service: string; follow: boolean; tail: number }): {
    opened: boolean;
  } {
    if (this.streams.size >= MAX_LOG_STREAMS || this.streams.has(params.streamId)) return { opened: false };
    const masker = this.deps.runner.masker(params.deploymentId);
    if (!masker) {
      this.deps.emit('log.end', {
        streamId: params.streamId,
        reason:
          'the node has not heard this deployment’s secrets from the control plane yet, so it shows no lines; try again in a moment',
      });
      return { opened: true };
    }
    const controller = new AbortController();
    this.streams.set(params.streamId, controller);
    void (async () => {
      let reason: string | undefined;
      try {
        const lines = this.deps.runtime.logs(params.deploymentId, params.service, {
          follow: params.follow,
          tail: params.tail,
          signal: controller.signal,
        });
        for await (const line of lines)
          this.deps.emit('log.line', { streamId: params.streamId, ...line, line: masker.mask(line.line) });
      } catch (err) {
        reason = masker.mask(await this.whyNoLogs(params.deploymentId, params.service, err as Error));
      } finally {
        this.streams.delete(params.streamId);
        this.deps.emit('log.end', { streamId: params.streamId, ...(reason ? { reason } : {}) });
      }
    })();
    return { opened: true };
  }

  /** Why a service's logs cannot be read, in words (the engine's own error only when it says more). */
  private async whyNoLogs(deploymentId: string, service: string, err: Error): Promise<string> {
    const state = await this.deps.runtime.inspectService(deploymentId, service).catch(() => undefined);
    if (state?.status === 'missing')
      return `${service} has no container on its node: it has not started yet, or it was removed. Its logs appear once it runs.`;
    if (state?.status === 'stopped')
      return `${service} is stopped${state.reason ? ` (${state.reason})` : ''}: start it to see new lines.`;
    return `the node could not read ${service}'s logs: ${err.message}`;
  }

  close(streamId: string): { closed: boolean } {
    const stream = this.streams.get(streamId);
    stream?.abort();
    return { closed: Boolean(stream) };
  }

  closeAll(): void {
    for (const stream of this.streams.values()) stream.abort();
  }
}
