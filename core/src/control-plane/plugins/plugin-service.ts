import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { inject, injectable, rootContainer } from '@nullops/kernel';
import {
  bundledPluginsOf,
  describeInstallError,
  type HostedPlugin,
  type NpmRegistry,
  PluginHost,
  PluginStore,
  resolvePackage,
  statusOf,
} from '@nullops/kernel/plugins';
import {
  ConflictError,
  InputError,
  NotFoundError,
  type PluginRef,
  type PluginStatus,
  UnavailableError,
} from '@nullops/plugin-sdk';
import npa from 'npm-package-arg';
import type { Logger } from 'pino';
import type { AgentLink } from '../agents/agent-link.js';
import { AgentConnectionManager } from '../agents/connection-manager.js';
import { ClusterBus } from '../cluster/cluster-bus.js';
import type { ControlPlaneConfig } from '../config.js';
import type { Database } from '../database/database.js';
import { DeploymentReadModel } from '../deployments/read-model.js';
import { type PinnedRelease, Plugin, PluginStatusRow } from '../models/catalog.js';
import { AgentNode, SERVING_NODE_STATES } from '../models/fleet.js';
import { Outbox } from '../outbox/outbox.js';
import { Refs } from '../refs.js';
import { sealedContexts } from '../security/sealed-contexts.js';
import type { SecretBox } from '../security/secret-box.js';
import { SECRET_VALUE_CHANGED_TOPIC, SecretService } from '../services/secret-service.js';
import { type CatalogEntry, componentCatalog, providerOf } from './component-catalog.js';
import { PluginExtensions } from './plugin-extensions.js';
import { resolvedProjectSettings } from './project-plugin-settings.js';

export type { CatalogEntry };

/** The host name the control plane uses for its own row in `plugin_statuses`. */
export const CONTROL_PLANE_HOST = 'control-plane';

/** Outbox topic: every online node syncs its plugin list (after an install, upgrade or removal). */
const SYNC_TOPIC = 'plugins.sync';

/**
 * Plugins on the control plane: installs them from npm registries into the data directory, loads
 * them (components for the catalogue and validation; control-plane extensions), keeps every
 * node's copy in step over its WebSocket, and records each host's status.
 */
@injectable()
export class PluginService {
  readonly host: PluginHost;
  readonly extensions: PluginExtensions;
  /** The release in use per plugin name (bundled ones, then installed ones over them). */
  private current = new Map<string, HostedPlugin>();

  constructor(
    @inject(Refs.database) private readonly db: Database,
    @inject(Refs.secretBox) private readonly box: SecretBox,
    @inject(Refs.logger) private readonly logger: Logger,
    @inject(Refs.config) private readonly config: ControlPlaneConfig,
    @inject(AgentConnectionManager) private readonly agents: AgentConnectionManager,
    @inject(SecretService) private readonly secrets: SecretService,
    @inject(Outbox) private readonly outbox: Outbox,
    @inject(ClusterBus) private readonly bus: ClusterBus,
    @inject(DeploymentReadModel) deployments: DeploymentReadModel,
  ) {
    this.host = new PluginHost({
      store: new PluginStore(this.storeDir),
      container: rootContainer.createChildContainer(),
      logger: logger.child({ scope: 'plugins' }),
    });
    this.extensions = new PluginExtensions(
      logger.child({ scope: 'plugin-extensions' }),
      (id, caller) => deployments.forPlugin(id, caller),
      (plugin, projectId) => resolvedProjectSettings(this.db, this.secrets, plugin, projectId),
    );
  }

  get storeDir(): string {
    return join(resolve(this.config.NULLOPS_DATA_DIR), 'plugins');
  }

