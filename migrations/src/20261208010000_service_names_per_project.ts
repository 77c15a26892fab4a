import type { Knex } from 'knex';

/**
 * A service's name is unique within each project that uses it, not across the installation: two
 * projects may each have their own `db` (a compose file imported into each, say). The name is the
 * host name its deployment's other services reach it by, so it cannot be made unique by renaming.
 * Existing rows need nothing: unique everywhere is unique in every project. The control plane
 * checks a project's names whenever its services or a service's name change.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('services', (t) => {
    t.dropUnique(['name']);
    t.index(['name']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('services', (t) => {
    t.dropIndex(['name']);
    t.unique(['name']);
  });
}
