import type { Server } from 'node:http';
import Router from '@koa/router';
import type { DependencyContainer } from '@nullops/kernel';
import { createContainer, createHttpApp, Metrics } from '@nullops/kernel';
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
import { BackupStore } from './backups/backup-store.js';
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
import { systemRoutes } from './routes/system-routes.js';
import { teamRoutes } from './routes/team-routes.js';
import { uiRoutes } from './routes/ui-routes.js';
import { userRoutes } from './routes/user-routes.js';
import { SecretBox, type SecretKey } from './security/secret-box.js';
import { SecretService } from './services/secret-service.js';
import { corsMiddleware } from './web/cors.js';
import { mountWebUi } from './web/web-ui.js';

export const API_VERSION = '0.1.0';

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
  // Services hold state (throttles, scope resolvers): one instance per control plane.
  container.registerSingleton(SessionService);
  container.registerSingleton(ApiTokenService);
  container.registerSingleton(LoginThrottle);
  container.registerSingleton(AccessService);
  container.registerSingleton(Authorizer);
  container.registerSingleton(LiveStreams);
  container.registerSingleton(AuditService);
  container.registerSingleton(SecretService);
  container.registerSingleton(Outbox);
  container.registerSingleton(AgentEvents);
  container.registerSingleton(AgentConnectionManager);
  container.registerSingleton(LogStreams);
  container.registerSingleton(IngressService);
  container.registerSingleton(TagService);
  container.registerSingleton(PluginService);
  container.registerSingleton(DeploymentNotifications);
  container.registerSingleton(DeploymentHistory);
  container.registerSingleton(Transitions);
  container.registerSingleton(DeploymentReadModel);
  container.registerSingleton(DeploymentCommands);
  container.registerSingleton(DesiredState);
  container.registerSingleton(AgentReports);
  container.registerSingleton(DeploymentHealth);
  container.registerSingleton(NodeSync);
  container.registerSingleton(BackupStore);
  container.registerSingleton(DeploymentOperations);
  container.registerSingleton(NodeNotifications);
  container.registerSingleton(Sweeper);

  let document: ReturnType<typeof buildOpenApi> | undefined;
  const openapi = () => {
    document ??= buildOpenApi({ title: 'NullOps control plane API', version: API_VERSION }, routes);
    return document;
  };
  const routes: AnyRoute[] = [
    ...systemRoutes({ db: deps.db, metrics, openapi, metricsToken: deps.config.NULLOPS_METRICS_TOKEN }),
    ...[
      authRoutes,
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
        container.resolve(DeploymentReadModel).forget();
        // A change may take access away: open streams ask again.
        container.resolve(LiveStreams).changed();
      },
    }),
  );
  app.use(router.routes());
  app.use(router.allowedMethods());
  const pluginService = container.resolve(PluginService);
  mountWebUi(app, deps.logger, (name, version) => pluginService.frontendFile(name, version));

  const get = <T>(token: new (...args: never[]) => T): T => container.resolve(token as never);
  return {
    app,
    container,
    routes,
    openapi,
    // Each part registers its outbox effects as it starts; the outbox runs them (leftovers of an
    // earlier run included) once every handler is there, and before any node connects.
    start: async () => {
      await get(PluginService).start();
      await get(IngressService).start();
      get(DeploymentHistory).start();
      get(DeploymentNotifications).start();
      get(NodeNotifications).start();
      get(DesiredState).start();
      get(AgentReports).start();
      get(DeploymentHealth).start();
      get(DeploymentOperations).start();
      get(NodeSync).start();
      get(Sweeper).start();
      get(LiveStreams).start();
      await get(AgentConnectionManager).start();
      await get(Outbox).start();
    },
    stop: async () => {
      get(Sweeper).stop();
      get(LiveStreams).stop();
      get(NodeSync).stop();
      // No new reports are taken; those being handled end before the database may close.
      const reportsHandled = get(AgentReports).stop();
      get(DeploymentHealth).stop();
      // No new effects start; those in flight end once the agent links close under them.
      const outboxStopped = get(Outbox).stop();
      await get(AgentConnectionManager).stop();
      await outboxStopped;
      await reportsHandled;
      await get(IngressService).stop();
    },
    listen: (port, host) =>
      new Promise((resolveListen, reject) => {
        const server = app.listen(port, host);
        server.once('listening', () => resolveListen(server));
        server.once('error', reject);
      }),
  };
}
