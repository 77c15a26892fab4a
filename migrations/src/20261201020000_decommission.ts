import type { Knex } from 'knex';

/**
 * Decommissioning: a node, project or environment whose deployments are all deleted can be
 * removed. Deleted deployments no longer pin their node (the reference is cleared; the row keeps
 * the node's name for its history), and go with their project or environment. Live ones are
 * checked by the API, which refuses with their names.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('deployments', (t) => {
    t.text('node_name');
  });
  await knex.raw('update deployments d set node_name = n.name from nodes n where n.id = d.node_id');
  await refs(knex, {
    node_id: 'set null',
    project_id: 'cascade',
    environment_id: 'cascade',
    pipeline_version_id: 'no action',
  });
}

export async function down(knex: Knex): Promise<void> {
  await refs(knex, {
    node_id: 'restrict',
    project_id: 'restrict',
    environment_id: 'restrict',
    pipeline_version_id: 'restrict',
  });
  await knex.schema.alterTable('deployments', (t) => t.dropColumn('node_name'));
}

const TARGETS: Record<string, string> = {
  node_id: 'nodes',
  project_id: 'projects',
  environment_id: 'environments',
  pipeline_version_id: 'pipeline_versions',
};

async function refs(knex: Knex, rules: Record<string, string>) {
  for (const [column, rule] of Object.entries(rules)) {
    const name = `deployments_${column}_foreign`;
    await knex.raw(`alter table deployments drop constraint ${name}`);
    await knex.raw(
      `alter table deployments add constraint ${name} foreign key (${column}) references ${TARGETS[column]}(id) on delete ${rule}`,
    );
  }
}
