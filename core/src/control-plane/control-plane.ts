import type { Server } from 'node:http';
import Router from '@koa/router';
import type { DependencyContainer } from '@nullops/kernel';
import { composeServices, createContainer, createHttpApp, Metrics, type ServiceClass } from '@nullops/kernel';
import type Koa from 'koa';
import type { Logger } from 'pino';
import { AccessService } from './access/access-service.js';
import { Authorizer } from './access/authorizer.js';
import { LiveStreams } from './access/live-streams.js';
import { AgentEvents } from './agents/agent-events.js';
import { AgentConnectionManager } from './agents/connection-manager.js';
import { LogStreams } from './agents/log-streams.js';
import { NodeSync } from './agents/node-sync.js';
import { AuditService } from './audit/audit-service.js';
import { ApiTokenService } from './auth/api-token-service.js';
import { LoginThrottle } from './auth/login-throttle.js';
import { SessionService } from './auth/session-service.js';
import { SignIn } from './auth/sign-in.js';
import { OidcSignIn } from './auth/sso/oidc-sign-in.js';
import { SsoProviders } from './auth/sso/sso-providers.js';
import { SsoRenewals } from './auth/sso/sso-renewals.js';
import { BackupStore } from './backups/backup-store.js';
import { DeploymentBackups } from './backups/deployment-backups.js';
import { ClusterBus } from './cluster/cluster-bus.js';
import { NodeLeases } from './cluster/node-leases.js';
import { relayToLinkHolder } from './cluster/relay.js';
import { Replicas } from './cluster/replicas.js';
import { ComposeImport } from './compose/compose-import.js';
import type { ControlPlaneConfig } from './config.js';
import type { Database } from './database/database.js';
import { AgentReports } from './deployments/agent-reports.js';
import { DeploymentCommands } from './deployments/commands.js';
import { DesiredState } from './deployments/desired-state.js';
import { DeploymentHistory } from './deployments/history.js';
import { DeploymentOperations } from './deployments/operations.js';
import { DeploymentReadModel } from './deployments/read-model.js';
import { DeploymentHealth } from './deployments/service-health.js';
import { Sweeper } from './deployments/sweeper.js';
import { TagService } from './deployments/tag-service.js';
import { Transitions } from './deployments/transitions.js';
import { mountRoutes } from './http/mount-routes.js';
import { buildOpenApi } from './http/openapi.js';
import type { AnyRoute } from './http/route.js';
import { controlPlaneHooks } from './http/route-hooks.js';
import { IngressService } from './ingress/ingress-service.js';
import { Installation } from './installation.js';
import { Outbox } from './outbox/outbox.js';
import { DeploymentNotifications } from './plugins/deployment-notifications.js';
import { NodeNotifications } from './plugins/node-notifications.js';
import { PluginService } from './plugins/plugin-service.js';
import { Refs } from './refs.js';
import { auditRoutes } from './routes/audit-routes.js';
import { authRoutes } from './routes/auth-routes.js';
import { deploymentRoutes } from './routes/deployment-routes.js';
import { environmentRoutes } from './routes/environment-routes.js';
import { nodeRoutes } from './routes/node-routes.js';
import { pipelineRoutes } from './routes/pipeline-routes.js';
import { pluginRoutes } from './routes/plugin-routes.js';
import { projectRoutes } from './routes/project-routes.js';
import { registryRoutes } from './routes/registry-routes.js';
import { secretRoutes } from './routes/secret-routes.js';
import { serviceRoutes } from './routes/service-routes.js';
import { ssoRoutes } from './routes/sso-routes.js';
import { systemRoutes } from './routes/system-routes.js';
import { teamRoutes } from './routes/team-routes.js';
import { uiRoutes } from './routes/ui-routes.js';
import { userRoutes } from './routes/user-routes.js';
import { SecretBox, type SecretKey } from './security/secret-box.js';
import { Nodes } from './services/nodes.js';
import { Projects } from './services/projects.js';
import { Registries } from './services/registries.js';
import { SecretService } from './services/secret-service.js';
import { Users } from './services/users.js';
import { corsMiddleware } from './web/cors.js';
import { UiExtensionSettings } from './web/ui-extension-settings.js';
import { mountWebUi } from './web/web-ui.js';

export const API_VERSION = '0.1.0';

/** Bus topic: something changed through another replica's API. */
const API_CHANGED_TOPIC = 'api.changed';

/**
 * The control plane's services: its composition. Each is one instance per control plane (they hold
 * state: throttles, scope resolvers, caches, links). Those with work of their own start in this
 * order and stop in reverse: each part registers its outbox effects as it starts, the connection
 * manager dials nodes once every handler is there, and the outbox runs last (leftovers of an
 * earlier run included), before any node has connected. On stop, no new reports or effects are
 * taken, and those in flight end as the agent links close under them.
 */
