// P8: a deployment from CI with the nullops CLI (`deploy --wait`, a process of its own that signs
// nothing in: a token in the environment) against the same through the API (create, then poll
// until running), on the same stack in the same run.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { ensureTestImages } from '../helpers/docker.js';
import { startStack } from '../helpers/stack.js';
import { eventually } from '../helpers/time.js';
import { median, today, writeSection } from './report.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);

export async function cliDeploy(): Promise<void> {
  ensureTestImages();
  const s = await startStack({
    prepare: (registry) => registry.pushWeb('team/web', 'v1', 'web v1'),
    services: [{ name: 'web', image: 'team/web', tag: 'v1' }],
    env: { NULLOPS_LOG_LEVEL: 'warn' },
  });
  try {
    await s.savePipeline({
      nodes: [
        {
          id: 'web',
          type: 'container.service',
          params: { service: 'web', port: 80, pull: 'missing', healthCheck: { kind: 'http', path: '/' } },
        },
      ],
      edges: [],
    });
    const { token } = await s.admin.expect(201, 'POST', '/api/auth/tokens', {
      name: 'bench',
      access: 'full',
    });
    const env = { PATH: process.env.PATH as string, NULLOPS_URL: s.cp.url, NULLOPS_TOKEN: token };
    const gone = async (id: string) => {
      await s.admin.expect(202, 'DELETE', `/api/deployments/${id}`);
      await eventually('deleted', async () => (await s.get(id)).state === 'deleted', 60_000);
    };
    const viaApi = async (name: string) => {
      const from = performance.now();
      const id = await s.deploy(name);
      await eventually('running', async () => (await s.get(id)).state === 'running', 60_000);
      const ms = performance.now() - from;
      await gone(id);
      return ms;
    };
    const viaCli = async (name: string) => {
      const from = performance.now();
      const { stdout } = await promisify(execFile)(
        resolve('node_modules/.bin/nullops'),
        ['deploy', 'plugins', '--env', 'qa', '--name', name, '--wait', '-o', 'json'],
        { env },
      );
      const ms = performance.now() - from;
      await gone(JSON.parse(stdout).id);
      return ms;
    };
    await viaApi('warm-api');
    await viaCli('warm-cli');
    const api: number[] = [];
    const cli: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      api.push(await viaApi(`api-${i}`));
      cli.push(await viaCli(`cli-${i}`));
    }
    const [a, c] = [median(api), median(cli)];
    await writeSection(
      'p8',
      [
        '## P8 — a deployment from CI: the CLI against the API',
        '',
        `Measured by \`npm run bench\` (\`BENCH=p8\`) on ${today()}: one service with an HTTP health check, image local; ${RUNS} runs each after a warm-up, medians. The API path is what a script does: create, then poll the deployment every 100 ms until it runs. The CLI path is \`nullops deploy … --wait -o json\` with \`NULLOPS_URL\` / \`NULLOPS_TOKEN\`: a new Node.js process, name lookups, the create, the live event stream until running, the final read.`,
        '',
        '| path | median | ratio to the API |',
        '|---|---|---|',
        `| API: create + poll until running | ${Math.round(a)} ms | 1.00 |`,
        `| \`nullops deploy --wait\` | ${Math.round(c)} ms | ${(c / a).toFixed(2)} |`,
        '',
        `Raw (ms): API [${api.map(Math.round).join(', ')}]; CLI [${cli.map(Math.round).join(', ')}].`,
      ].join('\n'),
    );
  } finally {
    await s.stop();
  }
}
