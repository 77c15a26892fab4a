import type { Knex } from 'knex';

/**
 * Fleet integrity. `installation`: the identity of this control-plane database, made once, which
 * every resource an agent creates carries (with its node's id) so that installations sharing one
 * engine or cluster never touch each other's. `nodes.max_message_bytes`: what its agent takes in
 * one message. `deployments.generation`: which run of a deployment
 * its node should hold (a retry or redeploy is a later one). The deployment states are the
 * lifecycle table's (core/src/control-plane/deployments/lifecycle.ts), not a check constraint of
 * their own: `degraded` is new, and a new state is one change in one place.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('installation', (t) => {
    t.uuid('id').primary();
    // One row only: the key is the constant true.
    t.boolean('singleton').notNullable().defaultTo(true).unique();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`ALTER TABLE installation ADD CONSTRAINT installation_singleton_check CHECK (singleton)`);
  await knex('installation').insert({ id: knex.raw('gen_random_uuid()') });
  await knex.schema.alterTable('deployments', (t) => {
    t.integer('generation').notNullable().defaultTo(1);
  });
  await knex.raw('ALTER TABLE deployments DROP CONSTRAINT IF EXISTS deployments_state_check');
  // The largest message the node's agent accepts (from its hello): a deployment larger than
  // that is refused at create instead of taking the node's link down.
  await knex.schema.alterTable('nodes', (t) => {
    t.integer('max_message_bytes');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('nodes', (t) => {
    t.dropColumn('max_message_bytes');
  });
  await knex.raw(`UPDATE deployments SET state = 'running' WHERE state = 'degraded'`);
  await knex.raw(`ALTER TABLE deployments ADD CONSTRAINT deployments_state_check
    CHECK (state IN ('pending', 'deploying', 'running', 'failed', 'offline', 'deleting', 'deleted'))`);
  await knex.schema.alterTable('deployments', (t) => {
    t.dropColumn('generation');
  });
  await knex.schema.dropTable('installation');
}
