import { NotFoundError } from '@nullops/plugin-sdk';
import type { Model, PartialModelObject } from 'objection';
import type { Database } from '../database/database.js';

/**
 * The plain record operations of the resources whose routes need nothing more than a row: routes
 * declare, these act. What a resource does besides (encrypting a password, issuing a token) lives
 * in its own service, which uses these for the rows.
 */

type Row<M extends typeof Model> = InstanceType<M>;

/** Loads a row by id (locking it for the rest of a transaction) or answers 404 naming it. */
export async function findOr404<M extends typeof Model>(
  model: M,
  db: Database,
  id: string,
  what: string,
): Promise<Row<M>> {
  const query = model.query(db).findById(id);
  const row = db.isTransaction ? await query.forUpdate() : await query;
  if (!row) throw new NotFoundError(`${what} ${id} does not exist`);
  return row as Row<M>;
}

/** Every row of a named resource, by name. */
export async function listByName<M extends typeof Model>(model: M, db: Database): Promise<Row<M>[]> {
  return (await model.query(db).orderBy('name')) as Row<M>[];
}

export async function insertRecord<M extends typeof Model>(
  model: M,
  db: Database,
  values: PartialModelObject<Row<M>>,
): Promise<Row<M>> {
  return (await model.query(db).insertAndFetch(values as never)) as Row<M>;
}

/** Changes an existing row (404 naming it when there is none); returns it as it is now. */
export async function patchRecord<M extends typeof Model>(
  model: M,
  db: Database,
  id: string,
  what: string,
  patch: PartialModelObject<Row<M>>,
): Promise<Row<M>> {
  await findOr404(model, db, id, what);
  return (await model.query(db).patchAndFetchById(id, patch as never)) as Row<M>;
}

/** Deletes an existing row (404 naming it when there is none). */
export async function deleteRecord<M extends typeof Model>(
  model: M,
  db: Database,
  id: string,
  what: string,
): Promise<void> {
  await findOr404(model, db, id, what);
  await model.query(db).deleteById(id);
}
