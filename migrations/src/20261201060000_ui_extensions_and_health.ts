import type { Knex } from 'knex';

/**
 * The web UI's extension settings (which extensions an administrator turned off, and their order
 * within their parent), and each deployment's live service health as its node last reported it
 * (running, unhealthy, restarting, crashed…).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('ui_extension_settings', (t) => {
    t.text('extension_id').primary();
    t.boolean('enabled').notNullable().defaultTo(true);
    t.integer('position');
    t.text('updated_by_name');
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.alterTable('deployments', (t) => {
    t.jsonb('service_health');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('deployments', (t) => {
    t.dropColumn('service_health');
  });
  await knex.schema.dropTable('ui_extension_settings');
}
