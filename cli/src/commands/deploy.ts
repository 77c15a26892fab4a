// `nullops deploy`: create a deployment, and with --wait follow it until it runs.

import type { Deployment } from '@nullops/core/api-types';
import type { Command } from 'commander';
import { finish, follow, summary, TERMINAL } from '../follow.js';
import { api, byName } from '../lookup.js';
import { idempotencyKey, keyValue, timeout } from '../options.js';
import { print, progress } from '../output.js';

export function registerDeploy(program: Command): void {
  program
    .command('deploy')
    .description('create a deployment (a retry with the same name and environment is the same request)')
    .argument('<project>', 'project name')
    .requiredOption('-e, --env <environment>', 'environment name')
    .requiredOption('-n, --name <name>', 'deployment name (a DNS label, unique in the environment)')
    .option('-t, --tag <service=tag>', 'a service version (repeat for several)', keyValue('--tag'))
    .option('-w, --wait', 'wait until it runs (or fails), showing each step; print the URLs')
    .addOption(timeout('how long --wait waits', 600_000, '10m'))
    .action(async (projectName: string, o) => {
      const client = await api();
      const [project, env] = await Promise.all([
        byName(client, 'projects', projectName),
        byName(client, 'environments', o.env),
      ]);
      const d = await client.post<Deployment>(
        `/api/projects/${project.id}/deployments`,
        { environmentId: env.id, name: o.name, tags: o.tag ?? {} },
        { 'idempotency-key': idempotencyKey(project.id, env.id, o.name, o.tag ?? {}) },
      );
      if (!o.wait) return print(summary(d), d);
      progress(`deploying ${d.name} (${project.name} in ${env.name})`);
      await follow(client, d.id, TERMINAL, o.timeout);
      await finish(client, d.id, 'running');
    });
}
