import { type GraphProblem, referenceProblems, structureProblems } from '@nullops/plugin-sdk/pipeline-graph';

/** The pipeline graph as the API stores it, and the checks the editor runs before saving. */
export interface GraphNode {
  id: string;
  type: string;
  title?: string;
  params: Record<string, unknown>;
  position?: [number, number];
}
export interface Graph {
  nodes: GraphNode[];
  edges: { from: string; to: string }[];
}

/** One component of the catalogue (GET /api/plugins/components). */
export interface CatalogEntry {
  type: string;
  title: string;
  category: string;
  plugin: { name: string; version: string };
  paramsSchema: JsonSchema;
  outputs: Record<string, { description: string }>;
  hostFilled: string[];
  /** Its `service` param names one of the project's services. */
  projectService?: boolean;
}

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  description?: string;
  anyOf?: JsonSchema[];
}

/**
 * Every problem that would make the server refuse the graph, in words an admin can act on: the
 * SDK's graph rules (the ones the server and the agent apply) and the required params.
 */
export function validateGraph(graph: Graph, catalog: CatalogEntry[]): string[] {
  const problems = [
    ...structureProblems(graph),
    ...referenceProblems(graph, (type) => {
      const entry = catalog.find((c) => c.type === type);
      return entry ? Object.keys(entry.outputs) : undefined;
    }),
  ].map((p) => describe(graph, p));
  graph.nodes.forEach((node) => {
    const entry = catalog.find((c) => c.type === node.type);
    if (!entry) {
      problems.push(`node ${node.id}: no installed plugin provides "${node.type}"`);
      return;
    }
    for (const key of entry.paramsSchema.required ?? []) {
      const value = node.params[key];
      const hasDefault = entry.paramsSchema.properties?.[key]?.default !== undefined;
      if ((value === undefined || value === '') && !entry.hostFilled.includes(key) && !hasDefault)
        problems.push(`node ${node.id}: "${key}" is required`);
    }
  });
  return problems;
}

/** A problem named by its node (`node db: …`) rather than by its path, as the editor shows nodes. */
function describe(graph: Graph, problem: GraphProblem): string {
  const [kind, index] = problem.path;
  if (kind === 'nodes' && typeof index === 'number')
    return `node ${graph.nodes[index]?.id}: ${problem.message}`;
  if (kind === 'edges' && typeof index === 'number') {
    const edge = graph.edges[index];
    return `the edge ${edge?.from} → ${edge?.to} ${problem.message}`;
  }
  return `the edges ${problem.message}`;
}

/** A fresh node id for a type: `db`, `db-2`, … */
export function freshId(graph: Graph, type: string): string {
  const base = (type.split('.').pop() ?? 'node').replace(/[^A-Za-z0-9_-]/g, '-');
  let id = base;
  for (let i = 2; graph.nodes.some((n) => n.id === id); i++) id = `${base}-${i}`;
  return id;
}