  /** Loads bundled and installed plugins and starts their control-plane extensions. */
  async start(): Promise<void> {
    // Every replica loads what another installed, and syncs the nodes it links.
    this.outbox.handle(SYNC_TOPIC, () => this.bus.publish(SYNC_TOPIC));
    const follow = () =>
      this.followDatabase().catch((err) =>
        this.logger.error({ err }, 'could not load the plugins another replica changed'),
      );
    this.bus.on(SYNC_TOPIC, () => void follow().then(() => this.syncAllNodes()));
    // A secret that settings name has a new value; or messages may have been missed.
    this.bus.on(SECRET_VALUE_CHANGED_TOPIC, () => void follow());
    this.bus.on('resync', () => void follow());
    for (const plugin of await this.host.loadBundled(bundledPluginsOf(import.meta.url)))
      this.current.set(plugin.name, plugin);
    for (const row of await Plugin.query(this.db)) {
      const plugin = await this.host.ensure(await this.withTree(this.db, this.refOf(row)));
      this.current.set(row.name, plugin);
    }
    for (const plugin of this.current.values()) await this.activate(plugin);
    await this.recordStatuses(
      CONTROL_PLANE_HOST,
      [...this.current.values()].map((p) => statusOf(this.statusHere(p))),
      this.db,
    );
  }

  /**
   * Starts a loaded release's control-plane part with its settings (stopping what ran before). Why
   * it did not start is kept apart from the release, which is shared and may be started again with
   * other settings.
   */
  private async activate(plugin: HostedPlugin, db: Database = this.db) {
    if (plugin.status !== 'loaded') return;
    const name = plugin.name;
    const row = await Plugin.query(db).findOne({ name });
    let settings: Record<string, unknown>;
    try {
      settings = await this.resolvedSettings(row, db);
    } catch (err) {
      const reason = `its settings: ${(err as Error).message}`;
      this.logger.error({ plugin: name, reason }, 'plugin not started');
      this.extensions.refuse(name, reason);
      return;
    }
    await this.extensions.activate(plugin, settings);
  }

  /** A release as it is here: failed when its control-plane part did not start. */
  private statusHere(plugin: HostedPlugin): HostedPlugin {
    const error = this.extensions.errorOf(plugin.name);
    return error && plugin.status === 'loaded' ? { ...plugin, status: 'failed', error } : plugin;
  }

  /** A plugin's settings with the secrets they name put in. */
  private async resolvedSettings(row: Plugin | undefined, db: Database = this.db) {
    return (await this.secrets.substitute(row?.settings ?? {}, db)) as Record<string, unknown>;
  }

  /** Every release a node should have: the bundled ones and the current installed ones. */
  async desiredRefs(db: Database = this.db): Promise<PluginRef[]> {
    const rows = await Plugin.query(db);
    const installed = new Set(rows.map((r) => r.name));
    const bundled = [...this.current.values()]
      .filter((p) => p.source === 'bundled' && !installed.has(p.name))
      .map((p): PluginRef => ({ name: p.name, version: p.version, source: 'bundled' }));
    return [...bundled, ...(await Promise.all(rows.map((r) => this.withTree(db, this.refOf(r)))))];
  }

  /** A registry release with the dependency tree the control plane installed for it, when recorded. */
  private async withTree(db: Database, ref: PluginRef): Promise<PluginRef> {
    if (ref.source !== 'registry') return ref;
    const tree = await db('plugin_release_trees').where({ name: ref.name, version: ref.version }).first();
    return tree && (!ref.integrity || tree.integrity === ref.integrity)
      ? { ...ref, lockfile: tree.lockfile }
      : ref;
  }

  /** Records the tree just installed for a release here, so every other host installs the same. */
  private async recordTree(db: Database, release: { name: string; version: string; integrity: string }) {
    const lockfile = await this.host.lockfileOf(release.name, release.version);
    if (!lockfile) return;
    await db('plugin_release_trees')
      .insert({ name: release.name, version: release.version, integrity: release.integrity, lockfile })
      .onConflict(['name', 'version'])
      .ignore();
  }

  private refOf(row: Plugin, version = row.version, integrity = row.integrity): PluginRef {
    return {
      name: row.name,
      version,
      source: 'registry',
      integrity,
      registry: this.registryOf(row),
    };
  }

  private registryOf(row: Plugin): NpmRegistry {
    return {
      url: row.registryUrl,
      ...(row.registryTokenEnc
        ? { token: this.box.decrypt(row.registryTokenEnc, sealedContexts.pluginRegistryToken(row.id)) }
        : {}),
    };
  }

  /** Sends a node its plugin list and records what it reports; on connect and after every change. */
  async syncNode(nodeId: string, link: AgentLink | undefined = this.agents.linkOf(nodeId)): Promise<void> {
    if (!link) return;
    const refs = await this.desiredRefs();
    // Installing can take a while on a slow registry; a node answers once every release is tried.
    const { plugins } = await link.request('plugins.sync', { plugins: refs }, 10 * 60_000);
    await this.recordStatuses(nodeId, plugins, this.db, true);
  }

