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

const OUTPUT_REFERENCE = /\$\{output:([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_]{1,64})\}/g;

/** Every problem that would make the server refuse the graph, in words an admin can act on. */
export function validateGraph(graph: Graph, catalog: CatalogEntry[]): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  for (const node of graph.nodes) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(node.id))
      problems.push(`node id "${node.id}" must be 1-64 letters, digits, _ or -`);
    if (ids.has(node.id)) problems.push(`node id "${node.id}" is used twice`);
    ids.add(node.id);
  }
  const parents = new Map<string, string[]>();
  for (const e of graph.edges) {
    if (!ids.has(e.from) || !ids.has(e.to))
      problems.push(`the edge ${e.from} → ${e.to} names a missing node`);
    parents.set(e.to, [...(parents.get(e.to) ?? []), e.from]);
  }
  const ancestors = (id: string) => {
    const seen = new Set<string>();
    const stack = [...(parents.get(id) ?? [])];
    while (stack.length) {
      const next = stack.pop() as string;
      if (seen.has(next)) continue;
      seen.add(next);
      stack.push(...(parents.get(next) ?? []));
    }
    return seen;
  };
  for (const node of graph.nodes)
    if (ancestors(node.id).has(node.id)) problems.push(`node ${node.id} is part of a cycle`);
  for (const node of graph.nodes) {
    const entry = catalog.find((c) => c.type === node.type);
    if (!entry) {
      problems.push(`node ${node.id}: no installed plugin provides "${node.type}"`);
      continue;
    }
    for (const key of entry.paramsSchema.required ?? []) {
      const value = node.params[key];
      const hasDefault = entry.paramsSchema.properties?.[key]?.default !== undefined;
      if ((value === undefined || value === '') && !entry.hostFilled.includes(key) && !hasDefault)
        problems.push(`node ${node.id}: "${key}" is required`);
    }
    const before = ancestors(node.id);
    for (const m of JSON.stringify(node.params).matchAll(OUTPUT_REFERENCE)) {
      const [, from, key] = m as unknown as [string, string, string];
      if (!before.has(from))
        problems.push(
          `node ${node.id}: \${output:${from}.${key}} needs ${from} to run before it (connect them)`,
        );
      else {
        const source = catalog.find((c) => c.type === graph.nodes.find((n) => n.id === from)?.type);
        if (source && !(key in source.outputs))
          problems.push(`node ${node.id}: ${from} has no output "${key}"`);
      }
    }
  }
  return problems;
}

/** A fresh node id for a type: `db`, `db-2`, … */
export function freshId(graph: Graph, type: string): string {
  const base = (type.split('.').pop() ?? 'node').replace(/[^A-Za-z0-9_-]/g, '-');
  let id = base;
  for (let i = 2; graph.nodes.some((n) => n.id === id); i++) id = `${base}-${i}`;
  return id;
}
