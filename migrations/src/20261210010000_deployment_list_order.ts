import type { Knex } from 'knex';

/** The deployment list's order (newest first) read from an index, not sorted per request. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('CREATE INDEX deployments_newest_first ON deployments (created_at DESC, id DESC)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX deployments_newest_first');
}
