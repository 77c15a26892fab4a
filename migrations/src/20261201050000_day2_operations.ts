import type { Knex } from 'knex';

/**
 * Day-2 actions on running deployments: the services a user stopped (the agent keeps them stopped
 * instead of bringing them back), and the persisted per-deployment queue of operations (restart,
 * stop, start a service; back up or restore a database), each with its own state and result; and
 * the database backups, whose dumps the control plane keeps as files; and plugin settings per
 * project (a project's own webhook, say).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('deployments', (t) => {
    t.jsonb('stopped_services').notNullable().defaultTo('[]');
  });
  await knex.schema.createTable('deployment_operations', (t) => {
    t.uuid('id').primary();
    t.uuid('deployment_id').notNullable().references('deployments.id').onDelete('CASCADE');
    t.text('kind').notNullable();
    t.jsonb('params').notNullable().defaultTo('{}');
    t.text('state').notNullable().defaultTo('queued');
    t.text('message');
    t.uuid('created_by').references('users.id').onDelete('SET NULL');
    t.text('created_by_name');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('started_at', { useTz: true });
    t.timestamp('finished_at', { useTz: true });
    t.index(['deployment_id', 'created_at']);
  });
  await knex.schema.createTable('deployment_backups', (t) => {
    t.uuid('id').primary();
    t.uuid('deployment_id').notNullable().references('deployments.id').onDelete('CASCADE');
    t.uuid('project_id').notNullable().references('projects.id').onDelete('CASCADE');
    t.text('service').notNullable();
    t.text('database').notNullable();
    t.bigInteger('bytes').notNullable();
    t.text('sha256').notNullable();
    t.text('file').notNullable();
    t.text('created_by_name');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['project_id', 'created_at']);
  });
  await knex.schema.createTable('project_plugin_settings', (t) => {
    t.uuid('project_id').notNullable().references('projects.id').onDelete('CASCADE');
    t.text('plugin').notNullable();
    t.jsonb('settings').notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['project_id', 'plugin']);
  });
  await knex.raw(
    `ALTER TABLE deployment_operations ADD CONSTRAINT deployment_operations_state_check
     CHECK (state IN ('queued', 'running', 'succeeded', 'failed'))`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('project_plugin_settings');
  await knex.schema.dropTable('deployment_backups');
  await knex.schema.dropTable('deployment_operations');
  await knex.schema.alterTable('deployments', (t) => {
    t.dropColumn('stopped_services');
  });
}
