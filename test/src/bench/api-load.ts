// P4: API latency under load. 200 concurrent clients (autocannon) on GET /api/deployments with
// 1,000 deployments in the database and on GET /api/deployments/{id}, against the same process's
// /healthz as the baseline (same server, same connections, no database). Then reads while 20
// creates wait on a registry that answers slowly, against the same reads without them: a create
// must hold no database connection while it waits for the registry.

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { startTestControlPlane } from '../helpers/test-control-plane.js';
import { today, writeSection } from './report.js';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 200);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const DEPLOYMENTS = 10_000;
const SLOW_CREATES = 20;
const REGISTRY_DELAY_MS = 3000;

interface Measured {
  label: string;
  p50: number;
  p99: number;
  rps: number;
  errors: number;
  non2xx: number;
}

const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js');

/** autocannon in a process of its own: in ours it would take the CPU the server is measured on. */
async function load(
  label: string,
  url: string,
  token?: string,
  shape = { connections: CONNECTIONS, seconds: SECONDS },
): Promise<Measured> {
  const auth = token ? ['-H', `authorization=Bearer ${token}`] : [];
  const args = [AUTOCANNON, '-c', String(shape.connections), '-d', String(shape.seconds), '-j', ...auth, url];
  const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: 64 * 1024 * 1024 });
  const result = JSON.parse(stdout);
  return {
    label,
    p50: result.latency.p50,
    p99: result.latency.p99,
    rps: Math.round(result.requests.average),
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

export async function apiLoad(): Promise<void> {
  const cp = await startTestControlPlane({ NULLOPS_LOG_LEVEL: 'warn' });
  try {
    const { admin } = cp;
    const db = cp.database.db;
    const env = await admin.expect(201, 'POST', '/api/environments', {
      name: 'load',
      baseDomain: 'nullops.test',
      runtime: 'docker',
      defaultTtlSeconds: 3600,
    });
    const project = await admin.expect(201, 'POST', '/api/projects', {
      name: 'load',
      cpuMillicores: 100,
      memoryMb: 64,
    });
    const rows = Array.from({ length: DEPLOYMENTS }, (_, i) => ({
      id: randomUUID(),
      name: `d${i}`,
      projectId: project.id,
      environmentId: env.id,
      state: i % 10 === 0 ? 'deleted' : 'running',
      services: JSON.stringify([]),
      tags: JSON.stringify({ web: 'v1' }),
      cpuMillicores: 100,
      memoryMb: 64,
    }));
    for (let i = 0; i < rows.length; i += 200) await db('deployments').insert(rows.slice(i, i + 200));
    const { token } = await admin.expect(201, 'POST', '/api/auth/tokens', { name: 'load', access: 'read' });
    const one = rows[1]?.id as string;

    const measured = [
      await load('GET /healthz (baseline: the HTTP stack alone)', `${cp.url}/healthz`),
      await load('GET /healthz with the API token (authentication alone)', `${cp.url}/healthz`, token),
      await load(
        `GET /api/deployments (first page of 100; ${DEPLOYMENTS} in the database)`,
        `${cp.url}/api/deployments`,
        token,
      ),
      await load('GET /api/deployments/{id}', `${cp.url}/api/deployments/${one}`, token),
    ];
    const stall = await slowRegistryCreates(cp, env.id, `${cp.url}/api/deployments/${one}`, token);
    const base = measured[0] as Measured;
    const authenticated = measured[1] as Measured;
    await writeSection(
      'p4',
      [
        '## P4 — API latency under load',
        '',
        `Measured by \`npm run bench\` (\`BENCH=p4\`) on ${today()}: ${CONNECTIONS} concurrent connections for ${SECONDS} s each (autocannon), read-only API token, ${DEPLOYMENTS} deployments in the database. Baseline: the same process's \`/healthz\` without credentials. The load generator runs in a process of its own; PostgreSQL, the control plane and it share the machine's 2 cores.`,
        '',
        '| request | p50 | p99 | requests/s | p99 ratio to baseline | p99 ratio to authenticated /healthz | errors / non-2xx |',
        '|---|---|---|---|---|---|---|',
        ...measured.map(
          (m) =>
            `| ${m.label} | ${m.p50} ms | ${m.p99} ms | ${m.rps} | ${(m.p99 / Math.max(1, base.p99)).toFixed(1)} | ${(m.p99 / Math.max(1, authenticated.p99)).toFixed(1)} | ${m.errors} / ${m.non2xx} |`,
        ),
        '',
        'The list is kept for a moment per reader and filter, and forgotten when any deployment changes (its history or health, on every replica) or anything changes through the API: under load, one query answers every reader asking at once.',
        '',
        `### Creates waiting on a slow registry`,
        '',
        `${SLOW_CREATES} creates at once, each for a project whose selectable service lives on a registry that answers every tag list after ${REGISTRY_DELAY_MS / 1000} s, while ${stall.shape.connections} connections read \`GET /api/deployments/{id}\` for ${stall.shape.seconds} s; against the same reads without the creates. (No node is online, so each create ends in a 409 once the registry has answered: the wait is what is measured.)`,
        '',
        '| reads | p50 | p99 | requests/s | errors / non-2xx |',
        '|---|---|---|---|---|',
        ...[stall.quiet, stall.during].map(
          (m) => `| ${m.label} | ${m.p50} ms | ${m.p99} ms | ${m.rps} | ${m.errors} / ${m.non2xx} |`,
        ),
        '',
        `The ${SLOW_CREATES} creates answered in ${stall.creates.first}–${stall.creates.last} ms (statuses: ${stall.creates.statuses}); reads' p99 ratio during/without: ${(stall.during.p99 / Math.max(1, stall.quiet.p99)).toFixed(2)}.`,
      ].join('\n'),
    );
  } finally {
    await cp.close();
  }
}

/** A registry whose every answer takes REGISTRY_DELAY_MS. */
async function slowRegistry() {
  const server = createServer((req, res) => {
    setTimeout(() => {
      res.setHeader('content-type', 'application/json');
      const name = /^\/v2\/(.+)\/tags\/list/.exec(req.url ?? '')?.[1];
      res.end(JSON.stringify(name ? { name, tags: ['v1'] } : {}));
    }, REGISTRY_DELAY_MS);
  }).listen(0, '127.0.0.1');
  await new Promise((ok) => server.once('listening', ok));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

async function slowRegistryCreates(
  cp: Awaited<ReturnType<typeof startTestControlPlane>>,
  environmentId: string,
  readUrl: string,
  token: string,
) {
  const { admin } = cp;
  const registry = await slowRegistry();
  try {
    const reg = await admin.expect(201, 'POST', '/api/registries', { name: 'slow', url: registry.url });
    // One project and image per create: every create asks the registry (no shared cache entry).
    const projects: string[] = [];
    for (let i = 0; i < SLOW_CREATES; i++) {
      const service = await admin.expect(201, 'POST', '/api/services', {
        name: `slow-${i}`,
        registryId: reg.id,
        image: `team/slow-${i}`,
        tagMode: 'selectable',
        tagPattern: 'v*',
      });
      const project = await admin.expect(201, 'POST', '/api/projects', {
        name: `slow-${i}`,
        cpuMillicores: 100,
        memoryMb: 64,
        serviceIds: [service.id],
      });
      projects.push(project.id);
    }
    const shape = { connections: 20, seconds: 5 };
    const quiet = await load('without creates', readUrl, token, shape);
    const from = performance.now();
    const [during, ...answers] = await Promise.all([
      load(`during ${SLOW_CREATES} slow creates`, readUrl, token, shape),
      ...projects.map(async (projectId, i) => {
        // Let the reads get going first.
        await new Promise((r) => setTimeout(r, 500));
        const res = await admin.request('POST', `/api/projects/${projectId}/deployments`, {
          environmentId,
          name: `slow-${i}`,
          tags: { [`slow-${i}`]: 'v1' },
        });
        return { status: res.status, ms: Math.round(performance.now() - from - 500) };
      }),
    ]);
    const times = answers.map((a) => a.ms).sort((a, b) => a - b);
    const counts = new Map<number, number>();
    for (const a of answers) counts.set(a.status, (counts.get(a.status) ?? 0) + 1);
    return {
      shape,
      quiet,
      during: during as Measured,
      creates: {
        first: times[0],
        last: times.at(-1),
        statuses: [...counts].map(([status, n]) => `${n} × ${status}`).join(', '),
      },
    };
  } finally {
    registry.close();
  }
}
