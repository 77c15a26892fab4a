import { BaseModel } from './base-model.js';

export type AuditOutcome = 'success' | 'denied' | 'failure';

export class AuditEvent extends BaseModel {
  static override tableName = 'audit_events';
  // jsonb columns: objection serialises these as JSON (a bare array would become a Postgres array).
  static override jsonAttributes = ['details'];
  id!: string;
  at!: Date;
  actorId!: string | null;
  actorName!: string | null;
  action!: string;
  targetType!: string | null;
  targetId!: string | null;
  outcome!: AuditOutcome;
  status!: number | null;
  details!: Record<string, unknown> | null;
  ip!: string | null;
  requestId!: string | null;
}
