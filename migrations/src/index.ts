import type { Knex } from 'knex';
import * as foundation from './20261122000000_foundation.js';
import * as deployments from './20261122010000_deployments.js';
import * as plugins from './20261122020000_plugins.js';
import * as agentEdge from './20261201000000_agent_edge.js';
import * as outbox from './20261201010000_outbox.js';
import * as decommission from './20261201020000_decommission.js';
import * as scopedTokens from './20261201030000_scoped_tokens.js';
import * as pluginTrees from './20261201040000_plugin_trees.js';
import * as day2Operations from './20261201050000_day2_operations.js';
import * as uiExtensionsAndHealth from './20261201060000_ui_extensions_and_health.js';
import * as fleetIntegrity from './20261206000000_fleet_integrity.js';
import * as backupsAndQuotas from './20261206010000_backups_and_quotas.js';
import * as imageDigestsAndSecurity from './20261207000000_image_digests_and_security.js';
import * as keptLogs from './20261208000000_kept_logs.js';
import * as serviceNamesPerProject from './20261208010000_service_names_per_project.js';
import * as overcommit from './20261208020000_overcommit.js';
import * as runtimeKinds from './20261208030000_runtime_kinds.js';
import * as singleSignOn from './20261209000000_single_sign_on.js';
import * as controlPlaneReplicas from './20261210000000_control_plane_replicas.js';
import * as deploymentListOrder from './20261210010000_deployment_list_order.js';
import * as replicaRelayTls from './20261211000000_replica_relay_tls.js';

/**
 * Every migration, in order. Listed explicitly (not globbed from a folder) so the compiled package
 * works wherever it is installed. A migration is never edited after it lands: add a new one.
 */
const migrations: Record<string, Knex.Migration> = {
  '20261122000000_foundation': foundation,
  '20261122010000_deployments': deployments,
  '20261122020000_plugins': plugins,
  '20261201000000_agent_edge': agentEdge,
  '20261201010000_outbox': outbox,
  '20261201020000_decommission': decommission,
  '20261201030000_scoped_tokens': scopedTokens,
  '20261201040000_plugin_trees': pluginTrees,
  '20261201050000_day2_operations': day2Operations,
  '20261201060000_ui_extensions_and_health': uiExtensionsAndHealth,
  '20261206000000_fleet_integrity': fleetIntegrity,
  '20261206010000_backups_and_quotas': backupsAndQuotas,
  '20261207000000_image_digests_and_security': imageDigestsAndSecurity,
  '20261208000000_kept_logs': keptLogs,
  '20261208010000_service_names_per_project': serviceNamesPerProject,
  '20261208020000_overcommit': overcommit,
  '20261208030000_runtime_kinds': runtimeKinds,
  '20261209000000_single_sign_on': singleSignOn,
  '20261210000000_control_plane_replicas': controlPlaneReplicas,
  '20261210010000_deployment_list_order': deploymentListOrder,
  '20261211000000_replica_relay_tls': replicaRelayTls,
};

/** A knex migration source over the list above. */
export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations),
  getMigrationName: (name) => name,
  getMigration: async (name) => {
    const migration = migrations[name];
    if (!migration) throw new Error(`unknown migration ${name}`);
    return migration;
  },
};
