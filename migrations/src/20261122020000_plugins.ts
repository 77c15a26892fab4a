import type { Knex } from 'knex';

/**
 * Plugins installed from npm registries, and how each host (the control plane, every node) has
 * them. A pipeline version pins, per component type, the plugin release it was saved with.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('plugins', (t) => {
    t.uuid('id').primary();
    t.text('name').notNullable().unique();
    /** What the admin asked for, e.g. `^1.0.0`; `version` is what it resolved to. */
    t.text('range').notNullable();
    t.text('version').notNullable();
    t.text('integrity').notNullable();
    t.text('registry_url').notNullable();
    t.text('registry_token_enc');
    t.jsonb('settings').notNullable().defaultTo('{}');
    t.uuid('created_by').references('users.id').onDelete('SET NULL');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.createTable('plugin_statuses', (t) => {
    /** `control-plane`, or a node id. */
    t.text('host').notNullable();
    t.text('plugin_name').notNullable();
    t.text('version').notNullable();
    t.text('status').notNullable().checkIn(['loaded', 'failed'], 'plugin_statuses_status_check');
    t.text('error');
    t.jsonb('components').notNullable().defaultTo('[]');
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['host', 'plugin_name', 'version']);
  });
  await knex.schema.alterTable('pipeline_versions', (t) => {
    /** `{ "<component type>": { name, version, integrity, source } }` at save time. */
    t.jsonb('components').notNullable().defaultTo('{}');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('pipeline_versions', (t) => t.dropColumn('components'));
  await knex.schema.dropTable('plugin_statuses');
  await knex.schema.dropTable('plugins');
}
