import type { HostedPlugin } from '@nullops/kernel/plugins';

/** One component as the editor's palette and the API show it. */
export interface CatalogEntry {
  type: string;
  version: number;
  title: string;
  category: string;
  plugin: { name: string; version: string; source: 'bundled' | 'registry' };
  paramsSchema: Record<string, unknown>;
  outputs: Record<string, { description: string; secret?: boolean }>;
  hostFilled: string[];
  timeoutMs: number | null;
  /** Runs a project service: its `service` param names one of the project's services. */
  projectService: boolean;
}

/** Loaded releases in use, installed ones first (they override bundled ones with the same types). */
function providers(releases: Iterable<HostedPlugin>): HostedPlugin[] {
  const all = [...releases].filter((p) => p.status === 'loaded');
  return [...all.filter((p) => p.source === 'registry'), ...all.filter((p) => p.source === 'bundled')];
}

/** Which of the releases in use provides a component type. */
export function providerOf(releases: Iterable<HostedPlugin>, type: string): HostedPlugin | undefined {
  return providers(releases).find((p) => p.components.has(type));
}

/** The component catalogue for the editor: each type once (from its provider), by category and title. */
export function componentCatalog(releases: Iterable<HostedPlugin>): CatalogEntry[] {
  const seen = new Set<string>();
  const entries: CatalogEntry[] = [];
  for (const plugin of providers(releases)) {
    for (const c of plugin.components.values()) {
      if (seen.has(c.type)) continue;
      seen.add(c.type);
      entries.push({
        type: c.type,
        version: c.version,
        title: c.title,
        category: c.category,
        plugin: { name: plugin.name, version: plugin.version, source: plugin.source },
        paramsSchema: c.paramsJsonSchema,
        outputs: { ...(c.outputs ?? {}) },
        hostFilled: [...(c.hostFilled ?? [])],
        timeoutMs: c.timeoutMs ?? null,
        projectService: Boolean(c.projectService),
      });
    }
  }
  return entries.sort((a, b) => a.category.localeCompare(b.category) || a.title.localeCompare(b.title));
}
