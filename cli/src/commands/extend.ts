// `nullops extend`: push the auto-cleanup back.

import type { Deployment } from '@nullops/core/api-types';
import type { Command } from 'commander';
import { UsageError } from '../config.js';
import { api, deploymentOf } from '../lookup.js';
import { print } from '../output.js';

export function registerExtend(program: Command): void {
  program
    .command('extend')
    .description('push the auto-cleanup time back')
    .argument('<deployment>', 'name or id')
    .option('-e, --env <environment>', 'the environment, when the name is used in several')
    .option('--hours <n>', 'keep it this long from now (1 to 168; default: its TTL)', (v) => {
      if (!/^\d+$/.test(v)) throw new UsageError(`--hours must be a whole number of hours, not "${v}"`);
      return Number(v);
    })
    .action(async (ref: string, o) => {
      const client = await api();
      const d = await client.post<Deployment>(
        `/api/deployments/${(await deploymentOf(client, ref, o.env)).id}/extend`,
        o.hours ? { hours: o.hours } : {},
      );
      print(`${d.name} now expires ${d.expiresAt}`, d);
    });
}
