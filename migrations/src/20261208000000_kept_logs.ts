import type { Knex } from 'knex';

/**
 * `kept_logs`: the last lines of each service of a deployment whose run failed or that was
 * deleted, read by its agent before the containers went (masked there; bounded by the protocol).
 * One row a service: a later failure of the same deployment replaces it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('kept_logs', (t) => {
    t.uuid('deployment_id').notNullable().references('deployments.id').onDelete('CASCADE');
    t.string('service', 63).notNullable();
    t.string('reason', 20).notNullable();
    t.jsonb('lines').notNullable();
    t.timestamp('kept_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['deployment_id', 'service']);
  });
  await knex.raw(
    "alter table kept_logs add constraint kept_logs_reason_check check (reason in ('failed', 'deleted'))",
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('kept_logs');
}
