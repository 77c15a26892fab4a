import { delay, inject, injectable } from '@nullops/kernel';
import type { DeploymentForPlugin } from '@nullops/plugin-sdk';
import { AccessService } from '../access/access-service.js';
import type { Principal } from '../auth/principal.js';
import type { Database } from '../database/database.js';
import { IngressService } from '../ingress/ingress-service.js';
import { AgentNode, Deployment, type DeploymentState } from '../models/fleet.js';
import { PluginService } from '../plugins/plugin-service.js';
import { Refs } from '../refs.js';
import { type DeploymentContext, type DeploymentView, deploymentView } from '../schemas/deployment.js';
import type { SecretBox } from '../security/secret-box.js';
import { dataNodesIn } from './data-nodes.js';
import { DeploymentHistory } from './history.js';
import { LookupCache } from './lookup-cache.js';
import { DeploymentHealth } from './service-health.js';
import { openSpecs, type StoredSpec } from './spec-seal.js';

export interface DeploymentFilter {
  projectId?: string | undefined;
  environmentId?: string | undefined;
  name?: string | undefined;
  state?: DeploymentState | undefined;
  includeDeleted?: boolean;
  /** A page of the list (newest first); at most 500. */
  limit?: number;
  offset?: number;
}

/** A page of the list, and its JSON (UTF-8) once an API answer needed it. */
interface Page {
  items: DeploymentView[];
  json?: Buffer;
}

/** One service's measured use, from its node's latest heartbeat. */
interface ServiceUsage {
  deploymentId: string;
  service: string;
  cpuPercent: number;
  memoryBytes: number;
  memoryLimitBytes: number;
}

/**
 * How long a kept page is answered without asking again. Any change forgets it at once, so this
 * bounds only a change that was not heard of; past it, the page is still answered while one read
 * refreshes it.
 */
const PAGE_TTL_MS = 2000;
const MAX_PAGES = 1000;

/**
 * How deployments are read: the API's views (a handful of queries for many rows), metrics, and
 * plugins' view. Pages of the list are kept for a moment per reader and filter — one query for any
 * number of readers asking at once — and forgotten when any deployment changes (its history and
 * health, on every replica) or anything changes through the API.
 */
@injectable()
export class DeploymentReadModel {
  private readonly pages = new Map<string, { fresh: number; page: Promise<Page>; refreshing?: boolean }>();
  /** Reference rows of views: a second at most, cleared by any change made through the API. */
  private readonly lookups = {
    projects: new LookupCache<{ id: string; name: string }>(1000),
    environments: new LookupCache<{
      id: string;
      name: string;
      baseDomain: string;
      ingressClass: string | null;
    }>(1000),
    versions: new LookupCache<{
      id: string;
      version: number;
      plugins: Record<string, string>;
      graph: unknown;
    }>(1000),
    users: new LookupCache<{ id: string; username: string }>(1000),
    services: new LookupCache<string[]>(1000),
  };

  constructor(
    @inject(Refs.database) private readonly db: Database,
    @inject(Refs.secretBox) private readonly box: SecretBox,
    @inject(AccessService) private readonly access: AccessService,
    @inject(IngressService) private readonly ingress: IngressService,
    // Delayed: the plugin service reads deployments through this read model (for plugins).
    @inject(delay(() => PluginService)) private readonly plugins: PluginService,
    @inject(DeploymentHistory) history: DeploymentHistory,
    @inject(DeploymentHealth) health: DeploymentHealth,
  ) {
    history.live.on('event', (e) => {
      if (e.state) this.pages.clear();
    });
    health.live.on('health', () => this.pages.clear());
  }

  /** Deployments `me` can see, newest first. */
  async list(db: Database, filter: DeploymentFilter, me: Principal): Promise<DeploymentView[]> {
    return (await this.page(db, filter, me)).items;
  }

  /** The same page as the API's JSON answer (`{ items }`), encoded once for every reader of it. */
  async listJson(db: Database, filter: DeploymentFilter, me: Principal): Promise<Buffer> {
    const page = await this.page(db, filter, me);
    page.json ??= Buffer.from(JSON.stringify({ items: page.items }));
    return page.json;
  }

  private page(db: Database, filter: DeploymentFilter, me: Principal): Promise<Page> {
    const now = () => this.listNow(db, filter, me).then((items): Page => ({ items }));
    // Inside a transaction the caller may see rows others cannot yet: never kept.
    if (db.isTransaction) return now();
    // Who sees what: an administrator everything (within a token's projects); others by access.
    const reader = me.role === 'admin' ? '*' : me.userId;
    const key = JSON.stringify([reader, me.tokenScope?.projectIds ?? null, filter]);
    const kept = this.pages.get(key);
    if (kept) {
      if (kept.fresh <= Date.now() && !kept.refreshing) {
        kept.refreshing = true;
        const next = now();
        next.then(
          // Kept only if nothing changed meanwhile (a change forgot the page).
          () =>
            this.pages.get(key) === kept &&
            this.pages.set(key, { fresh: Date.now() + PAGE_TTL_MS, page: next }),
          () => {
            kept.refreshing = false;
          },
        );
      }
      return kept.page;
    }
    const page = now();
    if (this.pages.size >= MAX_PAGES) this.pages.clear();
    this.pages.set(key, { fresh: Date.now() + PAGE_TTL_MS, page });
    page.catch(() => this.pages.delete(key));
    return page;
  }

