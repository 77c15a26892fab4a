// Local typing of koa-websocket. @types/koa-websocket augments Koa's global Context with a
// `websocket` field, which breaks every non-WebSocket handler's types; we only need this much.
declare module 'koa-websocket' {
  import type { IncomingMessage } from 'node:http';
  import type { ServerOptions as HttpsOptions } from 'node:https';
  import type Koa from 'koa';
  import type { ServerOptions, WebSocket, WebSocketServer } from 'ws';

  interface WebSocketContext extends Koa.Context {
    websocket: WebSocket;
    request: Koa.Request & { req?: IncomingMessage };
  }
  interface KoaWebSocketServer {
    server?: WebSocketServer;
    /** Creates the WebSocket server (e.g. with `noServer: true`, fed through `handleUpgrade`). */
    listen(options: ServerOptions): void;
    use(middleware: (ctx: WebSocketContext, next: () => Promise<void>) => unknown): KoaWebSocketServer;
  }
  type WebSocketApp = Koa & { ws: KoaWebSocketServer };
  export default function websockify(
    app: Koa,
    wsOptions?: ServerOptions,
    httpsOptions?: HttpsOptions,
  ): WebSocketApp;
}
