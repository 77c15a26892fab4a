import type { Knex } from 'knex';

/**
 * Scoped API tokens: a token may be read-only and limited to some projects, for the embeds and CI
 * that use them (existing tokens keep their owner's full rights until they expire or are revoked).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('api_tokens', (t) => {
    t.text('access').notNullable().defaultTo('full');
    t.specificType('project_ids', 'uuid[]');
  });
  await knex.raw(
    `alter table api_tokens add constraint api_tokens_access_check check (access in ('read', 'full'))`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('api_tokens', (t) => {
    t.dropColumn('project_ids');
    t.dropColumn('access');
  });
}
