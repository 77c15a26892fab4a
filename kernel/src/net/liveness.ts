import type WebSocket from 'ws';

export interface LivenessOptions {
  /** How often to ping when nothing else was heard. */
  intervalMs: number;
  /** Silence (no message, no pong) after which the peer is taken as gone. */
  timeoutMs: number;
  /** Called once, just before the socket is terminated for silence. */
  onSilent?: (silentMs: number) => void;
}

/**
 * Keeps a WebSocket honest about its peer. A silent partition (packets dropped, sockets still
 * open) or a stopped process sends no FIN and no RST: TCP would wait for minutes. So: ping when
 * nothing was heard for `intervalMs` (a peer that talks — heartbeats, answers — is not pinged: at
 * ten thousand links every frame counts), count any frame from the peer (a message, a ping or a
 * pong) as a sign of life, and after
 * `timeoutMs` of silence terminate the socket — its `close` event then tells the owner the peer is
 * lost, as for any other disconnect. Both sides run it: each must notice on its own.
 */
export function watchLiveness(ws: WebSocket, options: LivenessOptions): () => void {
  let lastHeard = Date.now();
  const heard = () => {
    lastHeard = Date.now();
  };
  ws.on('message', heard);
  ws.on('pong', heard);
  ws.on('ping', heard);
  const every = Math.min(options.intervalMs, Math.max(100, Math.floor(options.timeoutMs / 3)));
  const timer = setInterval(() => {
    const silent = Date.now() - lastHeard;
    if (silent >= options.timeoutMs) {
      stop();
      options.onSilent?.(silent);
      ws.terminate();
      return;
    }
    if (silent >= every && ws.readyState === ws.OPEN) ws.ping();
    // Looked at twice per interval: a peer last heard just after a look is pinged half an
    // interval late, not a whole one.
  }, every / 2);
  timer.unref();
  const stop = () => {
    clearInterval(timer);
    ws.off('message', heard);
    ws.off('pong', heard);
    ws.off('ping', heard);
  };
  ws.once('close', stop);
  return stop;
}