  /** Effect `plugins.sync`: every online node this replica links gets the new plugin list. */
  private async syncAllNodes(): Promise<void> {
    const nodes = await AgentNode.query(this.db)
      .whereIn('status', [...SERVING_NODE_STATES])
      .select('id');
    await Promise.all(
      nodes.map((n) =>
        this.syncNode(n.id).catch((err) =>
          this.logger.warn({ node: n.id, err: (err as Error).message }, 'plugin sync with a node failed'),
        ),
      ),
    );
  }

  /**
   * Records what a host reports of its plugins in one statement (a node reconnecting must not cost
   * a write per plugin: ten thousand of them come back at once after a restart); `replace` also
   * forgets the releases it no longer reports, in the same statement, so nobody sees a partial list.
   */
  private async recordStatuses(host: string, statuses: PluginStatus[], db: Database, replace = false) {
    const reported = JSON.stringify(
      statuses.map((s) => ({
        plugin_name: s.name,
        version: s.version,
        status: s.status,
        error: s.error ?? null,
        components: s.components,
      })),
    );
    await db.raw(
      `with reported as (
         select * from jsonb_to_recordset(?::jsonb)
           as r(plugin_name text, version text, status text, error text, components jsonb)
       ), gone as (
         delete from plugin_statuses p where ?::boolean and p.host = ?
           and not exists (select 1 from reported r where r.plugin_name = p.plugin_name and r.version = p.version)
       )
       insert into plugin_statuses (host, plugin_name, version, status, error, components, updated_at)
       select ?, plugin_name, version, status, error, components, now() from reported
       on conflict (host, plugin_name, version) do update set status = excluded.status,
         error = excluded.error, components = excluded.components, updated_at = excluded.updated_at`,
      [reported, replace, host, host],
    );
  }

