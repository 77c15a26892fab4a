// npm run bench — every measure, or those named in BENCH (comma-separated: p1,p4). Each writes its
// own section of docs/benchmarks.md. Ratios against a baseline measured in the same run are the
// figures; absolute times on shared machines are noisy. Each part runs in a process of its own:
// what one part leaves behind (timers, sockets, memory) cannot weigh on the next one's figures.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { apiLoad } from './api-load.js';
import { cliDeploy } from './cli-deploy.js';
import { deployVsCompose } from './deploy-vs-compose.js';
import { kubeVsApply } from './kube-vs-apply.js';
import { logThroughput } from './log-throughput.js';
import { manyAgents } from './many-agents.js';
import { manyDeployments } from './many-deployments.js';
import { pluginInstall } from './plugin-install.js';
import { replicaFailover } from './replica-failover.js';
import { replicaRelay } from './replica-relay.js';

const PARTS: Record<string, () => Promise<void>> = {
  p1: deployVsCompose,
  p2: manyDeployments,
  p3: manyAgents,
  p4: apiLoad,
  p5: logThroughput,
  p7: pluginInstall,
  p8: cliDeploy,
  p9: kubeVsApply,
  p10: replicaFailover,
  p11: replicaRelay,
};

async function main() {
  const wanted = (process.env.BENCH ?? Object.keys(PARTS).join(',')).split(',').map((p) => p.trim());
  for (const part of wanted)
    if (!PARTS[part])
      throw new Error(`BENCH names an unknown part "${part}" (known: ${Object.keys(PARTS).join(', ')})`);
  const [only] = wanted;
  if (wanted.length === 1 && only) {
    process.stdout.write(`\n== ${only}\n`);
    await (PARTS[only] as () => Promise<void>)();
    return;
  }
  for (const part of wanted) {
    const run = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], {
      env: { ...process.env, BENCH: part },
      stdio: 'inherit',
    });
    if (run.status !== 0) throw new Error(`part ${part} failed (exit ${run.status ?? run.signal})`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`benchmark failed: ${(err as Error).stack}\n`);
    process.exit(1);
  },
);
