import type { KeptLogs } from '@nullops/plugin-sdk';
import type { Database } from '../database/database.js';

/** A service's last lines, kept after its deployment failed or was deleted. */
export interface KeptServiceLogs {
  service: string;
  reason: 'failed' | 'deleted';
  keptAt: string;
  lines: KeptLogs[number]['lines'];
}

/**
 * Keeps what a node read from a deployment's services before removing them (masked and bounded
 * there, validated by the protocol on the way in). A later failure or the deletion replaces a
 * service's earlier lines; what the deletion did not read (a failed run's services are gone
 * already) stays.
 */
export async function keepLogs(
  db: Database,
  deploymentId: string,
  reason: KeptServiceLogs['reason'],
  logs: KeptLogs | undefined,
): Promise<void> {
  if (!logs?.length) return;
  await db('kept_logs')
    .insert(
      logs.map((l) => ({
        deploymentId,
        service: l.service,
        reason,
        lines: JSON.stringify(l.lines),
        keptAt: db.fn.now(),
      })),
    )
    .onConflict(['deploymentId', 'service'])
    .merge(['reason', 'lines', 'keptAt']);
}

export async function keptLogsOf(db: Database, deploymentId: string): Promise<KeptServiceLogs[]> {
  const rows: {
    service: string;
    reason: KeptServiceLogs['reason'];
    keptAt: Date;
    lines: KeptServiceLogs['lines'];
  }[] = await db('kept_logs')
    .where({ deploymentId })
    .orderBy('service')
    .select('service', 'reason', 'keptAt', 'lines');
  return rows.map((r) => ({ ...r, keptAt: r.keptAt.toISOString() }));
}
