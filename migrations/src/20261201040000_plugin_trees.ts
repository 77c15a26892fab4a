import type { Knex } from 'knex';

/**
 * The whole dependency tree of every plugin release the control plane installed (a package-lock:
 * each package's exact version, where it came from, its integrity), so every host installs exactly
 * that tree instead of resolving the plugin's dependencies afresh.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('plugin_release_trees', (t) => {
    t.text('name').notNullable();
    t.text('version').notNullable();
    t.text('integrity').notNullable();
    t.text('lockfile').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['name', 'version']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('plugin_release_trees');
}
