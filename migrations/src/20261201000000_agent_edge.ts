import type { Knex } from 'knex';

/**
 * The agent edge and Kubernetes nodes: the certificate a node was pinned with (ingress drivers
 * that verify TLS themselves, such as Caddy, need the certificate, not just its thumbprint), the
 * runtime its agent reports, and, for Kubernetes environments, the Ingress class to write
 * `networking.k8s.io/v1` Ingress objects with (null: traffic goes through the agent edge).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('nodes', (t) => {
    t.text('certificate');
    t.text('runtime');
  });
  await knex.schema.alterTable('environments', (t) => {
    t.text('ingress_class');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('environments', (t) => t.dropColumn('ingress_class'));
  await knex.schema.alterTable('nodes', (t) => {
    t.dropColumn('runtime');
    t.dropColumn('certificate');
  });
}
