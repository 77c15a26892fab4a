import type { Knex } from 'knex';

/**
 * Which runtimes an environment may use is the SDK's list (`RUNTIME_KINDS`), checked by the API:
 * the database no longer keeps a copy of it, so a new runtime needs no migration.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('alter table environments drop constraint environments_runtime_check');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(
    "alter table environments add constraint environments_runtime_check check (runtime in ('docker', 'kubernetes'))",
  );
}
