import type { Knex } from 'knex';

/**
 * Replicas relay requests to each other over mutual TLS: each row says the thumbprint of the
 * certificate its replica made at start, which the others pin (and accept as a relaying client).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('control_plane_replicas', (t) => {
    t.text('thumbprint');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('control_plane_replicas', (t) => {
    t.dropColumn('thumbprint');
  });
}
