import { inject, injectable } from '@nullops/kernel';
import { NotAllowedError, NotFoundError } from '@nullops/plugin-sdk';
import type { Principal } from '../auth/principal.js';
import type { Database } from '../database/database.js';
import type { AccessLevel } from '../models/identity.js';
import { Refs } from '../refs.js';

export type Level = AccessLevel | 'none';

const RANK: Record<Level, number> = { none: 0, read: 1, full: 2 };

export function atLeast(level: Level, required: AccessLevel): boolean {
  return RANK[level] >= RANK[required];
}

/**
 * Answers "what access does this user have to this object?" for each scope. A scope resolver
 * returns `undefined` when the object does not exist. Later features (deployments) add scopes.
 */
export type ScopeResolver = (db: Database, objectId: string, userId: string) => Promise<Level | undefined>;

@injectable()
export class AccessService {
  private readonly scopes = new Map<string, ScopeResolver>();

  constructor(@inject(Refs.database) private readonly db: Database) {
    this.registerScope('project', (db, id, userId) => teamLevel(db, 'project', id, userId, 'none'));
    // An environment without team assignments is open to every user; with assignments, only to them.
    this.registerScope('environment', (db, id, userId) => teamLevel(db, 'environment', id, userId, 'full'));
    // A deployment needs access to both its project and its environment: the lower level counts.
    this.registerScope('deployment', async (db, id, userId) => {
      const d: { projectId: string; environmentId: string } | undefined = await db('deployments')
        .where('id', id)
        .first('projectId', 'environmentId');
      if (!d) return undefined;
      // One after the other: inside a mutation this runs on the request's transaction.
      const project = await teamLevel(db, 'project', d.projectId, userId, 'none');
      const environment = await teamLevel(db, 'environment', d.environmentId, userId, 'full');
      return RANK[project ?? 'none'] < RANK[environment ?? 'none']
        ? (project ?? 'none')
        : (environment ?? 'none');
    });
  }

  registerScope(scope: string, resolver: ScopeResolver): void {
    if (this.scopes.has(scope)) throw new TypeError(`access scope ${scope} is already registered`);
    this.scopes.set(scope, resolver);
  }

  hasScope(scope: string): boolean {
    return this.scopes.has(scope);
  }

  async levelOf(scope: string, objectId: string, userId: string, db: Database = this.db) {
    const resolver = this.scopes.get(scope);
    if (!resolver) throw new TypeError(`unknown access scope ${scope}`);
    return resolver(db, objectId, userId);
  }

  /**
   * The one rule for what a caller may do with an object, wherever it is reached (routes, plugin
   * routes, live streams, backups): the user's level — full for administrators — capped by what
   * an API token may do (read-only; only its projects). Undefined when the object does not exist
   * for the caller (a token scoped to other projects does not see it at all).
   */
  async levelFor(
    caller: Principal,
    scope: string,
    objectId: string,
    db: Database = this.db,
  ): Promise<Level | undefined> {
    const projects = caller.tokenScope?.projectIds;
    if (projects) {
      const projectId = await this.projectOf(scope, objectId, db);
      if (projectId === undefined || (projectId !== null && !projects.includes(projectId))) return undefined;
    }
    const level = await this.levelOf(scope, objectId, caller.userId, db);
    if (level === undefined) return undefined;
    const own = caller.role === 'admin' ? 'full' : level;
    return caller.tokenScope?.access === 'read' && own === 'full' ? 'read' : own;
  }

  /** Whether the caller has at least `required` on an object, by {@link levelFor}'s rule. */
  async allows(
    caller: Principal,
    scope: string,
    objectId: string,
    required: AccessLevel,
    db: Database = this.db,
  ): Promise<boolean> {
    return atLeast((await this.levelFor(caller, scope, objectId, db)) ?? 'none', required);
  }

