// `nullops clone`: a new deployment like one that exists.

import type { Deployment } from '@nullops/core/api-types';
import type { Command } from 'commander';
import { finish, follow, summary, TERMINAL } from '../follow.js';
import { api, deploymentOf } from '../lookup.js';
import { keyValue, timeout } from '../options.js';
import { print } from '../output.js';

export function registerClone(program: Command): void {
  program
    .command('clone')
    .description('a new deployment like this one (same tags unless --tag changes some)')
    .argument('<deployment>', 'name or id')
    .requiredOption('-n, --name <name>', 'name of the copy')
    .option('-t, --tag <service=tag>', 'a different service version (repeat for several)', keyValue('--tag'))
    .option('-w, --wait', 'wait until it runs (or fails)')
    .addOption(timeout('how long --wait waits', 600_000, '10m'))
    .option('-e, --env <environment>', 'the environment, when the name is used in several')
    .action(async (ref: string, o) => {
      const client = await api();
      const from = await deploymentOf(client, ref, o.env);
      const d = await client.post<Deployment>(`/api/deployments/${from.id}/clone`, {
        name: o.name,
        ...(o.tag ? { tags: o.tag } : {}),
      });
      if (!o.wait) return print(summary(d), d);
      await follow(client, d.id, TERMINAL, o.timeout);
      await finish(client, d.id, 'running');
    });
}