export const CONTROL_PLANE_SERVICES: readonly ServiceClass[] = [
  // Identity and access
  Installation,
  SessionService,
  ApiTokenService,
  LoginThrottle,
  SignIn,
  SsoProviders,
  OidcSignIn,
  Users,
  AccessService,
  Authorizer,
  AuditService,
  SecretService,
  // The catalogue and the fleet
  TagService,
  Registries,
  Projects,
  Nodes,
  ComposeImport,
  AgentEvents,
  LogStreams,
  // Deployments
  DeploymentHistory,
  Transitions,
  DeploymentReadModel,
  DeploymentCommands,
  BackupStore,
  DeploymentBackups,
  // Started, in this order
  ClusterBus,
  Replicas,
  NodeLeases,
  PluginService,
  UiExtensionSettings,
  IngressService,
  DeploymentNotifications,
  NodeNotifications,
  DesiredState,
  AgentReports,
  DeploymentHealth,
  DeploymentOperations,
  NodeSync,
  Sweeper,
  SsoRenewals,
  LiveStreams,
  AgentConnectionManager,
  Outbox,
];

export interface ControlPlane {
  app: Koa;
  container: DependencyContainer;
  routes: AnyRoute[];
  openapi(): ReturnType<typeof buildOpenApi>;
  listen(port: number, host?: string): Promise<Server>;
  /** Starts background work: connections to every enabled node. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Assembles the control plane on a migrated database: DI container, routes, hooks, HTTP app. */
export function createControlPlane(deps: {
  config: ControlPlaneConfig;
  logger: Logger;
  db: Database;
  secretKeys: SecretKey[];
}): ControlPlane {
  const container = createContainer();
  const metrics = new Metrics();
  container.registerInstance(Refs.config, deps.config);
  container.registerInstance(Refs.logger, deps.logger);
  container.registerInstance(Refs.database, deps.db);
  container.registerInstance(Refs.secretBox, new SecretBox(deps.secretKeys));
  container.registerInstance(Refs.metrics, metrics);
  const services = composeServices(container, CONTROL_PLANE_SERVICES);

  let document: ReturnType<typeof buildOpenApi> | undefined;
  const openapi = () => {
    document ??= buildOpenApi({ title: 'NullOps control plane API', version: API_VERSION }, routes);
    return document;
  };
  const routes: AnyRoute[] = [
    ...systemRoutes({ db: deps.db, metrics, openapi, metricsToken: deps.config.NULLOPS_METRICS_TOKEN }),
    ...[
      authRoutes,
      ssoRoutes,
      userRoutes,
      teamRoutes,
      registryRoutes,
      serviceRoutes,
      environmentRoutes,
      nodeRoutes,
      projectRoutes,
      pipelineRoutes,
      pluginRoutes,
      deploymentRoutes,
      secretRoutes,
      auditRoutes,
      uiRoutes,
    ].flatMap((make) => make(container)),
  ];

  const app = createHttpApp({
    logger: deps.logger,
    metrics,
    proxyHops: deps.config.NULLOPS_TRUST_PROXY_HOPS || (deps.config.NULLOPS_TRUST_PROXY ? 1 : 0),
  });
  app.use(corsMiddleware(deps.config.NULLOPS_CORS_ORIGINS));
  app.use(relayToLinkHolder(container.resolve(Replicas)));
  // After a change through the API, caches forget and open streams ask again: on every replica.
  const bus = container.resolve(ClusterBus);
  const changed = () => {
    container.resolve(DeploymentReadModel).forget();
    // A change may take access away: open streams ask again.
    container.resolve(LiveStreams).changed();
  };
  bus.on(API_CHANGED_TOPIC, changed, { othersOnly: true });
  const router = new Router();
  mountRoutes(
    router,
    routes,
    controlPlaneHooks({
      db: deps.db,
      authorizer: container.resolve(Authorizer),
      audit: container.resolve(AuditService),
      outbox: container.resolve(Outbox),
      logger: deps.logger,
      changed: () => {
        changed();
        bus.publish(API_CHANGED_TOPIC).catch(() => {});
      },
    }),
  );
  app.use(router.routes());
  app.use(router.allowedMethods());
  const pluginService = container.resolve(PluginService);
  mountWebUi(app, deps.logger, (name, version) => pluginService.frontendFile(name, version));
  // Requests the other replicas relay here come in through a listener of their own (mutual TLS).
  container.resolve(Replicas).serveRelays(app.callback());

  return {
    app,
    container,
    routes,
    openapi,
    start: () => services.start(),
    stop: () => services.stop(),
    listen: (port, host) =>
      new Promise((resolveListen, reject) => {
        const server = app.listen(port, host);
        server.once('listening', () => resolveListen(server));
        server.once('error', reject);
      }),
  };
}
