// `nullops logs`: a service's log lines, following with -f.

import type { Command } from 'commander';
import { UsageError } from '../config.js';
import { api, deploymentOf } from '../lookup.js';
import { out, progress } from '../output.js';

export function registerLogs(program: Command): void {
  program
    .command('logs')
    .description("a service's log lines; with -f, follow new ones")
    .argument('<deployment>', 'name or id')
    .option('-s, --service <service>', 'which service (default: the first)')
    .option('-f, --follow', 'keep printing new lines')
    .option('--tail <lines>', 'how many earlier lines', Number, 200)
    .option('-e, --env <environment>', 'the environment, when the name is used in several')
    .action(async (ref: string, o) => {
      const client = await api();
      const d = await deploymentOf(client, ref, o.env);
      const service = o.service ?? d.services[0]?.name;
      if (!service) throw new UsageError(`${d.name} has no services yet`);
      const query = new URLSearchParams({
        service,
        follow: o.follow ? 'true' : 'false',
        tail: String(o.tail),
      });
      const lines = client.events<{ line?: string; reason?: string }>(
        `/api/deployments/${d.id}/logs?${query}`,
      );
      for await (const { event, data } of lines) {
        if (event === 'log')
          process.stdout.write(out() === 'json' ? `${JSON.stringify(data)}\n` : `${data.line}\n`);
        else if (event === 'end' && data?.reason && !/ended|finished|closed/.test(data.reason))
          progress(`log stream ended: ${data.reason}`);
      }
    });
}
