// npm run bench — every measure, or those named in BENCH (comma-separated: p1,p4). Each writes its
// own section of docs/benchmarks.md. Ratios against a baseline measured in the same run are the
// figures; absolute times on shared machines are noisy.
import { apiLoad } from './api-load.js';
import { deployVsCompose } from './deploy-vs-compose.js';
import { logThroughput } from './log-throughput.js';
import { manyAgents } from './many-agents.js';
import { manyDeployments } from './many-deployments.js';
import { pluginInstall } from './plugin-install.js';

const PARTS: Record<string, () => Promise<void>> = {
  p1: deployVsCompose,
  p2: manyDeployments,
  p3: manyAgents,
  p4: apiLoad,
  p5: logThroughput,
  p7: pluginInstall,
};

async function main() {
  const wanted = (process.env.BENCH ?? Object.keys(PARTS).join(',')).split(',').map((p) => p.trim());
  for (const part of wanted) {
    const run = PARTS[part];
    if (!run)
      throw new Error(`BENCH names an unknown part "${part}" (known: ${Object.keys(PARTS).join(', ')})`);
    process.stdout.write(`\n== ${part}\n`);
    await run();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`benchmark failed: ${(err as Error).stack}\n`);
    process.exit(1);
  },
);
