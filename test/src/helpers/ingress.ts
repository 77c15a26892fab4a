import { request } from 'node:http';
import { scaled } from './time.js';

/** A GET through the ingress with a given Host header (no DNS needed), as a browser would send it. */
export function viaIngress(
  port: number,
  host: string,
  path = '/',
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // A fresh connection each time: a reused keep-alive socket may have been closed by a reload.
    const req = request(
      { host: '127.0.0.1', port, path, headers: { host }, timeout: scaled(5000), agent: false },
      (res) => {
        let body = '';
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('ingress request timed out')));
    req.on('error', reject);
    req.end();
  });
}
