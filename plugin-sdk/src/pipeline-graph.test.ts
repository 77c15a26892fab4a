import test from 'ava';
import { ancestors, describeProblem, referenceProblems, structureProblems } from './pipeline-graph.js';

const node = (id: string, params: Record<string, unknown> = {}) => ({ id, type: 'x.y', params });

test('ancestors are transitive', (t) => {
  const before = ancestors(
    [{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'd' }],
    [
      { from: 'a', to: 'b' },
      { from: 'b', to: 'c' },
      { from: 'd', to: 'c' },
    ],
  );
  t.deepEqual([...(before.get('c') ?? [])].sort(), ['a', 'b', 'd']);
  t.deepEqual([...(before.get('a') ?? [])], []);
});

test('a diamond has no structural problem', (t) => {
  const graph = {
    nodes: [node('a'), node('b'), node('c'), node('d')],
    edges: [
      { from: 'a', to: 'b' },
      { from: 'a', to: 'c' },
      { from: 'b', to: 'd' },
      { from: 'c', to: 'd' },
    ],
  };
  t.deepEqual(structureProblems(graph), []);
});

test('bad and duplicate ids, dangling edges, self-loops and cycles are each named with their path', (t) => {
  const problems = structureProblems({
    nodes: [node('a'), node('a'), node('b'), node('bad id')],
    edges: [
      { from: 'a', to: 'ghost' },
      { from: 'b', to: 'b' },
      { from: 'a', to: 'b' },
      { from: 'b', to: 'a' },
    ],
  }).map(describeProblem);
  t.deepEqual(problems, [
    'nodes.1.id: duplicates node id a',
    'nodes.3.id: must be 1-64 letters, digits, _ or -',
    'edges.0.to: names no node (ghost)',
    'edges.1: joins a node to itself',
    'edges: form a cycle: a → b → a',
  ]);
});

test('a long cycle is found without recursion limits', (t) => {
  const nodes = Array.from({ length: 5000 }, (_, i) => node(`n${i}`));
  const edges = nodes.slice(1).map((x, i) => ({ from: `n${i}`, to: x.id }));
  edges.push({ from: 'n4999', to: 'n0' });
  const [cycle] = structureProblems({ nodes, edges });
  t.regex(cycle?.message ?? '', /^form a cycle: n0 → n1 → .* → n4999 → n0$/);
});

test('output references must name an earlier node and one of its declared outputs', (t) => {
  const graph = {
    nodes: [
      { id: 'db', type: 'postgres.database', params: {} },
      {
        id: 'sql',
        type: 'sql.script',
        params: { url: '${output:db.connectionString}', x: '${output:db.nope}' },
      },
      { id: 'early', type: 'sql.script', params: { url: '${output:sql.rows}' } },
    ],
    edges: [{ from: 'db', to: 'sql' }],
  };
  const outputsOf = (type: string) =>
    type === 'postgres.database' ? ['connectionString', 'password'] : undefined;
  t.deepEqual(referenceProblems(graph, outputsOf).map(describeProblem), [
    'nodes.1.params: ${output:db.nope}: db outputs only connectionString, password',
    'nodes.2.params: ${output:sql.rows} names a node that does not run before early (connect sql → early)',
  ]);
  // Undeclared outputs (outputsOf gives undefined) are not checked: only the order is.
  t.deepEqual(
    referenceProblems({ ...graph, nodes: graph.nodes.slice(0, 2) }, () => undefined),
    [],
  );
});
