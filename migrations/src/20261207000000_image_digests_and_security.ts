import type { Knex } from 'knex';

/**
 * `deployments.image_digests`: the digest each service's tag pointed to when the deployment was
 * created or redeployed (what its node runs: `image@digest`). `projects.security_profile`: how
 * strictly its services' containers are confined (`baseline`, `restricted`).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('deployments', (t) => {
    t.jsonb('image_digests').notNullable().defaultTo('{}');
  });
  await knex.schema.alterTable('projects', (t) => {
    t.string('security_profile', 20).notNullable().defaultTo('baseline');
  });
  await knex.raw(
    "alter table projects add constraint projects_security_profile_check check (security_profile in ('baseline', 'restricted'))",
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('projects', (t) => {
    t.dropChecks(['projects_security_profile_check']);
    t.dropColumn('security_profile');
  });
  await knex.schema.alterTable('deployments', (t) => {
    t.dropColumn('image_digests');
  });
}
