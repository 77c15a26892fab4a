// P5: log lines from a container to a server-sent-events client, through agent and control plane,
// against `docker logs -f` of the same container to nowhere: lines per second delivered, the lag
// of a line (its engine timestamp to its arrival), and the control plane's memory while it flows.
import { spawn } from 'node:child_process';
import { docker, ensureTestImages } from '../helpers/docker.js';
import { type Stack, startStack } from '../helpers/stack.js';
import { today, writeSection } from './report.js';

// A minute: long enough for unbounded buffering to show as growing memory.
const SECONDS = Number(process.env.BENCH_LOG_SECONDS ?? 60);

/** Lines per second `docker logs -f` reads from the container, for SECONDS. */
async function dockerLogsRate(containerId: string): Promise<number> {
  const child = spawn('docker', ['logs', '-f', '--since', '0s', containerId], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let lines = 0;
  child.stdout.on('data', (chunk: Buffer) => {
    for (const byte of chunk) if (byte === 10) lines++;
  });
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  child.kill();
  return lines / SECONDS;
}

/** Lines per second and lag percentiles through the API's log stream, for SECONDS. */
async function apiRate(s: Stack, id: string, token: string) {
  const controller = new AbortController();
  const res = await fetch(`${s.cp.url}/api/deployments/${id}/logs?service=spam&tail=0`, {
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
    signal: controller.signal,
  });
  const lags: number[] = [];
  let lines = 0;
  let peakRss = 0;
  const rssEvery10s: number[] = [];
  let ticks = 0;
  const sampler = setInterval(() => {
    const { rss } = process.memoryUsage();
    peakRss = Math.max(peakRss, rss);
    if (++ticks % 40 === 0) rssEvery10s.push(Math.round(rss / 1048576));
  }, 250);
  const rssStart = process.memoryUsage().rss;
  const reading = (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let at = buffer.indexOf('\n\n');
      while (at >= 0) {
        const event = buffer.slice(0, at);
        buffer = buffer.slice(at + 2);
        const data = event.split('\n').find((l) => l.startsWith('data: '));
        if (event.startsWith('event: log') && data) {
          lines++;
          if (lines % 50 === 0) lags.push(Date.now() - Date.parse(JSON.parse(data.slice(6)).time));
        }
        at = buffer.indexOf('\n\n');
      }
    }
  })().catch(() => {});
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  controller.abort();
  await reading;
  clearInterval(sampler);
  const sorted = lags.sort((a, b) => a - b);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
  return {
    rate: lines / SECONDS,
    p50: q(0.5),
    p99: q(0.99),
    rssGrowthMb: (process.memoryUsage().rss - rssStart) / 1048576,
    peakRssMb: peakRss / 1048576,
    rssEvery10s,
  };
}

export async function logThroughput(): Promise<void> {
  ensureTestImages();
  const s = await startStack({
    prepare: (registry) =>
      registry.pushBuilt(
        'bench/spam',
        'v1',
        'FROM nullops-test/busybox:1\nCMD ["sh", "-c", "i=0; while true; do echo \\"line $i of a log that never stops\\"; i=$((i+1)); done"]\n',
      ),
    services: [{ name: 'spam', image: 'bench/spam', tag: 'v1' }],
    env: { NULLOPS_LOG_LEVEL: 'warn' },
  });
  try {
    await s.savePipeline({
      nodes: [{ id: 'spam', type: 'container.service', params: { service: 'spam', pull: 'missing' } }],
      edges: [],
    });
    const id = await s.deploy('spam');
    await s.until(id, 'running');
    const [container] = await docker.listContainers({ filters: { label: [`dev.nullops.deployment=${id}`] } });
    const { token } = await s.admin.expect(201, 'POST', '/api/auth/tokens', { name: 'logs', access: 'read' });
    const baseline = await dockerLogsRate(container?.Id as string);
    const api = await apiRate(s, id, token);
    await writeSection(
      'p5',
      [
        '## P5 — log streaming',
        '',
        `Measured by \`npm run bench\` (\`BENCH=p5\`) on ${today()}: a container writing lines as fast as it can (a busybox shell loop); ${SECONDS} s each. Baseline: \`docker logs -f\` of the same container, read to nowhere.`,
        '',
        '| reader | lines/s | ratio to baseline | lag p50 | lag p99 | control plane RSS |',
        '|---|---|---|---|---|---|',
        `| \`docker logs -f\` (baseline) | ${Math.round(baseline)} | 1.00 | — | — | — |`,
        `| SSE client ← control plane ← agent ← engine | ${Math.round(api.rate)} | ${(api.rate / baseline).toFixed(2)} | ${api.p50} ms | ${api.p99} ms | peak ${Math.round(api.peakRssMb)} MiB, ${api.rssGrowthMb >= 0 ? '+' : ''}${Math.round(api.rssGrowthMb)} MiB over the run |`,
        '',
        `Control plane RSS every 10 s of the stream (MiB): ${api.rssEvery10s.join(', ')}.`,
      ].join('\n'),
    );
  } finally {
    await s.stop();
  }
}
