import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import {
  AGENT_PROOF_HEADER,
  channelProof,
  constantTimeEqual,
  rootContainer as container,
  createHttpApp,
  edgeKey,
  Metrics,
  nodeTokenHash,
  PROOF_SCHEME,
  watchLiveness,
} from '@nullops/kernel';
import { type BundledPlugin, PluginHost, PluginStore } from '@nullops/kernel/plugins';
import {
  AGENT_IDENTITY_HEADER,
  AGENT_WS_PATH,
  type EventName,
  PROTOCOL_VERSION,
  type Runtime,
} from '@nullops/plugin-sdk';
import websockify from 'koa-websocket';
import type { Logger } from 'pino';
import type WebSocket from 'ws';
import type { AgentConfig } from './agent-config.js';
import { AgentEdge } from './agent-edge.js';
import { AgentIdentity } from './agent-identity.js';
import { AgentSession } from './agent-session.js';
import { loadOrCreateCertificate } from './certificate.js';
import { ControlRequests } from './control-requests.js';
import { DataOperations } from './data-operations.js';
import { DeploymentRunner } from './deployment-runner.js';
import { HostMetrics } from './host-metrics.js';
import { LogStreams } from './log-streams.js';
import { NodeClaim } from './node-claim.js';
import { Reconciler } from './reconciler.js';
import { ServiceControl } from './service-control.js';
import { ServiceHealthMonitor } from './service-health.js';
import { StateStore } from './state-store.js';

export interface RunningAgent {
  server: Server;
  port: number;
  thumbprint: string;
  close(): Promise<void>;
}

export interface AgentHostOptions {
  config: AgentConfig;
  runtime: Runtime;
  /**
   * Whose agent this is; the runtime labels with it. Learnt from the control plane on connect
   * (and kept in the agent's state) unless given here (the embedded agent knows its node).
   */
  identity: AgentIdentity;
  logger: Logger;
  agentVersion: string;
  /** The protocol version announced in hello; only compatibility tests set another. */
  protocolVersion?: number;
  /** The first-party plugins the agent program ships with (`bundledPluginsOf(import.meta.url)`). */
  bundledPlugins: readonly BundledPlugin[];
  /**
   * The agent must stop (another live agent process holds this node's resources). Default: log
   * and exit the process; the embedded agent stops itself instead.
   */
  onFatal?: (message: string) => void;
}

/**
 * The agent host shared by every runtime: one TLS port the control plane dials, serving the
 * WebSocket control channel (proof of the token is checked on the HTTP upgrade, before any WebSocket exists;
 * the agent keeps only its hash) and the edge the ingress forwards service traffic to.
 */
