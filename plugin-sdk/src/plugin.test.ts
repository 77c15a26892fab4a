import test from 'ava';
import { defineComponent, isComponent } from './component.js';
import { z } from './index.js';
import { definePlugin, isPlugin } from './plugin.js';
import { outputReferences, substituteOutputs } from './references.js';
import { SDK_VERSION } from './version.js';

const component = (type: string) =>
  defineComponent({
    type,
    version: 1,
    title: 'T',
    category: 'C',
    params: z.object({ name: z.string().describe('who'), count: z.number().int().default(1) }).strict(),
    run: async () => ({}),
  });

test('definePlugin and defineComponent return tagged, versioned objects hosts recognise across SDK copies', (t) => {
  const c = component('acme.one');
  const p = definePlugin({ components: [c] });
  t.true(isPlugin(p));
  t.true(isComponent(c));
  t.is(p.sdkVersion, SDK_VERSION);
  // A structurally equal object from "another copy" of the SDK is recognised by its tag.
  t.true(isPlugin(JSON.parse(JSON.stringify({ ...p, components: [] }))));
  t.false(isPlugin({ components: [] }));
  t.like(c.paramsJsonSchema, {
    type: 'object',
    required: ['name'],
    properties: { name: { type: 'string', description: 'who' }, count: { type: 'integer', default: 1 } },
  });
});

test('bad declarations fail at definition time with a clear message', (t) => {
  t.throws(() => component('NoNamespace'), { message: /must be namespaced/ });
  t.throws(() => definePlugin({ components: [component('acme.a'), component('acme.a')] }), {
    message: /acme\.a is declared twice/,
  });
  t.throws(() => definePlugin({ components: [{ type: 'acme.b' } as never] }), { message: /defineComponent/ });
});

test('output references: found deeply, substituted, and a missing output is an error naming it', (t) => {
  const params = {
    url: '${output:db.connectionString}',
    env: { A: 'x-${output:db.port}-y' },
    list: ['${secret:S}'],
  };
  t.deepEqual(outputReferences(params), [
    { node: 'db', key: 'connectionString' },
    { node: 'db', key: 'port' },
  ]);
  t.deepEqual(substituteOutputs(params, { db: { connectionString: 'postgres://h/d', port: 5432 } }), {
    url: 'postgres://h/d',
    env: { A: 'x-5432-y' },
    list: ['${secret:S}'],
  });
  t.throws(() => substituteOutputs(params, { db: { port: 1 } }), {
    message: '${output:db.connectionString} has no value: node db did not output "connectionString"',
  });
});