  private async listNow(db: Database, filter: DeploymentFilter, me: Principal): Promise<DeploymentView[]> {
    const q = Deployment.query(db)
      .orderBy([
        { column: 'createdAt', order: 'desc' },
        { column: 'id', order: 'desc' },
      ])
      .limit(Math.min(filter.limit ?? 100, 500))
      .offset(filter.offset ?? 0);
    if (filter.projectId) q.where('projectId', filter.projectId);
    if (filter.environmentId) q.where('environmentId', filter.environmentId);
    if (filter.name) q.where('name', filter.name);
    if (filter.state) q.where('state', filter.state);
    else if (!filter.includeDeleted) q.whereNot('state', 'deleted');
    if (me.role !== 'admin') {
      q.whereIn('projectId', await this.access.readableIds('project', me.userId, db));
      q.whereIn('environmentId', await this.access.readableIds('environment', me.userId, db));
    }
    if (me.tokenScope?.projectIds) q.whereIn('projectId', me.tokenScope.projectIds);
    return this.views(db, await q);
  }

  async view(db: Database, d: Deployment): Promise<DeploymentView> {
    return (await this.views(db, [d]))[0] as DeploymentView;
  }

  /** Forgets the looked-up rows and pages (called after every change made through the API). */
  forget(): void {
    for (const cache of Object.values(this.lookups)) cache.clear();
    this.pages.clear();
  }

  /** API views of many deployments with a handful of queries (not one per row), or none when cached. */
  async views(db: Database, rows: Deployment[]): Promise<DeploymentView[]> {
    if (!rows.length) return [];
    // Inside a transaction the caller may see rows others cannot yet: no cache there.
    const cached = !db.isTransaction;
    // One after another: a transaction's connection takes one query at a time, and the lookups
    // are mostly cache hits anyway.
    const lookup = async <T>(
      cache: LookupCache<T>,
      ids: (string | null)[],
      load: (ids: string[]) => Promise<[string, T][]>,
    ): Promise<Map<string, T>> => {
      const wanted = ids.filter((id): id is string => Boolean(id));
      return cached ? cache.many(wanted, load) : new Map(await load([...new Set(wanted)]));
    };
    const byId = <T extends { id: string }>(rows: T[]) => rows.map((r) => [r.id, r] as [string, T]);
    const cache = this.lookups;
    const projects = await lookup(
      cache.projects,
      rows.map((d) => d.projectId),
      async (ids) => byId(await db('projects').whereIn('id', ids).select('id', 'name')),
    );
    const environments = await lookup(
      cache.environments,
      rows.map((d) => d.environmentId),
      async (ids) =>
        byId(await db('environments').whereIn('id', ids).select('id', 'name', 'baseDomain', 'ingressClass')),
    );
    const versions = await lookup(
      cache.versions,
      rows.map((d) => d.pipelineVersionId),
      async (ids) =>
        byId(await db('pipeline_versions').whereIn('id', ids).select('id', 'version', 'plugins', 'graph')),
    );
    const users = await lookup(
      cache.users,
      rows.map((d) => d.createdBy),
      async (ids) => byId(await db('users').whereIn('id', ids).select('id', 'username')),
    );
    const services = await lookup(
      cache.services,
      rows.map((d) => d.projectId),
      async (ids) => {
        const pairs: { projectId: string; name: string }[] = await db('project_services as ps')
          .join('services as s', 's.id', 'ps.serviceId')
          .whereIn('ps.projectId', ids)
          .select('ps.projectId', 's.name');
        return ids.map((id) => [id, pairs.filter((x) => x.projectId === id).map((x) => x.name)]);
      },
    );
    const url = (host: string) => this.ingress.url(host);
    return rows.map((d) => {
      const env = environments.get(d.environmentId);
      const version = d.pipelineVersionId ? versions.get(d.pipelineVersionId) : undefined;
      const context: DeploymentContext = {
        projectName: projects.get(d.projectId)?.name ?? '',
        environmentName: env?.name ?? '',
        baseDomain: env?.baseDomain ?? '',
        ingressClass: env?.ingressClass ?? null,
        pipelineVersion: version?.version ?? null,
        plugins: version?.plugins ?? {},
        createdByName: (d.createdBy && users.get(d.createdBy)?.username) || null,
        serviceNames: services.get(d.projectId) ?? [],
        databases: dataNodesIn(version?.graph, this.plugins).map((x) => x.service),
      };
      return deploymentView(d, context, url);
    });
  }

  /** Real CPU and memory of a deployment's services, from its node's latest heartbeat. */
  async metrics(db: Database, d: Deployment) {
    const node = d.nodeId ? await AgentNode.query(db).findById(d.nodeId) : undefined;
    const usage = (node?.usage ?? null) as { at?: string; services?: ServiceUsage[] } | null;
    const services = (usage?.services ?? [])
      .filter((x) => x.deploymentId === d.id)
      .map(({ deploymentId: _, ...x }) => x);
    return { at: usage?.at ?? null, services };
  }

  /** A deployment with its services' env, for control-plane plugins (which must check `access`). */
  async forPlugin(id: string, caller: Principal): Promise<DeploymentForPlugin | undefined> {
    const d = await Deployment.query(this.db).findById(id);
    if (!d) return undefined;
    const level = await this.access.levelFor(caller, 'deployment', id);
    if (level !== 'read' && level !== 'full') return undefined;
    return {
      id: d.id,
      name: d.name,
      state: d.state,
      access: level,
      services: openSpecs(this.box, d.id, d.services as StoredSpec[]).map((s) => ({
        name: s.name,
        image: s.image,
        ...(s.port ? { port: s.port } : {}),
        env: s.env ?? {},
      })),
    };
  }
}
