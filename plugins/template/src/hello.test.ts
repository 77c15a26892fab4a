import 'reflect-metadata';
import { runOnDocker } from '@nullops/agent-docker';
import { isPlugin } from '@nullops/plugin-sdk';
import test from 'ava';
import plugin from './index.js';

// Runs the component the way a Docker agent does (its executor, a real Docker engine). Needs a
// Docker engine and an image with a shell: HELLO_TEST_IMAGE (default busybox:1.36).
const image = process.env.HELLO_TEST_IMAGE ?? 'busybox:1.36';

test('acme.hello runs a job on the deployment network and outputs the greeting', async (t) => {
  t.true(isPlugin(plugin));
  const run = await runOnDocker({
    components: plugin.components,
    nodes: [{ id: 'hi', type: 'acme.hello', params: { name: 'Ada', image } }],
  });
  t.teardown(run.cleanup);
  t.true(run.result.ok, JSON.stringify(run.result));
  t.true(
    run.lines.some((l) => /^hi log hello, Ada \(from /.test(l)),
    run.lines.join('\n'),
  );
});

test('params are validated before anything runs', async (t) => {
  const run = await runOnDocker({
    components: plugin.components,
    nodes: [{ id: 'hi', type: 'acme.hello', params: { name: '' } }],
  });
  t.teardown(run.cleanup);
  t.false(run.result.ok);
  t.regex(JSON.stringify(run.result), /invalid params: name/);
});
