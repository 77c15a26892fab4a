import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import Arborist from '@npmcli/arborist';
import type { PluginRef } from '@nullops/plugin-sdk';
import pacote from 'pacote';
import { packageDirOf } from './bundled-plugins.js';

/** A registry to download from; the token is an npm auth token (`npm token create`). */
export interface NpmRegistry {
  url: string;
  token?: string;
}

/** The SDK the host provides to every plugin (plugins declare it as a peer dependency). */
export const SDK_PACKAGE = '@nullops/plugin-sdk';

/** npm-registry-fetch options for one registry: its URL and, keyed by it, the token. */
export function registryOptions(registry: NpmRegistry): Record<string, unknown> {
  const url = new URL(registry.url);
  const base = `${url.protocol}//${url.host}${url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`}`;
  return {
    registry: base,
    ...(registry.token ? { [`${base.slice(url.protocol.length)}:_authToken`]: registry.token } : {}),
  };
}

/** Resolves `name@range` in a registry to one exact release (version and integrity). */
export async function resolvePackage(spec: string, registry: NpmRegistry, cache: string) {
  const manifest = await pacote.manifest(spec, { ...registryOptions(registry), cache, fullMetadata: false });
  return { name: manifest.name, version: manifest.version, integrity: manifest._integrity };
}

/**
 * Plugin releases on disk, one folder per exact release (`<root>/<name>@<version>`), so several
 * versions of one plugin coexist. A release is downloaded with its integrity checked, its own
 * dependencies installed beside it without running install scripts, and only then moved into place
 * (rename), so a half-installed folder is never loaded. `<root>/node_modules` links the host's SDK,
 * which is how `import '@nullops/plugin-sdk'` inside a plugin resolves to the host's copy.
 */
export class PluginStore {
  constructor(readonly root: string) {}

  dirOf(name: string, version: string): string {
    return join(this.root, `${name.replace('/', '+')}@${version}`);
  }

  private get cache() {
    return join(this.root, '.cache');
  }

  /** The release's folder: already on disk (same integrity), or downloaded now from `ref.registry`. */
  async install(ref: PluginRef): Promise<string> {
    const dir = this.dirOf(ref.name, ref.version);
    const marker = join(dir, '.nullops-release.json');
    const existing = await readFile(marker, 'utf8').then(JSON.parse, () => undefined);
    if (existing && (!ref.integrity || existing.integrity === ref.integrity)) return dir;
    if (!ref.registry)
      throw new Error('it is not on this host and no registry was given to download it from');

    await this.linkSdk();
    const temp = join(this.root, `.installing-${randomBytes(6).toString('hex')}`);
    try {
      const options = { ...registryOptions(ref.registry), cache: this.cache };
      const fetched = await pacote.extract(`${ref.name}@${ref.version}`, temp, {
        ...options,
        ...(ref.integrity ? { integrity: ref.integrity } : {}),
      });
      const pkg = JSON.parse(await readFile(join(temp, 'package.json'), 'utf8')) as {
        dependencies?: Record<string, string>;
      };
      const deps = Object.keys(pkg.dependencies ?? {}).filter((d) => d !== SDK_PACKAGE);
      if (deps.length) {
        // The tree the control plane installed, when it says: exactly those packages, each with
        // its integrity checked, however the registry has moved on since.
        if (ref.lockfile) await writeFile(join(temp, 'package-lock.json'), ref.lockfile);
        // The plugin's own dependencies, from the same registry; never their install scripts
        // (Arborist reads `ignoreScripts` from its constructor only), never the SDK (peer
        // dependencies come from the host).
        await new Arborist({
          ...options,
          path: temp,
          legacyPeerDeps: true,
          audit: false,
          fund: false,
          ignoreScripts: true,
        }).reify({ omit: ['dev', 'peer'], save: false });
      }
      await writeFile(
        join(temp, '.nullops-release.json'),
        JSON.stringify({ name: ref.name, version: ref.version, integrity: fetched.integrity }),
      );
      await rm(dir, { recursive: true, force: true });
      await mkdir(dirname(dir), { recursive: true });
      await rename(temp, dir);
      return dir;
    } catch (err) {
      // The install's own error is what is reported; its leftovers go (retried: a tree being
      // written a moment ago may still be busy) without hiding it.
      await rm(temp, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 }).catch(() => {});
      throw err;
    }
  }

  /** Leftovers of installs a crash interrupted (`.installing-*`): removed at start. */
  async sweep(): Promise<void> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    await Promise.all(
      names
        .filter((n) => n.startsWith('.installing-'))
        .map((n) => rm(join(this.root, n), { recursive: true, force: true, maxRetries: 5 }).catch(() => {})),
    );
  }

  /**
   * The dependency tree installed for a release, as a package-lock (undefined when it has no
   * dependencies): what the control plane hands every other host with the release.
   */
  async lockfileOf(name: string, version: string): Promise<string | undefined> {
    const dir = this.dirOf(name, version);
    const hidden = await readFile(join(dir, 'node_modules', '.package-lock.json'), 'utf8').catch(
      () => undefined,
    );
    if (!hidden) return undefined;
    const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    const { packages } = JSON.parse(hidden) as { packages: Record<string, unknown> };
    const dependencies = Object.fromEntries(
      Object.entries(pkg.dependencies ?? {}).filter(([dep]) => dep !== SDK_PACKAGE),
    );
    return JSON.stringify({
      name,
      version,
      lockfileVersion: 3,
      requires: true,
      packages: { '': { name, version, dependencies }, ...packages },
    });
  }

  async remove(name: string, version: string): Promise<void> {
    await rm(this.dirOf(name, version), { recursive: true, force: true });
  }

  private sdkLinked: Promise<void> | undefined;

  /** Points `<root>/node_modules/@nullops/plugin-sdk` at the host's SDK, once per process. */
  private linkSdk(): Promise<void> {
    this.sdkLinked ??= (async () => {
      const link = join(this.root, 'node_modules', SDK_PACKAGE);
      await mkdir(dirname(link), { recursive: true });
      // A fresh link renamed over the old one: never a moment without it, and the host's SDK may
      // have moved since the last start.
      const temp = `${link}.${randomBytes(4).toString('hex')}`;
      await symlink(packageDirOf(SDK_PACKAGE), temp, 'dir');
      await rename(temp, link);
    })().catch((err) => {
      this.sdkLinked = undefined;
      throw err;
    });
    return this.sdkLinked;
  }
}
