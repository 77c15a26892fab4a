// P7: a plugin installed through the API until it is loaded on the control plane and on every one
// of 3 agents. Baseline: `npm install` of the same package from the same registry into an empty
// folder — fetching and unpacking the same tree once, what any installer must at least do.
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { registerLocalNode, tempDir, waitNodeReady } from '../helpers/agent-process.js';
import { startTestControlPlane } from '../helpers/test-control-plane.js';
import { eventually } from '../helpers/time.js';
import { startVerdaccio } from '../helpers/verdaccio.js';
import { median, today, writeSection } from './report.js';

const AGENTS = 3;
const RUNS = 3;
const GREETER = resolve('test/fixtures/plugins/greeter');
const SHOUT = resolve('test/fixtures/plugins/shout');

export async function pluginInstall(): Promise<void> {
  const npm = await startVerdaccio();
  const cp = await startTestControlPlane({ NULLOPS_LOG_LEVEL: 'warn' });
  const nodes: Awaited<ReturnType<typeof registerLocalNode>>[] = [];
  try {
    await npm.publish(SHOUT);
    // One package name per run: every run is a first install everywhere (nothing cached).
    const names = Array.from({ length: RUNS + 1 }, (_, i) => `@fixtures/bench-greeter-${i}`);
    for (const name of names) await npm.publish(GREETER, { name });
    const env = await cp.admin.expect(201, 'POST', '/api/environments', {
      name: 'plugins',
      baseDomain: 'nullops.test',
      runtime: 'docker',
      defaultTtlSeconds: 3600,
    });
    for (let i = 0; i < AGENTS; i++) nodes.push(await registerLocalNode(cp.admin, env.id, `node-${i}`));
    await Promise.all(nodes.map((n) => n.agent.start()));
    await Promise.all(nodes.map((n) => waitNodeReady(cp.admin, n.node.id)));
    const hosts = ['control-plane', ...nodes.map((n) => n.node.id as string)];

    const installs: number[] = [];
    const baselines: number[] = [];
    for (const [run, name] of names.entries()) {
      const dir = await tempDir('nullops-npm-');
      const npmFrom = performance.now();
      await promisify(execFile)(
        'npm',
        ['install', '--no-audit', '--no-fund', '--legacy-peer-deps', '--registry', npm.url, name],
        { cwd: dir },
      );
      const npmMs = performance.now() - npmFrom;
      await rm(dir, { recursive: true, force: true });

      const from = performance.now();
      await cp.admin.expect(201, 'POST', '/api/plugins', {
        package: name,
        registry: { url: npm.url, token: npm.token },
      });
      await eventually(
        `${name} loaded on ${hosts.length} hosts`,
        async () => {
          const { statuses = [] } = (await cp.admin.get(`/api/plugins/${encodeURIComponent(name)}`)).body;
          const loaded = hosts.filter((h) =>
            statuses.some((s: { host: string; status: string }) => s.host === h && s.status === 'loaded'),
          );
          const failed = statuses.find((s: { status: string }) => s.status === 'failed');
          if (failed) throw new Error(`${name} failed on ${failed.host}: ${failed.error}`);
          return loaded.length === hosts.length;
        },
        120_000,
      );
      const ms = performance.now() - from;
      // The first run warms up the processes; it is not counted.
      if (run > 0) {
        installs.push(ms);
        baselines.push(npmMs);
      }
      await cp.admin.expect(204, 'DELETE', `/api/plugins/${encodeURIComponent(name)}`);
    }
    const ours = median(installs);
    const base = median(baselines);
    const round = (xs: number[]) => xs.map(Math.round).join(', ');
    await writeSection(
      'p7',
      [
        '## P7 — plugin install → loaded everywhere',
        '',
        `Measured by \`npm run bench\` (\`BENCH=p7\`) on ${today()}: a small plugin with one dependency (the greeter fixture and \`@fixtures/shout\`) from a local Verdaccio, installed through \`POST /api/plugins\` until the control plane and all ${AGENTS} Docker agents report it loaded; ${RUNS} runs after a warm-up, medians, each a first install of a package name of its own. Baseline: \`npm install\` of the same package from the same registry into an empty folder.`,
        '',
        '| | median | ratio to the baseline |',
        '|---|---|---|',
        `| \`npm install\` once (baseline) | ${Math.round(base)} ms | 1.00 |`,
        `| NullOps: installed on the control plane and ${AGENTS} agents, all loaded | ${Math.round(ours)} ms | ${(ours / base).toFixed(2)} |`,
        '',
        `Raw (ms): npm install [${round(baselines)}]; NullOps [${round(installs)}].`,
      ].join('\n'),
    );
  } finally {
    for (const n of nodes) {
      await n.agent.kill();
      await rm(n.dataDir, { recursive: true, force: true });
    }
    await cp.close();
    await npm.stop();
  }
}
