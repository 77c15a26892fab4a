import type { Knex } from 'knex';

/**
 * The transactional outbox: work to do after a change commits (tell an agent, refresh the ingress,
 * notify plugins) is written in the same transaction as the change, then carried out by a worker.
 * It happens only if the change committed, and still happens after a control-plane crash.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('outbox', (t) => {
    t.bigIncrements('id').primary();
    t.text('topic').notNullable();
    /** Effects with the same key run one after another, in order; others run side by side. */
    t.text('key').notNullable();
    t.jsonb('payload').notNullable().defaultTo('{}');
    t.integer('attempts').notNullable().defaultTo(0);
    /** When it may run (next); a claimed entry is leased until then. */
    t.timestamp('available_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    /** The control-plane process that holds the lease (a restarted one frees its predecessor's). */
    t.text('claimed_by');
    t.text('last_error');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['available_at', 'id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('outbox');
}
