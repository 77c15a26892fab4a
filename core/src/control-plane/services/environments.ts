import { randomUUID } from 'node:crypto';
import { firstPartyRuntime, InputError } from '@nullops/plugin-sdk';
import type { Database } from '../database/database.js';
import { ensureNoLiveDeployments } from '../deployments/decommission.js';
import { environmentCapacity } from '../deployments/placement.js';
import { Environment } from '../models/fleet.js';
import { environmentView } from '../schemas/environment.js';
import { findOr404, insertRecord } from './records.js';
import { replaceTeamAccess, teamAccessOf } from './team-access.js';

/** Environments: a set of nodes of one runtime kind, a base domain and a default auto-cleanup TTL. */

export interface EnvironmentInput {
  name: string;
  description?: string | null | undefined;
  baseDomain: string;
  runtime: string;
  defaultTtlSeconds: number;
  ingressClass?: string | null | undefined;
  cpuOvercommit?: number | undefined;
  memoryOvercommit?: number | undefined;
  teams?: { teamId: string; access: 'read' | 'full' }[] | undefined;
}

/**
 * Only a runtime with an ingress of its own (Kubernetes Ingress objects) can route through an
 * ingress class; the others are served by the edge. A kind no first-party declaration knows is
 * checked when its agent says what it can do (hello).
 */
function checkIngressClass(runtime: string, ingressClass: string | null | undefined) {
  const declared = firstPartyRuntime(runtime);
  if (ingressClass && declared && !declared.capabilities.ingress)
    throw InputError.field(
      'body.ingressClass',
      `only a runtime with an ingress of its own can route through Ingress objects, and a ${declared.label} environment has none (its services are reached through the agent's edge)`,
    );
}

/**
 * The environments whose ids are `readable` (all when undefined), by name; with what their nodes
 * hold when `withCapacity` (for the administrators who size the fleet).
 */
export async function listEnvironments(db: Database, readable: string[] | undefined, withCapacity: boolean) {
  const query = Environment.query(db).orderBy('name');
  if (readable) query.whereIn('id', readable);
  const rows = await query;
  const capacity = withCapacity
    ? await environmentCapacity(
        db,
        rows.map((e) => e.id),
      )
    : undefined;
  return rows.map((e) => ({
    ...environmentView(e),
    ...(capacity?.get(e.id) ? { capacity: capacity.get(e.id) } : {}),
  }));
}

/** An environment with its team assignments. */
export async function environmentDetail(db: Database, id: string, row?: Environment) {
  const environment = row ?? (await findOr404(Environment, db, id, 'environment'));
  return { ...environmentView(environment), teams: await teamAccessOf(db, 'environment', environment.id) };
}

export async function createEnvironment(db: Database, input: EnvironmentInput) {
  const { teams = [], ...rest } = input;
  checkIngressClass(rest.runtime, rest.ingressClass);
  const row = await insertRecord(Environment, db, {
    id: randomUUID(),
    ...rest,
    description: rest.description ?? null,
  });
  await replaceTeamAccess(db, 'environment', row.id, teams);
  return environmentDetail(db, row.id, row);
}

/** Changes an environment; `teams`, when given, replaces all its assignments. */
export async function updateEnvironment(db: Database, id: string, input: Partial<EnvironmentInput>) {
  const current = await findOr404(Environment, db, id, 'environment');
  const { teams, ...rest } = input;
  checkIngressClass(
    rest.runtime ?? current.runtime,
    rest.ingressClass === undefined ? current.ingressClass : rest.ingressClass,
  );
  const row = await Environment.query(db).patchAndFetchById(id, { ...rest, updatedAt: new Date() });
  if (teams) await replaceTeamAccess(db, 'environment', row.id, teams);
  return environmentDetail(db, row.id, row);
}

/** Deletes an environment that runs no deployment (its nodes go with it). */
export async function deleteEnvironment(db: Database, id: string): Promise<void> {
  await findOr404(Environment, db, id, 'environment');
  await ensureNoLiveDeployments(db, { environmentId: id }, 'environment');
  await Environment.query(db).deleteById(id);
}
