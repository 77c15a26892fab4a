import { Model } from 'objection';

/**
 * Base of every model. Models are never bound to a global knex: each query names its database or
 * transaction (`User.query(db)`), which keeps transactions explicit and lets tests run many
 * databases in one process.
 */
export class BaseModel extends Model {}
