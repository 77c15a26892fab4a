// P11: what a relay between control-plane replicas costs. Two control-plane processes on one
// PostgreSQL and a real Docker agent, linked by one of them. A service's log lines are read through
// the replica that holds the node's link (the baseline) and through the other, which relays the
// request to it over mutual TLS and the answer back: the time to a short read, and the lines per
// second of a long one, each way.
import { rm } from 'node:fs/promises';
import { registerLocalNode, waitNodeReady } from '../helpers/agent-process.js';
import { ApiClient } from '../helpers/api-client.js';
import { deploymentReaches } from '../helpers/deployment-state.js';
import { docker, ensureTestImages, removeLabelled } from '../helpers/docker.js';
import { startRegistry } from '../helpers/registry.js';
import { replicaSet } from '../helpers/replica-set.js';
import { eventually } from '../helpers/time.js';
import { webProject } from '../helpers/web-project.js';
import { median, today, writeSection } from './report.js';

const LINES = 2000;
const ROUNDS = Number(process.env.BENCH_RELAY_ROUNDS ?? 40);

/** Reads a service's last `tail` lines (no follow) as the UI does; its time and the lines read. */
async function read(url: string, token: string, deploymentId: string, tail: number) {
  const started = performance.now();
  const res = await fetch(
    `${url}/api/deployments/${deploymentId}/logs?service=web&follow=false&tail=${tail}`,
    {
      headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
    },
  );
  if (res.status !== 200) throw new Error(`logs through ${url}: ${res.status} ${await res.text()}`);
  const text = await res.text();
  if (!text.includes('event: end')) throw new Error(`logs through ${url} did not end: ${text.slice(-200)}`);
  return { ms: performance.now() - started, lines: text.split('event: log').length - 1 };
}

export async function replicaRelay(): Promise<void> {
  ensureTestImages();
  const registry = await startRegistry();
  // It prints LINES lines, then serves (and logs every request).
  registry.pushBuilt(
    'team/web',
    'v1',
    `FROM nullops-test/busybox:1\nRUN mkdir -p /www && echo relayed > /www/index.html\nCMD ["sh", "-c", "i=0; while [ $i -lt ${LINES} ]; do echo \\"line $i of what the service printed at start\\"; i=$((i+1)); done; exec httpd -f -v -p 80 -h /www"]\n`,
  );
  const set = await replicaSet(2, { NULLOPS_LOG_LEVEL: 'warn' });
  const deployments: string[] = [];
  let agent: Awaited<ReturnType<typeof registerLocalNode>>['agent'] | undefined;
  let dataDir: string | undefined;
  try {
    await Promise.all(set.replicas.map(set.launch));
    const admin = await ApiClient.login(set.replicas[0]?.url as string, 'admin', set.adminPassword);
    const { token } = await admin.expect(201, 'POST', '/api/auth/tokens', { name: 'bench' });
    const env = await admin.expect(201, 'POST', '/api/environments', {
      name: 'relay',
      baseDomain: 'nullops.test',
      runtime: 'docker',
      defaultTtlSeconds: 3600,
    });
    const registered = await registerLocalNode(admin, env.id, 'real');
    agent = registered.agent;
    dataDir = registered.dataDir;
    await agent.start();
    await waitNodeReady(admin, registered.node.id);
    const project = await webProject(admin, registry.url, {
      name: 'chatty',
      cpuMillicores: 50,
      memoryMb: 64,
    });
    const d = await admin.expect(201, 'POST', `/api/projects/${project.id}/deployments`, {
      environmentId: env.id,
      name: 'chatty',
    });
    deployments.push(d.id);
    await deploymentReaches(admin, d.id, 'running');

    const holderId = (await set.leases()).get(registered.node.id) as string;
    const holder = await set.byId(holderId);
    const other = set.replicas.find((r) => r !== holder);
    if (!holder || !other) throw new Error('no replica holds the node, or no other one');
    await eventually(
      'every line printed',
      async () => (await read(holder.url, token, d.id, LINES)).lines >= LINES,
    );

    // The first relayed request opens the TLS connection between the replicas; it is kept after.
    const cold = await read(other.url, token, d.id, 50);
    await read(holder.url, token, d.id, 50);
    const short = { direct: [] as number[], relayed: [] as number[] };
    const long = { direct: [] as number[], relayed: [] as number[] };
    // Alternated, so that the machine's ups and downs fall on both alike.
    for (let i = 0; i < ROUNDS; i++) {
      short.direct.push((await read(holder.url, token, d.id, 50)).ms);
      short.relayed.push((await read(other.url, token, d.id, 50)).ms);
      if (i % 4 === 0) {
        long.direct.push((await read(holder.url, token, d.id, LINES)).ms);
        long.relayed.push((await read(other.url, token, d.id, LINES)).ms);
      }
    }
    const ms = (x: number) => `${x.toFixed(1)} ms`;
    const rate = (x: number) => `${Math.round(LINES / (x / 1000)).toLocaleString('en')} lines/s`;
    const row = (what: string, direct: number[], relayed: number[], shown: (x: number) => string) =>
      `| ${what} | ${shown(median(direct))} | ${shown(median(relayed))} | ${(median(relayed) / median(direct)).toFixed(2)} |`;
    await writeSection(
      'p11',
      [
        '## P11 — a request relayed between control-plane replicas',
        '',
        `Measured by \`npm run bench\` (\`BENCH=p11\`) on ${today()}: two control-plane processes on one PostgreSQL and a real Docker agent whose link one of them holds. A service's log lines (no follow, as the UI's first page of logs) are read through that replica (the baseline) and through the other one, which relays the request over mutual TLS and streams the answer back; ${ROUNDS} rounds, alternated, medians shown.`,
        '',
        '| read | through the link holder (baseline) | relayed by the other replica | ratio |',
        '|---|---|---|---|',
        row('last 50 lines: time to the end', short.direct, short.relayed, ms),
        row(`last ${LINES} lines: time to the end`, long.direct, long.relayed, ms),
        `| last ${LINES} lines: rate | ${rate(median(long.direct))} | ${rate(median(long.relayed))} | |`,
        '',
        `The first relayed request, which also opens the TLS connection between the replicas (kept alive after), took ${ms(cold.ms)}. A relayed read is handled twice: the relaying replica authenticates it and looks the node's link up before it relays; the holder authenticates, authorises and audits it again, then reads the logs from the agent as for a direct read.`,
      ].join('\n'),
    );
  } finally {
    await agent?.kill();
    await removeLabelled(docker, deployments);
    await set.close();
    await registry.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }
}
