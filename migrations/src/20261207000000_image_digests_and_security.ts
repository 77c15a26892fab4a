import type { Knex } from 'knex';

/**
 * `deployments.image_digests`: the digest each service's tag pointed to when the deployment was
 * created or redeployed (what its node runs: `image@digest`). `projects.security_profile`: how
 * strictly its services' containers are confined (`baseline`, `restricted`); `egress_allow`: the
 * networks (CIDRs) its deployments may reach besides the internet.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('deployments', (t) => {
    t.jsonb('image_digests').notNullable().defaultTo('{}');
  });
  await knex.schema.alterTable('projects', (t) => {
    t.string('security_profile', 20).notNullable().defaultTo('baseline');
    t.jsonb('egress_allow').notNullable().defaultTo('[]');
  });
  await knex.raw(
    "alter table projects add constraint projects_security_profile_check check (security_profile in ('baseline', 'restricted'))",
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('projects', (t) => {
    t.dropChecks(['projects_security_profile_check']);
    t.dropColumn('security_profile');
    t.dropColumn('egress_allow');
  });
  await knex.schema.alterTable('deployments', (t) => {
    t.dropColumn('image_digests');
  });
}
