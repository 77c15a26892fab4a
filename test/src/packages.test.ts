import { execFile } from 'node:child_process';
import { cp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { tempDir } from './helpers/agent-process.js';
import { ensureTestImages } from './helpers/docker.js';
import { type Stack, startStack } from './helpers/stack.js';
import { eventually } from './helpers/time.js';
import { startVerdaccio, type TestNpmRegistry } from './helpers/verdaccio.js';

// The packages people install outside this repository, as its docs tell them to: `npm run pack`
// makes the SDK's and the CLI's tarballs; the CLI installs globally from its tarball; the plugin
// template, copied to a folder of its own, installs the SDK from its tarball, builds, passes its
// tests, and — published to a registry — runs in a NullOps deployment.

const run = promisify(execFile);
/** npm, quietly, taking what it can from its cache (the packages this repository installed). */
const npm = (args: string[], cwd: string) =>
  run('npm', [...args, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    env: { ...process.env, npm_config_update_notifier: 'false' },
    maxBuffer: 16 * 1024 * 1024,
  });

let packages: string;
let tarballs: { sdk: string; cli: string };

test.before(async () => {
  packages = await tempDir('nullops-packages-');
  await run('node', [resolve('scripts/pack.mjs'), packages]);
  const files = await readdir(packages);
  const find = (prefix: string) => join(packages, files.find((f) => f.startsWith(prefix)) as string);
  tarballs = { sdk: find('nullops-plugin-sdk-'), cli: find('nullops-cli-') };
});

test.after.always(async () => {
  await rm(packages, { recursive: true, force: true });
});

test('the CLI installs globally from its tarball and runs', async (t) => {
  const prefix = await tempDir('nullops-cli-prefix-');
  t.teardown(() => rm(prefix, { recursive: true, force: true }));
  await npm(['install', '--global', '--prefix', prefix, tarballs.cli], prefix);
  const nullops = join(prefix, 'bin', 'nullops');
  const version = JSON.parse(await readFile(resolve('cli/package.json'), 'utf8')).version;
  t.is((await run(nullops, ['--version'])).stdout.trim(), version);
  const help = (await run(nullops, ['--help'])).stdout;
  for (const command of ['login', 'deploy', 'logs', 'import'])
    t.regex(help, new RegExp(`\\n  ${command}\\b`));
  // A usage mistake exits 2, as documented, from the installed copy too.
  const wrong = await run(nullops, ['deploy']).catch((err: { code: number; stderr: string }) => err);
  t.is((wrong as { code: number }).code, 2);
});

test('the plugin template, copied out of the repository, builds against the SDK tarball, passes its tests, and runs in a NullOps deployment', async (t) => {
  const plugin = await tempDir('nullops-plugin-hello-');
  t.teardown(() => rm(plugin, { recursive: true, force: true }));
  for (const part of ['src', 'package.json', 'tsconfig.json'])
    await cp(resolve('plugins/template', part), join(plugin, part), { recursive: true });
  // docs/plugins.md step 1: name it, make it public, take the SDK from its tarball.
  const manifest = JSON.parse(await readFile(join(plugin, 'package.json'), 'utf8'));
  const { private: _, ...published } = {
    ...manifest,
    name: '@acme/nullops-plugin-outside',
    version: '1.0.0',
  };
  await writeFile(join(plugin, 'package.json'), JSON.stringify(published, null, 2));
  await npm(['install', '--save-dev', tarballs.sdk], plugin);
  await npm(['install'], plugin);
  const installed = JSON.parse(await readFile(join(plugin, 'package.json'), 'utf8'));
  t.deepEqual(
    Object.keys({ ...installed.dependencies, ...installed.devDependencies, ...installed.peerDependencies })
      .filter((name) => name.startsWith('@nullops/'))
      .sort(),
    ['@nullops/plugin-sdk'],
    'the SDK is its only NullOps dependency',
  );
  const tested = await npm(['test'], plugin);
  t.regex(tested.stdout, /2 tests passed/);

  // Published to a registry and installed into a running NullOps: its component runs there.
  ensureTestImages();
  const registry: TestNpmRegistry = await startVerdaccio();
  t.teardown(() => registry.stop());
  await registry.publish(plugin);
  const s: Stack = await startStack({ prepare: () => {}, services: [] });
  t.teardown(() => s.stop());
  await s.admin.expect(201, 'POST', '/api/plugins', {
    package: '@acme/nullops-plugin-outside@^1.0.0',
    registry: { url: registry.url, token: registry.token },
  });
  await eventually('the plugin loaded on the control plane and the node', async () => {
    const { statuses } = (
      await s.admin.get(`/api/plugins/${encodeURIComponent('@acme/nullops-plugin-outside')}`)
    ).body;
    const loaded = (host: string) =>
      statuses?.some(
        (x: { host: string; nodeName: string | null; status: string }) =>
          (x.nodeName ?? x.host) === host && x.status === 'loaded',
      );
    return loaded('control-plane') && loaded('node-1');
  });
  await s.savePipeline({
    nodes: [{ id: 'hi', type: 'acme.hello', params: { name: 'Ada', image: 'nullops-test/busybox:1' } }],
    edges: [],
  });
  const id = await s.deploy('hello-outside');
  await s.until(id, 'running');
  const history = (await s.admin.get(`/api/deployments/${id}/history`)).body.items as {
    kind: string;
    message: string | null;
  }[];
  t.true(
    history.some((h) => h.kind === 'step.log' && /^hello, Ada \(from /.test(h.message ?? '')),
    history.map((h) => `${h.kind} ${h.message}`).join('\n'),
  );
});
