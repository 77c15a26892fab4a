// `nullops rm`: delete (or cancel) a deployment.

import type { Deployment } from '@nullops/core/api-types';
import type { Command } from 'commander';
import { finish, follow } from '../follow.js';
import { api, deploymentOf } from '../lookup.js';
import { timeout } from '../options.js';
import { print } from '../output.js';

export function registerRm(program: Command): void {
  program
    .command('rm')
    .description('delete a deployment (while it deploys: cancel and roll back)')
    .argument('<deployment>', 'name or id')
    .option('-w, --wait', 'wait until everything of it is gone')
    .addOption(timeout('how long --wait waits', 300_000, '5m'))
    .option('-e, --env <environment>', 'the environment, when the name is used in several')
    .action(async (ref: string, o) => {
      const client = await api();
      const found = await deploymentOf(client, ref, o.env);
      const d = await client.request<Deployment>('DELETE', `/api/deployments/${found.id}`);
      if (!o.wait) return print(`${d.name}: ${d.state}`, d);
      await follow(client, d.id, new Set(['deleted']), o.timeout, 'none');
      await finish(client, d.id, 'deleted');
    });
}