  /** Resolves `name@range` in the registry; registry problems become errors naming the field. */
  private async resolve(spec: string, registry: NpmRegistry, field: string) {
    let parsed: ReturnType<typeof npa>;
    try {
      parsed = npa(spec);
    } catch (err) {
      throw InputError.field(field, (err as Error).message.split('\n')[0] as string);
    }
    if (!parsed.name || !['range', 'version', 'tag'].includes(parsed.type))
      throw InputError.field(field, 'must be a registry package spec such as @acme/nullops-plugin@^1.0.0');
    try {
      return await resolvePackage(spec, registry, join(this.storeDir, '.cache'));
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'E404')
        throw InputError.field(field, `${parsed.name} is not in the registry ${registry.url}`);
      if (code === 'ETARGET')
        throw InputError.field(field, `no release of ${parsed.name} matches "${parsed.fetchSpec}"`);
      if (code === 'E401' || code === 'E403')
        throw InputError.field('registry.token', `the registry refused access (${code}); check the token`);
      throw new UnavailableError(
        `cannot reach the npm registry ${registry.url}: ${describeInstallError(err)}; check its URL`,
      );
    }
  }

  /**
   * Installs a plugin: the registry is asked and the release downloaded first, then the row is
   * written in a short transaction (no network call holds one open), then the control plane
   * switches to it and every node is told.
   */
  async install(
    input: { package: string; registry: NpmRegistry; settings: Record<string, unknown> },
    actorId: string | null,
  ): Promise<Plugin> {
    const name = npaName(input.package);
    const alreadyInstalled = async (db: Database) => {
      if (name && (await Plugin.query(db).findOne({ name })))
        throw new ConflictError(`${name} is already installed; upgrade it instead (PUT /api/plugins/{name})`);
    };
    await alreadyInstalled(this.db);
    const release = await this.resolve(input.package, input.registry, 'package');
    await this.secrets.checkReferences(input.settings, this.db, 'settings');
    const plugin = await this.host.ensure({ ...release, source: 'registry', registry: input.registry });
    this.assertNoTypeClash(plugin);
    const id = randomUUID();
    const row = await this.db.transaction(async (db) => {
      await db.raw('select pg_advisory_xact_lock(hashtext(?))', [`plugin:${release.name}`]);
      await alreadyInstalled(db);
      const created = await Plugin.query(db).insertAndFetch({
        id,
        name: release.name,
        range: npa(input.package).rawSpec || '*',
        version: release.version,
        integrity: release.integrity,
        registryUrl: input.registry.url,
        registryTokenEnc: input.registry.token
          ? this.box.encrypt(input.registry.token, sealedContexts.pluginRegistryToken(id))
          : null,
        settings: input.settings,
        createdBy: actorId,
      });
      await this.recordStatuses(CONTROL_PLANE_HOST, [statusOf(plugin)], db);
      await this.recordTree(db, release);
      await this.outbox.add(db, SYNC_TOPIC, 'plugins');
      return created;
    });
    await this.use(plugin);
    return row;
  }

  /** Upgrades (or pins) a plugin, or changes its settings; network first, then a short transaction. */
  async upgrade(
    name: string,
    input: { range?: string; settings?: Record<string, unknown> },
  ): Promise<Plugin> {
    const row = await this.find(this.db, name);
    const range = input.range ?? row.range;
    const release = await this.resolve(`${name}@${range}`, this.registryOf(row), 'range');
    if (input.settings) await this.secrets.checkReferences(input.settings, this.db, 'settings');
    const plugin = await this.host.ensure(
      await this.withTree(this.db, this.refOf(row, release.version, release.integrity)),
    );
    this.assertNoTypeClash(plugin);
    const updated = await this.db.transaction(async (db) => {
      const patched = await Plugin.query(db).patchAndFetchById(row.id, {
        range,
        version: release.version,
        integrity: release.integrity,
        ...(input.settings ? { settings: input.settings } : {}),
        updatedAt: new Date(),
      });
      if (!patched) throw new NotFoundError(`plugin ${name} is not installed`);
      await this.recordStatuses(CONTROL_PLANE_HOST, [statusOf(plugin)], db);
      await this.recordTree(db, { name, version: release.version, integrity: release.integrity });
      await this.outbox.add(db, SYNC_TOPIC, 'plugins');
      return patched;
    });
    await this.use(plugin);
    return updated;
  }

  /**
   * Uninstalls a plugin. Running deployments are untouched (their services do not need it);
   * pipelines that use it fail to deploy until it is installed again, with a message saying so.
   */
  async remove(name: string, options: { force?: boolean } = {}): Promise<void> {
    const bundled = (await this.host.all()).find((p) => p.name === name && p.source === 'bundled');
    await this.db.transaction(async (db) => {
      const row = await this.find(db, name);
      // A latest pipeline that needs it would fail every deployment from then on: said first.
      const users = bundled || options.force ? [] : await projectsWhoseLatestPipelineUses(db, name);
      if (users.length)
        throw new ConflictError(
          `the latest pipeline of ${users.map((p) => `"${p}"`).join(', ')} uses ${name}: remove its nodes there first, or remove the plugin anyway (force=true), and those pipelines fail to deploy until it is installed again`,
        );
      await Plugin.query(db).deleteById(row.id);
      await PluginStatusRow.query(db).delete().where('pluginName', name);
      await this.outbox.add(db, SYNC_TOPIC, 'plugins');
    });
    this.unload(name, bundled);
    this.outbox.wake();
  }

  /** Stops using an installed release (the bundled one of that name, if any, takes its place). */
  private unload(name: string, bundled: HostedPlugin | undefined) {
    this.extensions.deactivate(name);
    this.current.delete(name);
    if (bundled) this.current.set(name, bundled);
  }

  /**
   * Another replica installed, upgraded, reconfigured or removed plugins, or a secret their settings
   * name changed: this one loads what the database says.
   */
  private async followDatabase(): Promise<void> {
    const rows = await Plugin.query(this.db);
    for (const row of rows) {
      const current = this.current.get(row.name);
      if (current?.source === 'registry' && current.version === row.version) {
        // The same release with other settings (or a secret they name changed): its extensions
        // start again with them.
        if (current.status !== 'loaded') continue;
        const settings = await this.resolvedSettings(row).catch(() => undefined);
        if (!settings || !this.extensions.startedWith(row.name, settings)) await this.use(current);
        continue;
      }
      await this.use(await this.host.ensure(await this.withTree(this.db, this.refOf(row))));
    }
    for (const [name, plugin] of [...this.current])
      if (plugin.source === 'registry' && !rows.some((r) => r.name === name))
        this.unload(
          name,
          (await this.host.all()).find((p) => p.name === name && p.source === 'bundled'),
        );
  }

  /** Switches the control plane to a committed release, then lets the nodes hear of it. */
  private async use(plugin: HostedPlugin) {
    this.current.set(plugin.name, plugin);
    if (plugin.status === 'loaded') await this.activate(plugin);
    else this.extensions.deactivate(plugin.name);
    // Whether its control-plane part started is known only now.
    await this.recordStatuses(CONTROL_PLANE_HOST, [statusOf(this.statusHere(plugin))], this.db);
    this.outbox.wake();
  }

  private assertNoTypeClash(plugin: HostedPlugin) {
    for (const type of plugin.components.keys()) {
      const other = [...this.current.values()].find(
        (p) => p.name !== plugin.name && p.source === 'registry' && p.components.has(type),
      );
      if (other)
        throw new ConflictError(
          `component type ${type} is already provided by ${other.name}; remove that plugin first`,
        );
    }
  }

  /** Every installed plugin (bundled ones not installed over have no row). */
  async installed(db: Database): Promise<Plugin[]> {
    return Plugin.query(db);
  }

  async find(db: Database, name: string): Promise<Plugin> {
    const row = await Plugin.query(db).findOne({ name });
    if (!row) throw new NotFoundError(`plugin ${name} is not installed`);
    return row;
  }

  /** The file of a plugin release's frontend module, if the release in use has one. */
  frontendFile(name: string, version: string): string | undefined {
    const plugin = this.currentOf(name);
    if (!plugin?.dir || !plugin.frontend || plugin.version !== version || plugin.status !== 'loaded')
      return undefined;
    const file = resolve(plugin.dir, plugin.frontend);
    return file.startsWith(`${resolve(plugin.dir)}/`) ? file : undefined;
  }

  /** Where the browser loads a plugin's frontend module from (same origin, so the CSP allows it). */
  frontendUrl(name: string): string | null {
    const plugin = this.currentOf(name);
    return plugin?.frontend && plugin.status === 'loaded'
      ? `/plugin-ui/${encodeURIComponent(name)}/${plugin.version}/frontend.js`
      : null;
  }

  /** The release in use for a plugin name. */
  currentOf(name: string): HostedPlugin | undefined {
    const plugin = this.current.get(name);
    return plugin && this.statusHere(plugin);
  }

  /** The component catalogue for the editor. */
  catalog(): CatalogEntry[] {
    return componentCatalog(this.current.values());
  }

  /** Which release provides a component type now. */
  providerOf(type: string): HostedPlugin | undefined {
    return providerOf(this.current.values(), type);
  }

  /** The releases a run needs, with where to download them (tokens decrypted: sent over TLS only). */
  async refsFor(db: Database, pinned: Record<string, PinnedRelease>): Promise<PluginRef[]> {
    const releases = new Map<string, PinnedRelease>();
    for (const p of Object.values(pinned)) releases.set(`${p.name}@${p.version}`, p);
    const rows = new Map(
      (await Plugin.query(db).whereIn('name', [...new Set([...releases.values()].map((p) => p.name))])).map(
        (r) => [r.name, r],
      ),
    );
    return Promise.all(
      [...releases.values()].map((p) => {
        const row = rows.get(p.name);
        return this.withTree(db, {
          name: p.name,
          version: p.version,
          source: p.source,
          ...(p.integrity ? { integrity: p.integrity } : {}),
          ...(p.source === 'registry' && row ? { registry: this.registryOf(row) } : {}),
        });
      }),
    );
  }
}

function npaName(spec: string): string | undefined {
  try {
    return npa(spec).name ?? undefined;
  } catch {
    return undefined;
  }
}

/** The projects whose latest pipeline version was saved with a plugin (by name). */
async function projectsWhoseLatestPipelineUses(db: Database, plugin: string): Promise<string[]> {
  const { rows } = await db.raw<{ rows: { name: string }[] }>(
    `select p.name from projects p
       join lateral (select plugins from pipeline_versions v where v.project_id = p.id order by v.version desc limit 1) latest on true
      where jsonb_exists(latest.plugins, ?)
      order by p.name`,
    [plugin],
  );
  return rows.map((r) => r.name);
}
