import {
  type FieldIssue,
  InputError,
  OUTPUT_REFERENCE,
  referenceProblems,
  SECRET_REFERENCE,
} from '@nullops/plugin-sdk';
import type { PinnedRelease } from '../models/catalog.js';
import type { PipelineGraph } from '../schemas/pipeline.js';
import type { PluginService } from './plugin-service.js';

/**
 * Checks a pipeline against the installed plugins before it is saved, and pins, per component
 * type, the plugin release that provides it now. Every problem is reported with its field path:
 * unknown component types, params the component's schema rejects (leaving out params the control
 * plane fills in at deploy time, and values that are `${secret:…}`/`${output:…}` references), and
 * output references to nodes that do not run earlier or outputs they do not have (the SDK's
 * graph rules, which the editor and the agent apply too).
 */
export function pinPipeline(
  plugins: PluginService,
  graph: PipelineGraph,
): { components: Record<string, PinnedRelease>; plugins: Record<string, string> } {
  const issues: FieldIssue[] = [];
  const components: Record<string, PinnedRelease> = {};
  graph.nodes.forEach((node, i) => {
    const at = `graph.nodes.${i}`;
    const provider = plugins.providerOf(node.type);
    const component = provider?.components.get(node.type);
    if (!provider || !component) {
      issues.push({
        path: `${at}.type`,
        message: `no installed plugin provides "${node.type}"; install one under Plugins`,
      });
      return;
    }
    components[node.type] = {
      name: provider.name,
      version: provider.version,
      source: provider.source,
      ...(provider.integrity ? { integrity: provider.integrity } : {}),
    };
    const parsed = component.params.safeParse(node.params);
    if (parsed.success) return;
    const hostFilled = new Set(component.hostFilled ?? []);
    for (const issue of parsed.error.issues) {
      const top = String(issue.path[0] ?? '');
      if (hostFilled.has(top) && node.params[top] === undefined) continue;
      if (holdsReference(valueAt(node.params, issue.path))) continue;
      issues.push({ path: [`${at}.params`, ...issue.path].join('.'), message: issue.message });
    }
  });
  const outputsOf = (type: string) => {
    const outputs = plugins.providerOf(type)?.components.get(type)?.outputs;
    return outputs ? Object.keys(outputs) : undefined;
  };
  for (const problem of referenceProblems(graph, outputsOf))
    issues.push({ path: ['graph', ...problem.path].join('.'), message: problem.message });
  if (issues.length)
    throw new InputError(
      `the pipeline does not fit the installed plugins: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      issues,
    );
  const versions: Record<string, string> = {};
  for (const p of Object.values(components)) versions[p.name] = p.version;
  return { components, plugins: versions };
}

function valueAt(value: unknown, path: PropertyKey[]): unknown {
  let v = value;
  for (const key of path)
    v = v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[key] : undefined;
  return v;
}

function holdsReference(value: unknown): boolean {
  return (
    typeof value === 'string' &&
    (new RegExp(OUTPUT_REFERENCE.source).test(value) || new RegExp(SECRET_REFERENCE.source).test(value))
  );
}
