// P4: API latency under load. 200 concurrent clients (autocannon) on GET /api/deployments with
// 1,000 deployments in the database and on GET /api/deployments/{id}, against the same process's
// /healthz as the baseline (same server, same connections, no database).

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { startTestControlPlane } from '../helpers/test-control-plane.js';
import { today, writeSection } from './report.js';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 200);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const DEPLOYMENTS = 1000;

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
async function load(label: string, url: string, token?: string): Promise<Measured> {
  const auth = token ? ['-H', `authorization=Bearer ${token}`] : [];
  const args = [AUTOCANNON, '-c', String(CONNECTIONS), '-d', String(SECONDS), '-j', ...auth, url];
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
    const base = measured[0] as Measured;
    await writeSection(
      'p4',
      [
        '## P4 — API latency under load',
        '',
        `Measured by \`npm run bench\` (\`BENCH=p4\`) on ${today()}: ${CONNECTIONS} concurrent connections for ${SECONDS} s each (autocannon), read-only API token, ${DEPLOYMENTS} deployments in the database. Baseline: the same process's \`/healthz\` without credentials. The load generator runs in a process of its own; PostgreSQL, the control plane and it share the machine's 2 cores.`,
        '',
        '| request | p50 | p99 | requests/s | p99 ratio to baseline | errors / non-2xx |',
        '|---|---|---|---|---|---|',
        ...measured.map(
          (m) =>
            `| ${m.label} | ${m.p50} ms | ${m.p99} ms | ${m.rps} | ${(m.p99 / Math.max(1, base.p99)).toFixed(1)} | ${m.errors} / ${m.non2xx} |`,
        ),
      ].join('\n'),
    );
  } finally {
    await cp.close();
  }
}
