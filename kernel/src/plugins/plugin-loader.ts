import { readFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type ComponentDefinition, isPlugin, type PluginDefinition, SDK_VERSION } from '@nullops/plugin-sdk';
import semver from 'semver';
import { z } from 'zod';

const ManifestSchema = z.object({
  sdk: z.string().min(1),
  main: z.string().min(1),
  frontend: z.string().min(1).optional(),
});

/** A plugin package read from disk: its manifest, and either its definition or why it has none. */
export type PluginModule =
  | {
      ok: true;
      name: string;
      version: string;
      frontend?: string;
      definition: PluginDefinition;
      components: ReadonlyMap<string, ComponentDefinition>;
    }
  | { ok: false; name: string; version: string; error: string };

/**
 * Loads the plugin package in `dir`. The manifest and its SDK range are checked before any plugin
 * code runs; then the main module is imported (with a time limit, in case its top level never
 * settles) and must default-export `definePlugin(...)`. Every failure comes back as a reason,
 * never as a thrown error: one broken plugin must not stop its host.
 */
export async function loadPluginModule(
  dir: string,
  options: { importTimeoutMs?: number } = {},
): Promise<PluginModule> {
  let pkg: { name?: string; version?: string; nullops?: unknown };
  try {
    pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
  } catch (err) {
    return {
      ok: false,
      name: '?',
      version: '?',
      error: `unreadable package.json: ${(err as Error).message}`,
    };
  }
  const name = String(pkg.name ?? '?');
  const version = String(pkg.version ?? '?');
  const fail = (error: string): PluginModule => ({ ok: false, name, version, error });

  const manifest = ManifestSchema.safeParse(pkg.nullops);
  if (!manifest.success)
    return fail('package.json has no valid "nullops" block ({"sdk": "<range>", "main": "<module>"})');
  const range = semver.validRange(manifest.data.sdk);
  if (!range) return fail(`nullops.sdk "${manifest.data.sdk}" is not a semver range`);
  if (!semver.satisfies(SDK_VERSION, range, { includePrerelease: true }))
    return fail(
      `needs plugin SDK ${manifest.data.sdk}, but this host provides ${SDK_VERSION}; install a release of the plugin built for SDK ${semver.major(SDK_VERSION)}.x`,
    );
  const main = resolve(dir, manifest.data.main);
  const inside = relative(dir, main);
  if (inside.startsWith('..') || isAbsolute(inside)) return fail('nullops.main points outside the package');

  let exported: unknown;
  const timeoutMs = options.importTimeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    const imported = (await Promise.race([
      import(pathToFileURL(main).href),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`its main module did not finish loading within ${timeoutMs / 1000} s`)),
          timeoutMs,
        );
      }),
    ])) as { default?: unknown };
    exported = imported.default;
  } catch (err) {
    return fail(`import failed: ${(err as Error)?.message ?? String(err)}`);
  } finally {
    clearTimeout(timer);
  }
  if (!isPlugin(exported)) return fail(`${manifest.data.main} must default-export definePlugin({...})`);
  return {
    ok: true,
    name,
    version,
    ...(manifest.data.frontend ? { frontend: manifest.data.frontend } : {}),
    definition: exported,
    // Former names (aliases) resolve to the same component, so saved pipelines keep working.
    components: new Map(
      exported.components.flatMap((c) => [c.type, ...(c.aliases ?? [])].map((t) => [t, c] as const)),
    ),
  };
}
