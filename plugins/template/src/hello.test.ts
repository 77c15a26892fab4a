import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { DockerRuntime } from '@nullops/agent-docker';
import { executePipeline } from '@nullops/core';
import { isPlugin } from '@nullops/plugin-sdk';
import test from 'ava';
import plugin from './index.js';

// Runs the component the way an agent does (the real executor, a real Docker engine). Needs a
// Docker engine and an image with a shell: HELLO_TEST_IMAGE (default busybox:1.36).
const image = process.env.HELLO_TEST_IMAGE ?? 'nullops-test/busybox:1';

test('acme.hello runs a job on the deployment network and outputs the greeting', async (t) => {
  t.true(isPlugin(plugin));
  const runtime = new DockerRuntime({ agentId: 'plugin-template-test', publishHost: '127.0.0.1' });
  const deployment = { id: randomUUID(), name: 'hello-test' };
  t.teardown(() => runtime.removeDeployment(deployment.id));
  const lines: string[] = [];
  const result = await executePipeline({
    run: {
      pipelineVersion: 1,
      nodes: [{ id: 'hi', type: 'acme.hello', version: 1, params: { name: 'Ada', image } }],
      edges: [],
      registryAuth: [],
      plugins: [],
    },
    deployment,
    runtime,
    components: new Map(plugin.components.map((c) => [c.type, c])),
    signal: new AbortController().signal,
    onStep: (node, status, message) => lines.push(`${node} ${status}${message ? ` ${message}` : ''}`),
  });
  t.true(result.ok, JSON.stringify(result));
  t.true(
    lines.some((l) => /^hi log hello, Ada \(from /.test(l)),
    lines.join('\n'),
  );
});

test('params are validated before anything runs', async (t) => {
  const result = await executePipeline({
    run: {
      pipelineVersion: 1,
      nodes: [{ id: 'hi', type: 'acme.hello', version: 1, params: { name: '' } }],
      edges: [],
      registryAuth: [],
      plugins: [],
    },
    deployment: { id: randomUUID(), name: 'x' },
    runtime: new DockerRuntime({ agentId: 'plugin-template-test', publishHost: '127.0.0.1' }),
    components: new Map(plugin.components.map((c) => [c.type, c])),
    signal: new AbortController().signal,
    onStep: () => {},
  });
  t.false(result.ok);
  t.regex(JSON.stringify(result), /invalid params: name/);
});
