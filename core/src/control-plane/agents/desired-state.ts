import type { DesiredDeployment } from '@nullops/plugin-sdk';
import type { Database } from '../database/database.js';
import { Deployment } from '../models/fleet.js';

/** Deployment states whose resources must exist on their node (or be removed, for `deleting`). */
export const LIVE_STATES = ['pending', 'deploying', 'running', 'offline', 'deleting'] as const;

/** The full desired state of one node, as sent on every (re)connect. */
export async function desiredStateOf(db: Database, nodeId: string): Promise<DesiredDeployment[]> {
  const rows = await Deployment.query(db)
    .where('nodeId', nodeId)
    .whereIn('state', [...LIVE_STATES])
    .orderBy('createdAt');
  return rows.map((d) => ({
    id: d.id,
    name: d.name,
    state: d.state as DesiredDeployment['state'],
    services: d.services as DesiredDeployment['services'],
  }));
}
