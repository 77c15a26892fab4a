import type { Knex } from 'knex';

/**
 * Single sign-on with OpenID Connect: providers (several at once), the mapping of their groups to
 * teams and to the administrator role, accounts made at first sign-in (no password), memberships
 * that follow the provider kept apart from manual ones, sessions bounded by the provider's say
 * (refreshed with its refresh token), and password login that admins may limit to break-glass
 * administrators.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sso_providers', (t) => {
    t.uuid('id').primary();
    t.text('slug').notNullable().unique();
    t.text('name').notNullable();
    t.text('issuer_url').notNullable();
    t.text('client_id').notNullable();
    t.text('client_secret_enc');
    t.text('scopes').notNullable().defaultTo('openid profile email');
    t.text('groups_claim').notNullable().defaultTo('groups');
    t.text('username_claim').notNullable().defaultTo('preferred_username');
    t.boolean('enabled').notNullable().defaultTo(true);
    t.boolean('managed_by_env').notNullable().defaultTo(false);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.createTable('sso_group_mappings', (t) => {
    t.uuid('id').primary();
    t.uuid('provider_id').notNullable().references('sso_providers.id').onDelete('CASCADE');
    t.text('group_name').notNullable();
    t.uuid('team_id').references('teams.id').onDelete('CASCADE');
    t.text('role').notNullable().checkIn(['member', 'admin'], 'sso_group_mappings_role_check');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  // A member mapping names its team; the admin role is not a team's.
  await knex.raw(`ALTER TABLE sso_group_mappings ADD CONSTRAINT sso_group_mappings_team_check
    CHECK ((role = 'member') = (team_id IS NOT NULL))`);
  await knex.raw(`CREATE UNIQUE INDEX sso_group_mappings_unique
    ON sso_group_mappings (provider_id, group_name, role, coalesce(team_id::text, ''))`);

  await knex.schema.alterTable('users', (t) => {
    t.uuid('sso_provider_id').references('sso_providers.id').onDelete('SET NULL');
    t.text('sso_subject');
    t.boolean('break_glass').notNullable().defaultTo(false);
    t.unique(['sso_provider_id', 'sso_subject']);
  });
  await knex.raw('ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL');

  await knex.schema.alterTable('team_members', (t) => {
    t.text('origin')
      .notNullable()
      .defaultTo('manual')
      .checkIn(['manual', 'sso'], 'team_members_origin_check');
  });
  await knex.schema.alterTable('sessions', (t) => {
    t.uuid('sso_provider_id').references('sso_providers.id').onDelete('CASCADE');
    t.text('refresh_token_enc');
    t.timestamp('refresh_at', { useTz: true });
  });
  await knex.schema.alterTable('installation', (t) => {
    t.text('password_login')
      .notNullable()
      .defaultTo('on')
      .checkIn(['on', 'break-glass'], 'installation_password_login_check');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('installation', (t) => t.dropColumn('password_login'));
  await knex.schema.alterTable('sessions', (t) => {
    t.dropColumn('sso_provider_id');
    t.dropColumn('refresh_token_enc');
    t.dropColumn('refresh_at');
  });
  await knex.schema.alterTable('team_members', (t) => t.dropColumn('origin'));
  await knex('users').whereNull('password_hash').delete();
  await knex.raw('ALTER TABLE users ALTER COLUMN password_hash SET NOT NULL');
  await knex.schema.alterTable('users', (t) => {
    t.dropUnique(['sso_provider_id', 'sso_subject']);
    t.dropColumn('sso_provider_id');
    t.dropColumn('sso_subject');
    t.dropColumn('break_glass');
  });
  await knex.schema.dropTable('sso_group_mappings');
  await knex.schema.dropTable('sso_providers');
}
