import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A first-party plugin shipped with a host program, found where that program's install put it. */
export interface BundledPlugin {
  name: string;
  dir: string;
}

interface Manifest {
  name?: string;
  dependencies?: Record<string, string>;
  nullops?: unknown;
}

/**
 * The plugins a host program bundles: its own package's dependencies that are NullOps plugins
 * (their package.json has a `nullops` block). The list is the package.json, so what an agent
 * bundles is what its install brings; a dependency that is missing from the install is a broken
 * installation and throws, instead of being skipped.
 *
 * @param packageUrl the `import.meta.url` of a module inside the host program's package
 */
export function bundledPluginsOf(packageUrl: string): BundledPlugin[] {
  const own = findManifest(dirname(fileURLToPath(packageUrl)));
  const require = createRequire(join(own.dir, 'package.json'));
  const plugins: BundledPlugin[] = [];
  for (const name of Object.keys(own.manifest.dependencies ?? {})) {
    let dir: string;
    try {
      dir = packageDirOf(name, require);
    } catch (err) {
      throw new Error(
        `${own.manifest.name} depends on ${name}, which is not installed (${(err as Error).message}); reinstall it`,
      );
    }
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
    if (manifest.nullops) plugins.push({ name, dir });
  }
  return plugins;
}

/**
 * The folder of an installed package, looked up the way Node looks for it (the `node_modules`
 * folders from `require`'s location upwards), without resolving its entry point: a package's
 * `exports` may hide both its package.json and a CommonJS entry.
 */
export function packageDirOf(name: string, require: NodeJS.Require = createRequire(import.meta.url)): string {
  for (const modules of require.resolve.paths(name) ?? []) {
    const dir = join(modules, name);
    if (existsSync(join(dir, 'package.json'))) return realpathSync(dir);
  }
  throw new Error(`cannot find the folder of ${name}`);
}

/** The nearest package.json at or above `from`: the package a module belongs to. */
function findManifest(from: string): { dir: string; manifest: Manifest } {
  for (let dir = from; ; dir = dirname(dir)) {
    const path = join(dir, 'package.json');
    if (existsSync(path)) return { dir, manifest: JSON.parse(readFileSync(path, 'utf8')) as Manifest };
    if (dirname(dir) === dir) throw new Error(`no package.json at or above ${from}`);
  }
}
