import type { Knex } from 'knex';

/**
 * `environments.cpu_overcommit` and `memory_overcommit`: how far the budgets allocated on a node
 * may exceed its capacity (1.0: not at all). Idle QA environments reserve far more than they use;
 * placement still requires the measured use to leave room.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('environments', (t) => {
    t.double('cpu_overcommit').notNullable().defaultTo(1);
    t.double('memory_overcommit').notNullable().defaultTo(1);
  });
  await knex.raw(
    'alter table environments add constraint environments_overcommit_check check (cpu_overcommit between 1 and 20 and memory_overcommit between 1 and 4)',
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('environments', (t) => {
    t.dropChecks(['environments_overcommit_check']);
    t.dropColumn('cpu_overcommit');
    t.dropColumn('memory_overcommit');
  });
}
