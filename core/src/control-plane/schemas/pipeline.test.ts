import test from 'ava';
import { PipelineGraph } from './pipeline.js';

const node = (id: string) => ({ id, type: 'docker.service' });

test('a diamond is a valid graph; defaults are filled in', (t) => {
  const graph = PipelineGraph.parse({
    nodes: [node('a'), node('b'), node('c'), node('d')],
    edges: [
      { from: 'a', to: 'b' },
      { from: 'a', to: 'c' },
      { from: 'b', to: 'd' },
      { from: 'c', to: 'd' },
    ],
  });
  t.is(graph.nodes[0]?.version, 1);
  t.deepEqual(graph.nodes[0]?.params, {});
});

test('cycles are reported with their path, even long ones', (t) => {
  const nodes = Array.from({ length: 500 }, (_, i) => node(`n${i}`));
  const edges = nodes.slice(1).map((x, i) => ({ from: `n${i}`, to: x.id }));
  edges.push({ from: 'n499', to: 'n0' });
  const result = PipelineGraph.safeParse({ nodes, edges });
  t.false(result.success);
  t.regex(result.error?.issues[0]?.message ?? '', /^form a cycle: n0 → n1 → .* → n499 → n0$/);
});

test('self-loops, dangling edges and duplicate ids are each named, once', (t) => {
  const result = PipelineGraph.safeParse({
    nodes: [node('a'), node('a')],
    edges: [
      { from: 'a', to: 'a' },
      { from: 'a', to: 'ghost' },
    ],
  });
  const paths = result.error?.issues.map((i) => i.path.join('.'));
  // The self-loop is named as such (edges.0), not once more as a cycle of one.
  t.deepEqual(paths?.sort(), ['edges.0', 'edges.1.to', 'nodes.1.id']);
});

test('component types must be namespaced', (t) => {
  t.false(PipelineGraph.safeParse({ nodes: [{ id: 'a', type: 'service' }] }).success);
});
