import { PassThrough } from 'node:stream';
import type Koa from 'koa';

export const SSE_HEADERS = { 'cache-control': 'no-cache', 'x-accel-buffering': 'no' };

/** A server-sent-events response: named events with JSON data, a keep-alive comment, cleanup on close. */
export function sse(ctx: Koa.Context) {
  const body = new PassThrough();
  ctx.req.socket.setTimeout(0);
  ctx.req.socket.setNoDelay(true);
  const closers: (() => void)[] = [];
  // Unref'd: a keep-alive tick must never be what keeps a stopping process alive.
  const keepAlive = setInterval(() => body.write(': keep-alive\n\n'), 15_000).unref();
  // Said at once, so the response (and its headers) starts now: a stream with nothing to tell
  // yet is open for the client right away, not at the first event or keep-alive.
  body.write(': open\n\n');
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(keepAlive);
    for (const fn of closers) fn();
    body.end();
  };
  ctx.req.on('close', close);
  // The client may have gone while the handler was still reading (its 'close' already fired).
  if (ctx.req.destroyed || ctx.req.socket.destroyed) close();
  return {
    body,
    send(event: string, data: unknown) {
      if (!closed) body.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    end(event: string, data: unknown) {
      this.send(event, data);
      close();
    },
    onClose(fn: () => void) {
      closers.push(fn);
    },
    /** Ends the stream without a last event (the request failed before it began). */
    close,
  };
}
