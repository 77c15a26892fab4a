import 'reflect-metadata';
import { runOnDocker } from '@nullops/agent-docker';
import test from 'ava';
import plugin from './index.js';

// Needs a Docker engine and the offline test image (test/fixtures/build-test-images.sh).
const IMAGE = 'nullops-test/busybox:1';
const web = (healthPath: string, extra: Record<string, unknown> = {}) => ({
  id: 'web',
  type: 'container.service',
  params: {
    service: 'web',
    image: IMAGE,
    pull: 'missing',
    command: ['sh', '-c', 'mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 80 -h /www'],
    port: 80,
    cpuMillicores: 100,
    memoryMb: 32,
    healthCheck: { kind: 'http', path: healthPath },
    ...extra,
  },
});

test('starts the service, waits for its health check and records it for the agent', async (t) => {
  const run = await runOnDocker({ components: plugin.components, nodes: [web('/')] });
  t.teardown(run.cleanup);
  t.true(run.result.ok, JSON.stringify(run.result));
  t.deepEqual(run.result.ok ? run.result.specs.map((s) => s.name) : [], ['web']);
  t.true(
    run.lines.some((l) => /^web log web is healthy \(HTTP 200\)/.test(l)),
    run.lines.join('\n'),
  );
  t.is((await run.runtime.inspectService(run.deploymentId, 'web')).status, 'running');
});

test('a health check that never passes fails the step and rollback removes the service', async (t) => {
  const run = await runOnDocker({
    components: plugin.components,
    nodes: [web('/missing', { healthTimeoutSeconds: 2 })],
  });
  t.teardown(run.cleanup);
  t.false(run.result.ok);
  t.regex(
    JSON.stringify(run.result),
    /did not pass its http health check within 2 s \(last: HTTP 404: 404 Not Found/,
  );
  t.true(run.lines.includes('web rolled-back'));
  t.is((await run.runtime.inspectService(run.deploymentId, 'web')).status, 'missing');
});
