// `nullops import`: a docker-compose file as a project.

import { readFile } from 'node:fs/promises';
import type { ComposeImportReport, Project } from '@nullops/core/api-types';
import type { Command } from 'commander';
import { UsageError } from '../config.js';
import { api } from '../lookup.js';
import { keyValue } from '../options.js';
import { print } from '../output.js';

export function registerImport(program: Command): void {
  program
    .command('import')
    .description('import a docker-compose file as a project (admins); shows what maps and what does not')
    .argument('<file>', 'the compose file')
    .option('-n, --name <project>', "the project's name (default: the file's name:)")
    .option('--registry <name>', 'registry of images without a registry host')
    .option(
      '--selectable <service=pattern>',
      'a service whose tag is chosen per deployment',
      keyValue('--selectable'),
    )
    .option('--var <name=value>', 'a value for ${name} in the file (repeat for several)', keyValue('--var'))
    .option('--dry-run', 'only show the report')
    .action(async (file: string, o) => {
      const client = await api();
      const body: Record<string, unknown> = { compose: await readFile(file, 'utf8') };
      if (o.name) body.name = o.name;
      if (o.selectable) body.selectable = o.selectable;
      if (o.var) body.variables = o.var;
      if (o.registry) {
        const { items } = await client.get<{ items: { id: string; name: string }[] }>('/api/registries');
        const registry = items.find((r) => r.name === o.registry);
        if (!registry) throw new UsageError(`no registry "${o.registry}"`);
        body.registryId = registry.id;
      }
      const result = await client.post<{
        project: Project | null;
        pipelineVersion?: number;
        report: ComposeImportReport;
      }>('/api/projects/import', { ...body, dryRun: Boolean(o.dryRun) });
      const r = result.report;
      const lines = [
        `${o.dryRun ? 'would import' : 'imported'} project ${r.projectName}${result.pipelineVersion ? ` (pipeline v${result.pipelineVersion})` : ''}; budget ${r.budget.cpuMillicores}m CPU, ${r.budget.memoryMb} MiB (${r.budget.from})`,
        ...r.services.flatMap((s) => [
          `  ${s.name}: ${s.registryName}/${s.image} ${s.tagMode === 'pinned' ? `pinned ${s.tag}` : `selectable ${s.tagPattern}`}; mapped ${s.mapped.join(', ')}`,
          ...s.notes.map((n) => `    note: ${n}`),
        ]),
        ...(r.unmapped.length ? ['not imported:', ...r.unmapped.map((u) => `  ${u.path}: ${u.reason}`)] : []),
      ];
      print(lines.join('\n'), result);
    });
}
