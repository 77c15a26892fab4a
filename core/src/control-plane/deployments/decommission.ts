import { ConflictError } from '@nullops/plugin-sdk';
import type { Database } from '../database/database.js';
import { Deployment } from '../models/fleet.js';

/**
 * A node, project or environment can be removed once every deployment on it is deleted (deleted
 * ones keep their history: they lose the node reference but keep its name, and go with their
 * project or environment). Live ones are named, so the admin knows what to delete or wait for.
 */
export async function ensureNoLiveDeployments(
  db: Database,
  where: { nodeId: string } | { projectId: string } | { environmentId: string },
  what: string,
): Promise<void> {
  const live = await Deployment.query(db).where(where).whereNot('state', 'deleted').select('name', 'state');
  if (!live.length) return;
  const names = live.slice(0, 5).map((d) => `${d.name} (${d.state})`);
  throw new ConflictError(
    `this ${what} still has ${live.length} deployment(s): ${names.join(', ')}${live.length > 5 ? ', …' : ''}; delete them (deleting ones finish on their own) and try again`,
  );
}
