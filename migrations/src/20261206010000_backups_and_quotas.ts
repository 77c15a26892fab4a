import type { Knex } from 'knex';

/**
 * Backups as data someone is responsible for, and quotas.
 *
 * `deployment_backups`: which pipeline node (and component type) a backup is of — any component
 * with backup/restore hooks, not only PostgreSQL — and whether its file is encrypted (every new
 * one is; older ones were plain). `projects.backup_limit` / `backup_retention_days`: how many
 * backups a project keeps and for how long (also after their deployment is gone).
 *
 * Quotas, per project and per user (null: none): the most live deployments, and optionally the
 * CPU and memory they may reserve together.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('deployment_backups', (t) => {
    t.text('node_id');
    t.text('node_type');
    t.boolean('encrypted').notNullable().defaultTo(false);
    t.text('database').nullable().alter();
  });
  await knex('deployment_backups').update({ nodeType: 'postgres.database' });
  await knex.schema.alterTable('projects', (t) => {
    t.integer('backup_limit').notNullable().defaultTo(10);
    t.integer('backup_retention_days').notNullable().defaultTo(30);
  });
  for (const table of ['projects', 'users'])
    await knex.schema.alterTable(table, (t) => {
      t.integer('quota_deployments');
      t.integer('quota_cpu_millicores');
      t.integer('quota_memory_mb');
    });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['projects', 'users'])
    await knex.schema.alterTable(table, (t) => {
      t.dropColumn('quota_deployments');
      t.dropColumn('quota_cpu_millicores');
      t.dropColumn('quota_memory_mb');
    });
  await knex.schema.alterTable('projects', (t) => {
    t.dropColumn('backup_limit');
    t.dropColumn('backup_retention_days');
  });
  await knex('deployment_backups').whereNull('database').update({ database: '' });
  await knex.schema.alterTable('deployment_backups', (t) => {
    t.dropColumn('node_id');
    t.dropColumn('node_type');
    t.dropColumn('encrypted');
    t.text('database').notNullable().alter();
  });
}
