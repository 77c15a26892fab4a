import { inject, injectable } from '@nullops/kernel';
import type { Database } from '../database/database.js';
import { AuditEvent, type AuditOutcome } from '../models/audit-event.js';
import { Refs } from '../refs.js';

export interface AuditEntry {
  actorId?: string | null;
  actorName?: string | null;
  action: string;
  targetType?: string | null;
  targetId?: string | null;
  outcome: AuditOutcome;
  status?: number | null;
  /** Never request bodies: they may hold secrets. Only ids, names and error codes. */
  details?: Record<string, unknown> | null;
  ip?: string | null;
  requestId?: string | null;
}

/** Writes audit events: who did what to which object, when, with what outcome. */
@injectable()
export class AuditService {
  constructor(@inject(Refs.database) private readonly db: Database) {}

  async record(entry: AuditEntry, db: Database = this.db): Promise<void> {
    await AuditEvent.query(db).insert({ ...entry, details: entry.details ?? null });
  }
}