export async function startAgentHost(deps: AgentHostOptions): Promise<RunningAgent> {
  const { config, runtime, logger, identity } = deps;
  const tokenHash = nodeTokenHash(config.NULLOPS_AGENT_TOKEN);
  const certificate = await loadOrCreateCertificate(config.NULLOPS_AGENT_DATA_DIR);
  logger.info({ thumbprint: certificate.thumbprint, created: certificate.created }, 'agent certificate');
  const store = new StateStore(config.NULLOPS_AGENT_DATA_DIR, logger);
  const state = await store.load();
  if (identity.owner) state.owner = identity.owner;
  else if (state.owner) identity.adopt(state.owner);
  const fatal =
    deps.onFatal ??
    ((message: string) => {
      logger.fatal(message);
      process.exit(1);
    });
  const hostMetrics = new HostMetrics();
  // Plugin releases live in the agent's data volume, so an agent restart does not download them again.
  const plugins = new PluginHost({
    store: new PluginStore(join(config.NULLOPS_AGENT_DATA_DIR, 'plugins')),
    container: container.createChildContainer(),
    logger: logger.child({ scope: 'plugins' }),
  });
  await plugins.loadBundled(deps.bundledPlugins);
  let current: AgentSession | undefined;
  const emit = (event: EventName, data: unknown) => current?.emit(event, data);
  const health = new ServiceHealthMonitor({
    runtime,
    deployments: () => runner.running(),
    emit,
    sweepMs: config.NULLOPS_AGENT_HEALTH_SECONDS * 1000,
    logger: logger.child({ scope: 'health' }),
    mask: (deploymentId, text) => runner.masker(deploymentId)?.mask(text),
  });
  const runner = new DeploymentRunner({
    runtime,
    plugins,
    logger,
    // Events go to whichever control plane is connected; a run's outcome is also kept for the next sync.
    emit: (event, data) => {
      emit(event, data);
      // A pipeline that ended running: its services' health is told now, not at the next sweep.
      if (event === 'deployment.finished') health.touch((data as { id: string }).id);
    },
    persist: (deployments) =>
      store.save({ version: 3, owner: identity.owner ?? null, syncedAt: state.syncedAt, deployments }),
  });
  runner.load(state.deployments);
  const logs = new LogStreams({ runtime, runner, emit });
  const data = new DataOperations({ runtime, plugins, runner, emit });

  // Syncs, deploys and repairs are serialised: two overlapping reconciles could both recreate
  // the same service.
  let queue: Promise<unknown> = Promise.resolve();
  const serialised = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => {});
    return next;
  };
  const reconciler = new Reconciler({
    runtime,
    runner,
    logger: logger.child({ scope: 'reconcile' }),
    emit,
    serialised,
    sweepMs: config.NULLOPS_AGENT_RECONCILE_SECONDS * 1000,
  });

  // Watching the runtime and restoring deployments begin once the agent knows whose they are.
  let unwatch: (() => void) | undefined;
  const nodeClaim = new NodeClaim({
    runtime,
    identity,
    state,
    logger,
    fatal,
    save: () => runner.save(),
    owned: () => {
      if (runtime.capabilities.events)
        unwatch = runtime.watchServices((deploymentId, service) => {
          health.changed(deploymentId, service);
          reconciler.touched(deploymentId);
        });
      health.start();
      reconciler.start();
    },
  });
  if (identity.owner) {
    await nodeClaim.claim();
    nodeClaim.start();
  }
  const requests = new ControlRequests({
    runner,
    services: new ServiceControl({ runtime, runner, logger }),
    reconciler,
    health,
    plugins,
    data,
    logs,
    logger,
    serialised,
    synced: (at) => {
      state.syncedAt = at;
    },
  });

  // The control channel; the server below hands it the upgrades that are not for the edge.
  const wsOptions = {
    maxPayload: config.NULLOPS_AGENT_MAX_FRAME_BYTES,
    perMessageDeflate: false,
    noServer: true,
    verifyClient: (
      info: { req: IncomingMessage },
      done: (ok: boolean, code?: number, message?: string) => void,
    ) => {
      const path = new URL(info.req.url ?? '/', 'https://agent').pathname;
      const header = info.req.headers.authorization ?? '';
      const presented = new RegExp(`^${PROOF_SCHEME} (\\S+)$`).exec(header)?.[1];
      const address = info.req.socket.remoteAddress;
      if (path !== AGENT_WS_PATH) return done(false, 404, 'Not Found');
      const expected = channelProof(tokenHash, info.req.socket as TLSSocket, 'control-plane');
      if (!presented || !constantTimeEqual(presented, expected)) {
        logger.warn(
          { address, proofPresented: Boolean(presented) },
          'refused a control-plane connection: no proof of the node token',
        );
        return done(false, 401, 'Unauthorized');
      }
      logger.info({ address }, 'control plane authenticated');
      const named = info.req.headers[AGENT_IDENTITY_HEADER];
      void nodeClaim.learn(typeof named === 'string' ? named : undefined).then((refused) => {
        if (!refused) return done(true);
        logger.error({ reason: refused }, 'refused the control plane');
        done(false, 409, 'Conflict');
      });
    },
  };
  const app = websockify(createHttpApp({ logger, metrics: new Metrics({ prefix: 'nullops_agent_' }) }));

  let currentSocket: WebSocket | undefined;
  app.ws.use(async (ctx) => {
    const socket = ctx.websocket as WebSocket;
    // One control plane at a time: a new connection (say, after a network split) replaces the old.
    if (currentSocket && currentSocket !== socket) currentSocket.close(4000, 'replaced by a new connection');
    current?.stop();
    currentSocket = socket;
    watchLiveness(socket, {
      intervalMs: config.NULLOPS_AGENT_LIVENESS_TIMEOUT_MS / 3,
      timeoutMs: config.NULLOPS_AGENT_LIVENESS_TIMEOUT_MS,
      onSilent: (ms) =>
        logger.warn({ silentMs: ms }, 'the control plane went silent; dropping its connection'),
    });
    current = new AgentSession(socket, {
      runtime,
      metrics: hostMetrics,
      logger,
      agentVersion: deps.agentVersion,
      protocolVersion: deps.protocolVersion ?? PROTOCOL_VERSION,
      heartbeatSeconds: config.NULLOPS_AGENT_HEARTBEAT_SECONDS,
      maxMessageBytes: config.NULLOPS_AGENT_MAX_FRAME_BYTES,
      handlers: requests.handlers(),
    });
    void current.start();
  });

  const edge = new AgentEdge({
    key: edgeKey(tokenHash),
    runtime,
    ports: (deploymentId, service) => runner.servicePort(deploymentId, service),
    logger: logger.child({ scope: 'edge' }),
  });
  // Every plain request on this port is for the edge, and needs its key (401 without): the
  // agent has no page of its own here that a request could reach by missing its edge headers.
  const server: Server = createServer(
    { cert: certificate.cert, key: certificate.key, minVersion: 'TLSv1.2' },
    (req, res) => void edge.handle(req, res),
  );
  // Node drops headers past the 2000th silently; the edge reads them all (16 KiB still bounds them),
  // so no pile of headers can hide the edge key.
  server.maxHeadersCount = 0;
  app.ws.listen(wsOptions);
  // The agent proves in turn that it holds the token, on this same TLS connection: only then does
  // the control plane trust (and, on first contact, pin) this certificate.
  app.ws.server?.on('headers', (headers, req) =>
    headers.push(`${AGENT_PROOF_HEADER}: ${channelProof(tokenHash, req.socket as TLSSocket, 'agent')}`),
  );
  server.on('upgrade', (req, socket, head) => {
    // Only the control channel's own path is not the edge's.
    if (new URL(req.url ?? '/', 'https://agent').pathname !== AGENT_WS_PATH) {
      void edge.upgrade(req, socket, head);
      return;
    }
    const wss = app.ws.server;
    wss?.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  server.listen(config.NULLOPS_AGENT_PORT, config.NULLOPS_AGENT_LISTEN_HOST);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ port, thumbprint: certificate.thumbprint }, 'NullOps agent is listening');
  return {
    server,
    port,
    thumbprint: certificate.thumbprint,
    close: async () => {
      unwatch?.();
      health.stop();
      reconciler.stop();
      current?.stop();
      logs.closeAll();
      await nodeClaim.release();
      await runtime.close();
      for (const client of app.ws.server?.clients ?? []) client.terminate();
      app.ws.server?.close();
      edge.close();
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
