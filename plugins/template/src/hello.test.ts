import type { JobSpec } from '@nullops/plugin-sdk';
import { isPlugin } from '@nullops/plugin-sdk';
import { runComponent, testRuntime } from '@nullops/plugin-sdk/testing';
import test from 'ava';
import plugin, { hello } from './index.js';

// The component's own behaviour, against a runtime that answers its one call (`runJob`) as a
// runtime would. That it works on a real node is shown by installing the plugin into a NullOps
// and deploying a pipeline with it (docs/plugins.md).

/** A runtime whose jobs print what `sh -c` would, and which records every job it was given. */
function jobs(exitCode = 0) {
  const given: JobSpec[] = [];
  const runtime = testRuntime({
    runJob: async (_deployment, spec) => {
      given.push(spec);
      const output = exitCode === 0 ? `hello, ${spec.env?.NAME} (from ${spec.name})\n` : 'sh: not found\n';
      return { exitCode, output };
    },
  });
  return { runtime, given };
}

test('acme.hello runs a job that greets, and outputs the greeting', async (t) => {
  t.true(isPlugin(plugin));
  const { runtime, given } = jobs();
  const run = await runComponent(hello, { name: 'Ada' }, { runtime });
  t.true(run.ok, run.error);
  t.deepEqual(run.outputs, { greeting: 'hello, Ada (from hello)' });
  t.is(given[0]?.image, 'busybox:1.36', 'the default image');
  // The name travels as an environment variable, never inside the command line.
  t.deepEqual(given[0]?.env, { NAME: 'Ada' });
  t.false(given[0]?.command?.join(' ').includes('Ada'));
  t.deepEqual(run.lines, ['log greeting Ada from busybox:1.36', 'log hello, Ada (from hello)']);
});

test('a failing job fails the step with its output; params are validated before anything runs', async (t) => {
  const failing = jobs(127);
  const run = await runComponent(hello, { name: 'Ada' }, { runtime: failing.runtime });
  t.false(run.ok);
  t.is(run.error, 'the hello job failed (exit 127): sh: not found\n');
  t.true(run.lines.includes('log nothing to undo'), 'its rollback ran');

  const none = jobs();
  const invalid = await runComponent(hello, { name: '' }, { runtime: none.runtime });
  t.false(invalid.ok);
  t.regex(invalid.error ?? '', /invalid params: name/);
  t.is(none.given.length, 0, 'nothing ran');
});
