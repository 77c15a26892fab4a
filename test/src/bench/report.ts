import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { resolve } from 'node:path';

const FILE = resolve('docs/benchmarks.md');

/**
 * Writes one measure's section of docs/benchmarks.md, between its own markers, keeping the other
 * measures' sections as their last run left them (each part of `npm run bench` runs on its own).
 */
export async function writeSection(part: string, markdown: string): Promise<void> {
  const start = `<!-- bench:${part} -->`;
  const end = `<!-- /bench:${part} -->`;
  let text = await readFile(FILE, 'utf8').catch(() => '# Benchmarks\n');
  const block = `${start}\n${markdown.trim()}\n${end}`;
  const at = text.indexOf(start);
  if (at >= 0) text = text.slice(0, at) + block + text.slice(text.indexOf(end, at) + end.length);
  else text = `${text.trimEnd()}\n\n${block}\n`;
  await writeFile(FILE, text);
  process.stdout.write(`${markdown.trim()}\n\n(written to ${FILE})\n`);
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
export const today = () => new Date().toISOString().slice(0, 10);

/** Whether a published port answers HTTP 200 now (the baselines' "it is up"). */
export function answers(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const req = request({ host: '127.0.0.1', port, path: '/', timeout: 1000 }, (res) => {
      res.resume();
      ok(res.statusCode === 200);
    });
    req.on('error', () => ok(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}
