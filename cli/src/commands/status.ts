// `nullops status`: one deployment.

import type { Command } from 'commander';
import { summary } from '../follow.js';
import { api, deploymentOf } from '../lookup.js';
import { print } from '../output.js';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description("a deployment's state, tags, expiry and service URLs")
    .argument('<deployment>', 'name or id')
    .option('-e, --env <environment>', 'the environment, when the name is used in several')
    .action(async (ref: string, o) => {
      const d = await deploymentOf(await api(), ref, o.env);
      print(summary(d), d);
    });
}