  /**
   * Requires `required` on an object that a request names in its body (the environment a
   * deployment goes to), by the same rule: 404 when the caller cannot see it, 403 when their level
   * is lower.
   */
  async require(
    caller: Principal,
    scope: string,
    objectId: string,
    required: AccessLevel,
    db: Database = this.db,
  ): Promise<void> {
    const level = (await this.levelFor(caller, scope, objectId, db)) ?? 'none';
    if (level === 'none') throw new NotFoundError(`${scope} ${objectId} does not exist`);
    if (!atLeast(level, required)) throw new NotAllowedError(`you need ${required} access to this ${scope}`);
  }

  /**
   * The project an object of a scope belongs to (what a project-scoped token is checked against):
   * null for objects that belong to no project (environments, plugin scopes), undefined when gone.
   */
  async projectOf(
    scope: string,
    objectId: string,
    db: Database = this.db,
  ): Promise<string | null | undefined> {
    if (scope === 'project') return objectId;
    if (scope !== 'deployment') return null;
    const d: { projectId: string } | undefined = await db('deployments')
      .where('id', objectId)
      .first('projectId');
    return d?.projectId;
  }

  /**
   * The caller's level on every project and environment they can see (the UI shows actions by it),
   * capped as {@link levelFor} caps it, and whether they act as an administrator.
   */
  async visibleLevels(caller: Principal, db: Database = this.db) {
    const { tokenScope } = caller;
    const levels = async (scope: 'project' | 'environment') => {
      const ids: string[] =
        caller.role === 'admin'
          ? (await db(`${scope}s`).select('id')).map((r: { id: string }) => r.id)
          : await this.readableIds(scope, caller.userId, db);
      const out: Record<string, AccessLevel> = {};
      for (const id of ids) {
        if (scope === 'project' && tokenScope?.projectIds && !tokenScope.projectIds.includes(id)) continue;
        let level = caller.role === 'admin' ? 'full' : await this.levelOf(scope, id, caller.userId, db);
        // What a read-only token may do, whatever its owner may.
        if (tokenScope?.access === 'read' && level === 'full') level = 'read';
        if (level === 'read' || level === 'full') out[id] = level;
      }
      return out;
    };
    return {
      admin: caller.role === 'admin' && !tokenScope?.projectIds && tokenScope?.access !== 'read',
      projects: await levels('project'),
      environments: await levels('environment'),
    };
  }

  /** Ids of the objects of a scope's table the user has at least read access to. */
  async readableIds(
    target: 'project' | 'environment',
    userId: string,
    db: Database = this.db,
  ): Promise<string[]> {
    const column = `${target}Id`;
    const viaTeams = db(`${target}_team_access as a`)
      .join('team_members as m', 'm.teamId', 'a.teamId')
      .where('m.userId', userId)
      .select(`a.${column}`);
    let query = db(`${target}s as o`).whereIn('o.id', viaTeams);
    if (target === 'environment') {
      query = query.orWhereNotExists(db('environment_team_access as x').whereRaw('x.environment_id = o.id'));
    }
    const rows: { id: string }[] = await query.select('o.id');
    return rows.map((r) => r.id);
  }
}

/** The highest level any of the user's teams has on the object; `unassigned` when no team has any. */
async function teamLevel(
  db: Database,
  target: 'project' | 'environment',
  objectId: string,
  userId: string,
  unassigned: Level,
): Promise<Level | undefined> {
  const table = `${target}s`;
  const exists = await db(table).where('id', objectId).first('id');
  if (!exists) return undefined;
  const rows: { access: AccessLevel; member: boolean }[] = await db(`${target}_team_access as a`)
    .leftJoin('team_members as m', (j) => j.on('m.teamId', 'a.teamId').andOnVal('m.userId', userId))
    .where(`a.${target}Id`, objectId)
    .select('a.access', db.raw('m.user_id is not null as member'));
  if (rows.length === 0) return unassigned;
  const mine = rows.filter((r) => r.member).map((r) => r.access);
  return mine.includes('full') ? 'full' : mine.includes('read') ? 'read' : 'none';
}
