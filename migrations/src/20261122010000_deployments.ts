import type { Knex } from 'knex';

/**
 * Deployments and their history. A deployment's `services` are the service specs its pipeline
 * started (recorded when it ran): together with its state they are the desired state the control
 * plane sends its node on every connect.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('deployments', (t) => {
    t.uuid('id').primary();
    t.text('name').notNullable();
    t.uuid('project_id').notNullable().references('projects.id').onDelete('RESTRICT');
    t.uuid('environment_id').notNullable().references('environments.id').onDelete('RESTRICT');
    t.uuid('node_id').references('nodes.id').onDelete('RESTRICT');
    t.uuid('pipeline_version_id').references('pipeline_versions.id').onDelete('RESTRICT');
    t.jsonb('tags').notNullable().defaultTo('{}');
    t.text('state')
      .notNullable()
      .checkIn(
        ['pending', 'deploying', 'running', 'failed', 'offline', 'deleting', 'deleted'],
        'deployments_state_check',
      );
    t.text('state_message');
    t.jsonb('error');
    t.jsonb('services').notNullable().defaultTo('[]');
    t.jsonb('actual');
    t.integer('cpu_millicores').notNullable();
    t.integer('memory_mb').notNullable();
    t.text('idempotency_key');
    t.uuid('created_by').references('users.id').onDelete('SET NULL');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_activity_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('deleted_at', { useTz: true });
    t.index(['node_id', 'state']);
    t.index(['project_id', 'state']);
    t.index(['expires_at']);
  });
  // A name is unique in its environment among deployments that still exist; deleted ones free it.
  await knex.raw(
    `CREATE UNIQUE INDEX deployments_name_unique ON deployments (environment_id, name) WHERE state <> 'deleted'`,
  );
  await knex.raw(
    `CREATE UNIQUE INDEX deployments_idempotency_key_unique ON deployments (created_by, idempotency_key) WHERE idempotency_key IS NOT NULL`,
  );

  await knex.schema.createTable('deployment_events', (t) => {
    t.bigIncrements('id').primary();
    t.uuid('deployment_id').notNullable().references('deployments.id').onDelete('CASCADE');
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.uuid('actor_id');
    t.text('actor_name');
    t.text('kind').notNullable();
    t.text('from_state');
    t.text('to_state');
    t.text('message');
    t.jsonb('details');
    t.index(['deployment_id', 'at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('deployment_events');
  await knex.schema.dropTableIfExists('deployments');
}
