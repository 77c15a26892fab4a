// `nullops ls`: the deployments the caller can see.

import type { Deployment } from '@nullops/core/api-types';
import type { Command } from 'commander';
import { api, byName } from '../lookup.js';
import { print } from '../output.js';

export function registerLs(program: Command): void {
  program
    .command('ls')
    .description('list deployments you can see, newest first')
    .option('-p, --project <project>', 'only this project')
    .option('-e, --env <environment>', 'only this environment')
    .option('-a, --all', 'include deleted ones')
    .action(async (o) => {
      const client = await api();
      const query = new URLSearchParams({ limit: '500' });
      if (o.project) query.set('projectId', (await byName(client, 'projects', o.project)).id);
      if (o.env) query.set('environmentId', (await byName(client, 'environments', o.env)).id);
      if (o.all) query.set('includeDeleted', 'true');
      const { items } = await client.get<{ items: Deployment[] }>(`/api/deployments?${query}`);
      const rows = items.map((d) => [d.name, d.projectName, d.environmentName, d.state, d.expiresAt ?? '—']);
      const table: string[][] = [['NAME', 'PROJECT', 'ENVIRONMENT', 'STATE', 'EXPIRES'], ...rows];
      const widths = (table[0] ?? []).map((_, i) => Math.max(...table.map((r) => String(r[i]).length)));
      print(
        items.length
          ? table
              .map((r) =>
                r
                  .map((c: string, i: number) => String(c).padEnd(widths[i] ?? 0))
                  .join('  ')
                  .trimEnd(),
              )
              .join('\n')
          : 'no deployments',
        items,
      );
    });
}
