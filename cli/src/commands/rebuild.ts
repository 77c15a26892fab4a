// `nullops redeploy` and `nullops retry`: run a deployment's pipeline again.

import type { Deployment } from '@nullops/core/api-types';
import type { Command } from 'commander';
import { finish, follow, summary, TERMINAL } from '../follow.js';
import { api, deploymentOf } from '../lookup.js';
import { timeout } from '../options.js';
import { print } from '../output.js';

export function registerRebuild(program: Command): void {
  for (const [action, what] of [
    [
      'redeploy',
      'rebuild a deployment on its node: remove what it has there and run its pipeline again with the same versions, name and URLs (the way out of a degraded or stuck deployment)',
    ],
    ['retry', 'run a failed deployment again, with the latest pipeline'],
  ] as const)
    program
      .command(action)
      .description(what)
      .argument('<deployment>', 'name or id')
      .option('-w, --wait', 'wait until it runs (or fails)')
      .addOption(timeout('how long --wait waits', 600_000, '10m'))
      .option('-e, --env <environment>', 'the environment, when the name is used in several')
      .action(async (ref: string, o) => {
        const client = await api();
        const found = await deploymentOf(client, ref, o.env);
        const d = await client.post<Deployment>(`/api/deployments/${found.id}/${action}`);
        if (!o.wait) return print(summary(d), d);
        await follow(client, d.id, TERMINAL, o.timeout, 'none');
        await finish(client, d.id, 'running');
      });
}
