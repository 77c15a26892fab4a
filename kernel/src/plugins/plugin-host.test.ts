import 'reflect-metadata';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PipelineRun } from '@nullops/plugin-sdk';
import test from 'ava';
import { pino } from 'pino';
import { rootContainer as container } from '../container.js';
import { packageDirOf } from './bundled-plugins.js';
import { PluginHost } from './plugin-host.js';
import { loadPluginModule } from './plugin-loader.js';
import { PluginStore } from './plugin-store.js';

const logger = pino({ level: 'silent' });

async function pluginDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nullops-plugin-'));
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return dir;
}
const manifest = (nullops: unknown) =>
  JSON.stringify({ name: '@t/p', version: '1.0.0', type: 'module', nullops });

test('the SDK range is checked before any plugin code runs', async (t) => {
  const dir = await pluginDir({
    'package.json': manifest({ sdk: '^2.0.0', main: './index.js' }),
    'index.js': 'globalThis.__pluginHostTestImported = true; export default {};',
  });
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const loaded = await loadPluginModule(dir);
  t.false(loaded.ok);
  t.regex((loaded as { error: string }).error, /needs plugin SDK \^2\.0\.0, but this host provides 1\./);
  t.falsy((globalThis as { __pluginHostTestImported?: boolean }).__pluginHostTestImported);
});

test('bad manifests, escaping mains, throwing and hanging imports are reasons, not crashes', async (t) => {
  const cases: [Record<string, string>, RegExp, number?][] = [
    [{ 'package.json': JSON.stringify({ name: 'x', version: '1.0.0' }) }, /no valid "nullops" block/],
    [{ 'package.json': manifest({ sdk: 'not a range', main: './i.js' }) }, /is not a semver range/],
    [{ 'package.json': manifest({ sdk: '^1.0.0', main: '../../etc/passwd' }) }, /outside the package/],
    [
      {
        'package.json': manifest({ sdk: '^1.0.0', main: './i.js' }),
        'i.js': 'throw new TypeError("boom at import")',
      },
      /import failed: boom at import/,
    ],
    [
      {
        'package.json': manifest({ sdk: '^1.0.0', main: './i.js' }),
        'i.js': 'await new Promise(() => {}); export default 1;',
      },
      /did not finish loading within 0\.3 s/,
      300,
    ],
    [
      {
        'package.json': manifest({ sdk: '^1.0.0', main: './i.js' }),
        'i.js': 'export default { components: [] };',
      },
      /must default-export definePlugin/,
    ],
  ];
  for (const [files, reason, importTimeoutMs] of cases) {
    const dir = await pluginDir(files);
    const loaded = await loadPluginModule(dir, importTimeoutMs ? { importTimeoutMs } : {});
    await rm(dir, { recursive: true, force: true });
    t.false(loaded.ok);
    t.regex((loaded as { error: string }).error, reason);
  }
});

test('a release that cannot be downloaded fails only the components that need it, and is retried later', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'nullops-plugin-store-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const host = new PluginHost({ store: new PluginStore(root), container, logger });
  const bundled = await host.loadBundled([
    { name: '@nullops/plugin-container-service', dir: packageDirOf('@nullops/plugin-container-service') },
  ]);
  t.true(bundled.some((p) => p.name === '@nullops/plugin-container-service' && p.status === 'loaded'));

  const ref = {
    name: '@acme/gone',
    version: '1.2.3',
    source: 'registry' as const,
    registry: { url: 'http://127.0.0.1:9/' },
  };
  const first = await host.ensure(ref);
  t.is(first.status, 'failed');
  t.regex(first.error ?? '', /^download failed: .*ECONNREFUSED/);
  t.false(
    (await host.all()).some((p) => p.name === '@acme/gone'),
    'a failed download is not remembered: the next run tries again',
  );
  // Neither is a release that has no registry to come from (a node told of it before its plugin list).
  const unsourced = { name: '@acme/unsourced', version: '1.0.0', source: 'registry' as const };
  t.is((await host.ensure(unsourced)).status, 'failed');
  t.false(
    (await host.all()).some((p) => p.name === '@acme/unsourced'),
    'not remembered either',
  );

  const run: PipelineRun = {
    pipelineVersion: 1,
    nodes: [{ id: 'job', type: 'acme.thing', version: 1, plugin: '@acme/gone', params: {} }],
    edges: [],
    registryAuth: [],
    plugins: [ref],
  };
  const { components, unavailable } = await host.componentsFor(run);
  t.is(components.size, 0);
  t.regex(
    unavailable.get('acme.thing') ?? '',
    /plugin @acme\/gone@1\.2\.3 is not available on this node: download failed/,
  );
});
