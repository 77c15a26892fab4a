import dagre from '@dagrejs/dagre';
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

/**
 * A layered layout, left to right in the order nodes run: dagre (a Sugiyama layout: ranks, fewest
 * crossings, straight edges), given each node's drawn size. Returns each node's top-left corner.
 */
export function layoutGraph(
  graph: Graph,
  sizeOf: (id: string) => [number, number],
): Map<string, [number, number]> {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 40, ranksep: 90, marginx: 20, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of graph.nodes) {
    const [width, height] = sizeOf(node.id);
    g.setNode(node.id, { width, height });
  }
  for (const edge of graph.edges) g.setEdge(edge.from, edge.to);
  dagre.layout(g);
  const positions = new Map<string, [number, number]>();
  for (const node of graph.nodes) {
    const { x, y, width, height } = g.node(node.id);
    positions.set(node.id, [Math.round(x - width / 2), Math.round(y - height / 2)]);
  }
  return positions;
}

/**
 * What changed from one pipeline version to another, one line a change: nodes added and removed,
 * a node's type and each param changed, edges added and removed. Positions are not changes.
 */
export function diffGraphs(from: Graph, to: Graph): string[] {
  const lines: string[] = [];
  const before = new Map(from.nodes.map((n) => [n.id, n]));
  const after = new Map(to.nodes.map((n) => [n.id, n]));
  const show = (v: unknown) => (v === undefined ? '(unset)' : JSON.stringify(v));
  for (const [id, node] of after) if (!before.has(id)) lines.push(`+ node ${id} (${node.type})`);
  for (const [id, node] of before) if (!after.has(id)) lines.push(`- node ${id} (${node.type})`);
  for (const [id, old] of before) {
    const now = after.get(id);
    if (!now) continue;
    if (old.type !== now.type) lines.push(`~ node ${id}: type ${old.type} → ${now.type}`);
    for (const key of [...new Set([...Object.keys(old.params), ...Object.keys(now.params)])].sort()) {
      const [a, b] = [old.params[key], now.params[key]];
      if (JSON.stringify(a) !== JSON.stringify(b)) lines.push(`~ node ${id}: ${key} ${show(a)} → ${show(b)}`);
    }
  }
  const edge = (e: { from: string; to: string }) => `${e.from} → ${e.to}`;
  const edgesBefore = new Set(from.edges.map(edge));
  const edgesAfter = new Set(to.edges.map(edge));
  for (const e of edgesAfter) if (!edgesBefore.has(e)) lines.push(`+ edge ${e}`);
  for (const e of edgesBefore) if (!edgesAfter.has(e)) lines.push(`- edge ${e}`);
  return lines;
}
