import { NotFoundError } from '@nullops/plugin-sdk';
import type { Model } from 'objection';
import type { Database } from '../database/database.js';

/** Loads a row by id (locking it for the rest of a transaction) or answers 404 naming it. */
export async function findOr404<M extends typeof Model>(
  model: M,
  db: Database,
  id: string,
  what: string,
): Promise<InstanceType<M>> {
  const query = model.query(db).findById(id);
  const row = db.isTransaction ? await query.forUpdate() : await query;
  if (!row) throw new NotFoundError(`${what} ${id} does not exist`);
  return row as InstanceType<M>;
}
