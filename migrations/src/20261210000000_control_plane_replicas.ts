import type { Knex } from 'knex';

/**
 * Several control-plane replicas on one database: each replica says it is alive (`heartbeat_at`,
 * on the database's clock), each node's link is leased to the one replica that dials it, and an
 * outbox effect that needs a node's link can be handed to the replica that holds it. Sign-in
 * throttles are counted here, for all of them.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('control_plane_replicas', (t) => {
    t.uuid('id').primary();
    // Where other replicas reach this one (log streams, exec and service control are relayed there).
    t.text('address');
    t.timestamp('started_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('heartbeat_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.createTable('node_link_leases', (t) => {
    t.uuid('node_id').primary().references('nodes.id').onDelete('CASCADE');
    t.uuid('replica_id').notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.index(['replica_id']);
  });
  // Sign-in throttles, shared by the replicas (rate-limiter-flexible's RateLimiterPostgres tables).
  for (const table of ['login_throttle_users', 'login_throttle_addresses'])
    await knex.schema.createTable(table, (t) => {
      t.string('key', 255).primary();
      t.integer('points').notNullable().defaultTo(0);
      t.bigInteger('expire');
    });
  await knex.schema.alterTable('outbox', (t) => {
    // An effect forwarded to the replica that holds the link it needs; null: any replica.
    t.uuid('for_replica');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('outbox', (t) => t.dropColumn('for_replica'));
  await knex.schema.dropTable('login_throttle_addresses');
  await knex.schema.dropTable('login_throttle_users');
  await knex.schema.dropTable('node_link_leases');
  await knex.schema.dropTable('control_plane_replicas');
}
