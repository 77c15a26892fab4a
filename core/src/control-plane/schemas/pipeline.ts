import { z } from 'zod';

/**
 * A pipeline graph: nodes are components with params, edges say "from must finish before to".
 * The editor's layout (positions) is kept so a saved version reopens as it was drawn.
 */
export const PipelineGraph = z
  .object({
    nodes: z
      .array(
        z
          .object({
            id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, _ or -'),
            type: z
              .string()
              .max(128)
              .regex(
                /^[a-z0-9-]+(\.[a-z0-9-]+)+$/,
                'must be a namespaced component type such as container.service',
              ),
            version: z.number().int().min(1).default(1),
            title: z.string().max(200).optional(),
            params: z.record(z.string(), z.unknown()).default({}),
            position: z.tuple([z.number(), z.number()]).optional(),
          })
          .strict(),
      )
      .max(500, 'at most 500 nodes'),
    edges: z
      .array(z.object({ from: z.string(), to: z.string() }).strict())
      .max(5000)
      .default([]),
  })
  .strict()
  .superRefine((graph, ctx) => {
    const ids = new Set<string>();
    graph.nodes.forEach((node, i) => {
      if (ids.has(node.id))
        ctx.addIssue({ code: 'custom', path: ['nodes', i, 'id'], message: `duplicates node id ${node.id}` });
      ids.add(node.id);
    });
    const next = new Map<string, string[]>();
    graph.edges.forEach((edge, i) => {
      for (const end of ['from', 'to'] as const) {
        if (!ids.has(edge[end])) {
          ctx.addIssue({ code: 'custom', path: ['edges', i, end], message: `names no node (${edge[end]})` });
        }
      }
      if (edge.from === edge.to)
        ctx.addIssue({ code: 'custom', path: ['edges', i], message: 'joins a node to itself' });
      next.set(edge.from, [...(next.get(edge.from) ?? []), edge.to]);
    });
    const cycle = findCycle([...ids], next);
    if (cycle)
      ctx.addIssue({ code: 'custom', path: ['edges'], message: `form a cycle: ${cycle.join(' → ')}` });
  });

export type PipelineGraph = z.infer<typeof PipelineGraph>;

/** A cycle in the graph as a list of node ids, or undefined (iterative DFS: no recursion limit). */
function findCycle(ids: string[], next: Map<string, string[]>): string[] | undefined {
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
