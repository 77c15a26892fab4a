import type { ApiClient } from './api-client.js';

export interface SseEvent {
  event: string;
  data: any;
}

/**
 * Reads a server-sent event stream of the API as `client`, collecting every event (data parsed
 * as JSON) until closed.
 */
export async function openEvents(client: ApiClient, path: string) {
  const auth = (client as unknown as { auth: { cookie?: string; bearer?: string } }).auth;
  const controller = new AbortController();
  const res = await fetch(`${client.baseUrl}${path}`, {
    headers: {
      ...(auth.cookie ? { cookie: auth.cookie } : {}),
      ...(auth.bearer ? { authorization: `Bearer ${auth.bearer}` } : {}),
    },
    signal: controller.signal,
  });
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  const events: SseEvent[] = [];
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  let buffer = '';
  /** Settles when the stream ends: the server closed it (or it was aborted here). */
  const ended = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += Buffer.from(value).toString();
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data !== undefined) events.push({ event, data: JSON.parse(data) });
        }
      }
    } catch {
      // aborted
    }
  })();
  return { events, ended, close: () => controller.abort() };
}
