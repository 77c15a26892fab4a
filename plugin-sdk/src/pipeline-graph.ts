/**
 * The rules of a pipeline graph, in one place, for everything that checks one: the editor before
 * it saves, the control plane when it saves, and the agent before it runs. Free of zod and of
 * Node.js, so a browser bundle can import it alone (`@nullops/plugin-sdk/pipeline-graph`).
 *
 * A graph's nodes are components with params; an edge says "from must finish before to".
 */
import { outputReferences } from './references.js';

export interface GraphNodeLike {
  id: string;
  type: string;
  params?: Readonly<Record<string, unknown>>;
}

export interface GraphEdge {
  from: string;
  to: string;
}

export interface GraphLike {
  nodes: readonly GraphNodeLike[];
  edges: readonly GraphEdge[];
}

/** One thing wrong with a graph: where (a path into the graph, e.g. `['nodes', 2, 'id']`) and what. */
export interface GraphProblem {
  path: (string | number)[];
  message: string;
}

/** What a node id may be: it names the node in `${output:ID.KEY}` and in step events. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const NODE_ID_RULE = 'must be 1-64 letters, digits, _ or -';

/**
 * The graph's shape: node ids valid and unique, edges between existing nodes, no node joined to
 * itself, and no cycle (reported with its path).
 */
export function structureProblems(graph: GraphLike): GraphProblem[] {
  const problems: GraphProblem[] = [];
  const ids = new Set<string>();
  graph.nodes.forEach((node, i) => {
    if (!NODE_ID_PATTERN.test(node.id)) problems.push({ path: ['nodes', i, 'id'], message: NODE_ID_RULE });
    if (ids.has(node.id))
      problems.push({ path: ['nodes', i, 'id'], message: `duplicates node id ${node.id}` });
    ids.add(node.id);
  });
  const next = new Map<string, string[]>();
  graph.edges.forEach((edge, i) => {
    for (const end of ['from', 'to'] as const)
      if (!ids.has(edge[end]))
        problems.push({ path: ['edges', i, end], message: `names no node (${edge[end]})` });
    // A self-loop is named as such, not once more as a cycle of one.
    if (edge.from === edge.to) problems.push({ path: ['edges', i], message: 'joins a node to itself' });
    else next.set(edge.from, [...(next.get(edge.from) ?? []), edge.to]);
  });
  const cycle = findCycle([...ids], next);
  if (cycle) problems.push({ path: ['edges'], message: `form a cycle: ${cycle.join(' → ')}` });
  return problems;
}

/**
 * `${output:NODE.KEY}` references: each must name a node that runs before the referencing one (an
 * ancestor through the edges) and, when that node's component declares its outputs
 * (`outputsOf(type)`), one of them.
 */
export function referenceProblems(
  graph: GraphLike,
  outputsOf: (type: string) => readonly string[] | undefined,
): GraphProblem[] {
  const problems: GraphProblem[] = [];
  const before = ancestors(graph.nodes, graph.edges);
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  graph.nodes.forEach((node, i) => {
    for (const ref of outputReferences(node.params ?? {})) {
      const reference = `\${output:${ref.node}.${ref.key}}`;
      if (!before.get(node.id)?.has(ref.node)) {
        problems.push({
          path: ['nodes', i, 'params'],
          message: `${reference} names a node that does not run before ${node.id} (connect ${ref.node} → ${node.id})`,
        });
        continue;
      }
      const outputs = outputsOf(byId.get(ref.node)?.type ?? '');
      if (outputs && !outputs.includes(ref.key))
        problems.push({
          path: ['nodes', i, 'params'],
          message: `${reference}: ${ref.node} outputs only ${outputs.join(', ') || 'nothing'}`,
        });
    }
  });
  return problems;
}

/** For each node, every node that must finish before it (transitively), from the graph's edges. */
export function ancestors(
  nodes: readonly { id: string }[],
  edges: readonly GraphEdge[],
): Map<string, Set<string>> {
  const parents = new Map<string, string[]>();
  for (const e of edges) parents.set(e.to, [...(parents.get(e.to) ?? []), e.from]);
  const result = new Map<string, Set<string>>();
  for (const node of nodes) {
    const seen = new Set<string>();
    const stack = [...(parents.get(node.id) ?? [])];
    while (stack.length) {
      const id = stack.pop() as string;
      if (seen.has(id)) continue;
      seen.add(id);
      stack.push(...(parents.get(id) ?? []));
    }
    result.set(node.id, seen);
  }
  return result;
}

/** A cycle as a list of node ids (first repeated at the end), or undefined. Iterative: no recursion limit. */
export function findCycle(
  ids: readonly string[],
  next: ReadonlyMap<string, readonly string[]>,
): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  for (const start of ids) {
    if (state.has(start)) continue;
    const stack: { id: string; i: number }[] = [{ id: start, i: 0 }];
    state.set(start, 'open');
    while (stack.length) {
      const top = stack[stack.length - 1] as { id: string; i: number };
      const children = next.get(top.id) ?? [];
      if (top.i >= children.length) {
        state.set(top.id, 'done');
        stack.pop();
        continue;
      }
      const child = children[top.i++] as string;
      if (state.get(child) === 'open') {
        const from = stack.findIndex((f) => f.id === child);
        return [...stack.slice(from).map((f) => f.id), child];
      }
      if (!state.has(child)) {
        state.set(child, 'open');
        stack.push({ id: child, i: 0 });
      }
    }
  }
  return undefined;
}

/** A problem as one line: `nodes.2.params: ${output:db.url} names a node that…`. */
export function describeProblem(problem: GraphProblem): string {
  return `${problem.path.join('.')}: ${problem.message}`;
}
