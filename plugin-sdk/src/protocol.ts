import { z } from 'zod';
import {
  type HealthCheck,
  type LogLine,
  RUNTIME_KIND_PATTERN,
  type RuntimeCapabilities,
  type ServiceSpec,
  type ServiceState,
} from './runtime.js';

/**
 * Version of the control plane ⇄ agent protocol. Both sides must speak the same one: the control
 * plane marks an agent with another version `incompatible` (mixed versions are not supported).
 */
export const PROTOCOL_VERSION = 2;

/** Path of the agent's WebSocket endpoint. */
export const AGENT_WS_PATH = '/ws';

/**
 * Header of the control plane's upgrade request naming whose agent this is:
 * `<installation id>/<node id>`. It travels inside the TLS session the token proof is bound to;
 * the agent labels everything it makes with both and touches nothing without both.
 */
export const AGENT_IDENTITY_HEADER = 'x-nullops-identity';

/**
 * A service's environment and command as the protocol carries them. Components that start
 * services validate their params with these, so what a pipeline may hold when it is saved, and what
 * its references resolve to when it runs, is exactly what reaches the agent and comes back.
 */
export const ServiceEnvSchema = z
  .record(
    z.string().min(1).max(256, 'names are at most 256 characters'),
    z.string().max(65536, 'must be at most 64 KiB'),
  )
  .refine((env) => Object.keys(env).length <= 500, 'at most 500 variables');
export const ServiceCommandSchema = z
  .array(z.string().max(4096, 'must be at most 4096 characters'))
  .max(100, 'at most 100 arguments');

/**
 * Headers of a request for the agent edge (the agent's HTTPS port): which service it is for
 * (`<deployment id>/<service>`) and the edge key that proves it comes from the control plane's
 * ingress. The agent removes both before forwarding the request to the service.
 */
export const AGENT_EDGE_HEADERS = {
  target: 'x-nullops-edge-target',
  key: 'x-nullops-edge-key',
} as const;

const healthCheckSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('http'),
    path: z.string().startsWith('/').max(2000),
    port: z.number().int().min(1).max(65535).optional(),
    expectStatus: z.number().int().optional(),
  }),
  z.object({ kind: z.literal('tcp'), port: z.number().int().min(1).max(65535).optional() }),
  z.object({ kind: z.literal('command'), command: z.array(z.string().max(4096)).min(1).max(100) }),
]);

const dnsLabel = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/);

/** IPv4 or IPv6 networks in CIDR notation, e.g. `10.20.0.0/16`. */
export const EgressAllowSchema = z
  .array(
    z.union([z.cidrv4(), z.cidrv6()], { error: 'must be a network in CIDR notation, e.g. 10.20.0.0/16' }),
  )
  .max(100);

export const ServiceSpecSchema = z
  .object({
    name: dnsLabel,
    image: z.string().min(1).max(500),
    command: ServiceCommandSchema.optional(),
    env: ServiceEnvSchema.optional(),
    port: z.number().int().min(1).max(65535).optional(),
    cpuMillicores: z.number().int().min(1).max(1_000_000),
    memoryMb: z.number().int().min(4).max(4_194_304),
    volumes: z.record(dnsLabel, z.string().startsWith('/').max(1024)).optional(),
    healthCheck: healthCheckSchema.optional(),
    livenessCheck: healthCheckSchema.optional(),
    pull: z.enum(['always', 'missing']).optional(),
    secretEnv: z.array(z.string().max(256)).max(500).optional(),
    security: z
      .object({
        profile: z.enum(['baseline', 'restricted']).optional(),
        capabilities: z
          .array(z.string().regex(/^[A-Z_]{2,32}$/))
          .max(40)
          .optional(),
        writablePaths: z.array(z.string().startsWith('/').max(1024)).max(20).optional(),
        runAsUser: z.number().int().min(0).max(2147483647).optional(),
        diskMb: z.number().int().min(1).max(1_048_576).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export const ServiceStateSchema = z.object({
  name: z.string(),
  ref: z.string(),
  status: z.enum(['running', 'stopped', 'missing']),
  startedAt: z.string().optional(),
  reason: z.string().max(4000).optional(),
  restartCount: z.number().int().min(0).optional(),
  exitCode: z.number().int().optional(),
  restarting: z.boolean().optional(),
  starting: z.boolean().optional(),
});

/**
 * How a service of a running deployment is doing, as its node sees it: `running` (and passing its
 * health check, if it has one), `unhealthy` (running, failing its check), `restarting` (it
 * crashed and the runtime brings it back; `restartCount` says how often), `crashed` (exited by
 * itself: `exitCode`), `stopped` (by a user) or `missing`.
 */
export const ServiceHealthSchema = z.object({
  name: z.string(),
  condition: z.enum(['running', 'unhealthy', 'restarting', 'crashed', 'stopped', 'missing']),
  restartCount: z.number().int().min(0),
  exitCode: z.number().int().optional(),
  reason: z.string().max(1000).optional(),
  /** When it came into this condition. */
  since: z.string(),
});
export type ServiceHealth = z.infer<typeof ServiceHealthSchema>;

export const RegistryAuthSchema = z.object({
  serveraddress: z.string(),
  username: z.string(),
  password: z.string(),
});

/**
 * One exact plugin release a host must have. Registry plugins are installed from `registry` and
 * checked against `integrity`; bundled ones ship with the host.
 */
export const PluginRefSchema = z
  .object({
    name: z.string().min(1).max(214),
    version: z.string().min(1).max(64),
    source: z.enum(['bundled', 'registry']),
    integrity: z.string().max(200).optional(),
    /**
     * The release's whole dependency tree as the control plane installed it (package-lock JSON):
     * a host installs exactly these packages, each checked against its integrity.
     */
    lockfile: z
      .string()
      .max(4 * 1024 * 1024)
      .optional(),
    /** Where to download it; the token travels only over TLS and is never stored by the agent. */
    registry: z.object({ url: z.string().max(2000), token: z.string().max(4096).optional() }).optional(),
  })
  .strict();
export type PluginRef = z.infer<typeof PluginRefSchema>;

/** How a host's copy of one plugin release is doing. */
export const PluginStatusSchema = z.object({
  name: z.string(),
  version: z.string(),
  status: z.enum(['loaded', 'failed']),
  /** Why it failed, in the host's words (download error, SDK mismatch, import error). */
  error: z.string().optional(),
  /** Component types it provides, when loaded. */
  components: z.array(z.string()),
});
export type PluginStatus = z.infer<typeof PluginStatusSchema>;

/**
 * A pipeline ready to run: the control plane has resolved tags into image references, secret
 * references into values, and budgets into per-service limits. It travels only over TLS.
 */
export const PipelineRunSchema = z
  .object({
    pipelineVersion: z.number().int(),
    nodes: z
      .array(
        z.object({
          id: z.string().max(64),
          type: z.string().max(128),
          version: z.number().int(),
          title: z.string().max(200).optional(),
          /** Package name of the plugin that provides `type` (its release is in `plugins`). */
          plugin: z.string().max(214).optional(),
          params: z.record(z.string(), z.unknown()),
        }),
      )
      .max(500),
    edges: z.array(z.object({ from: z.string(), to: z.string() })).max(5000),
    registryAuth: z.array(RegistryAuthSchema).max(50),
    /**
     * Values the agent never lets out — resolved `${secret:…}` values and registry passwords:
     * masked in step messages, errors and log lines before they leave it, and kept out of its state.
     */
    secretValues: z.array(z.string().max(65536)).max(1000).optional(),
    /** The plugin releases the pipeline version was saved with: the run uses exactly these. */
    plugins: z.array(PluginRefSchema).max(100).default([]),
    /**
     * What the deployment may use in total: its project's budget plus what components reserve
     * for what they start besides services (a database server, a job). Runtimes that can enforce
     * a cap do (Kubernetes: the namespace's ResourceQuota).
     */
    budget: z
      .object({ cpuMillicores: z.number().int().min(1), memoryMb: z.number().int().min(1) })
      .optional(),
    /** Networks (CIDRs) the project lets its deployments reach besides the internet (since 1.6). */
    egressAllow: EgressAllowSchema.optional(),
  })
  .strict();
export type PipelineRun = z.infer<typeof PipelineRunSchema>;

/** A deployment as the control plane wants it on this node. */
export const DesiredDeploymentSchema = z
  .object({
    id: z.uuid(),
    name: dnsLabel,
    state: z.enum(['pending', 'deploying', 'running', 'degraded', 'offline', 'deleting']),
    /**
     * Which run of the deployment this is: 1 at create, one more at each retry or redeploy. An
     * agent holding an earlier one starts the new run from nothing (since protocol 2).
     */
    generation: z.number().int().min(1).optional(),
    /** Services that must be running (recorded when the pipeline ran). */
    services: z.array(ServiceSpecSchema).max(200),
    /** What the deployment may use on the node (its project's budget). */
    budget: z
      .object({ cpuMillicores: z.number().int().min(1), memoryMb: z.number().int().min(1) })
      .optional(),
    /** Networks (CIDRs) its project lets it reach besides the internet (since 1.6). */
    egressAllow: EgressAllowSchema.optional(),
    /** The pipeline to run while the deployment is deploying. */
    run: PipelineRunSchema.optional(),
    /** Services a user stopped: kept stopped, not brought back (sent only when there are any). */
    stoppedServices: z.array(dnsLabel).max(200).optional(),
    /**
     * A live deployment's resolved secret values (masked in everything the agent reports, also
     * after it restarted) and registry credentials (to bring a vanished service back). Memory only:
     * the agent never writes them down.
     */
    secretValues: z.array(z.string().max(65536)).max(1000).optional(),
    registryAuth: z.array(RegistryAuthSchema).max(50).optional(),
    /**
     * Kubernetes environments with an ingress controller: the agent writes Ingress objects of
     * this class for `<service>.<deployment name>.<domain>` instead of serving them at its edge.
     */
    ingress: z
      .object({ className: dnsLabel, domain: z.string().max(253) })
      .strict()
      .optional(),
  })
  .strict();
export type DesiredDeployment = z.infer<typeof DesiredDeploymentSchema>;

/** Where a deployment's pipeline stands on the agent. */
export const RunPhaseSchema = z.enum(['deploying', 'running', 'failed']);
export const RunErrorSchema = z.object({ step: z.string().nullable(), message: z.string() });
export type RunError = z.infer<typeof RunErrorSchema>;

/** How many of a service's last log lines are kept when it is removed, and how long each may be. */
export const KEPT_LINES = 200;
export const KEPT_LINE_CHARS = 1000;

/**
 * The last lines of each service of a deployment, read (and masked) by the agent just before a
 * failed run's rollback or a deletion removed them (since protocol 1.7): kept with its history.
 */
export const KeptLogsSchema = z
  .array(
    z.object({
      service: z.string().max(63),
      lines: z
        .array(
          z.object({
            time: z.string().max(40),
            stream: z.enum(['stdout', 'stderr']),
            line: z.string().max(KEPT_LINE_CHARS),
          }),
        )
        .max(KEPT_LINES),
    }),
  )
  .max(50);
export type KeptLogs = z.infer<typeof KeptLogsSchema>;

export const ActualDeploymentSchema = z.object({
  id: z.uuid(),
  phase: RunPhaseSchema,
  services: z.array(ServiceStateSchema),
  /** Specs of the services the pipeline started (to be kept alive). */
  specs: z.array(ServiceSpecSchema),
  error: RunErrorSchema.optional(),
  /**
   * Why a running deployment cannot be restored to its spec by the agent (data a later step built
   * is gone): it stays as it is until redeployed.
   */
  degraded: z.string().max(2000).optional(),
  /** With a failed run: its services' last lines, read before the rollback removed them. */
  keptLogs: KeptLogsSchema.optional(),
});
export type ActualDeployment = z.infer<typeof ActualDeploymentSchema>;

/** What reconciling did, for logs and tests. */
export const ReconcileReportSchema = z.object({
  kept: z.array(z.string()),
  restarted: z.array(z.string()),
  recreated: z.array(z.string()),
  removedDeployments: z.array(z.string()),
});
export type ReconcileReport = z.infer<typeof ReconcileReportSchema>;

/**
 * One pipeline node of a running deployment whose component keeps data (`backup` / `restore`),
 * with its params resolved and the plugin release it was saved with.
 */
const DataTargetSchema = z
  .object({
    deploymentId: z.uuid(),
    deploymentName: dnsLabel,
    node: PipelineRunSchema.shape.nodes.element,
    plugins: z.array(PluginRefSchema).max(100),
  })
  .strict();

/** The largest archive a backup or restore carries (base64, in one message). */
export const MAX_DATA_ARCHIVE_BASE64 = 12 * 1024 * 1024;

/** Requests the control plane sends, with their params and results. */

export const RequestSchemas = {
  /** The full desired state of the node; the agent reconciles and answers with the actual state. */
  sync: {
    params: z
      .object({
        deployments: z.array(DesiredDeploymentSchema).max(5000),
        /** The pages sent before as `sync.part` with this id come first. */
        syncId: z.uuid().optional(),
      })
      .strict(),
    result: z.object({ deployments: z.array(ActualDeploymentSchema), report: ReconcileReportSchema }),
  },
  /**
   * One page of a desired state too large for one message: the agent keeps the pages of the
   * latest `syncId` (a new id drops older ones) until the `sync` with that id completes them.
   */
  'sync.part': {
    params: z.object({ syncId: z.uuid(), deployments: z.array(DesiredDeploymentSchema).max(5000) }).strict(),
    result: z.object({ received: z.number().int() }),
  },
  ping: { params: z.object({}).strict(), result: z.object({ at: z.string() }) },
  /**
   * The plugin releases this node should have (besides those pinned by pipeline runs): the agent
   * installs what it lacks and answers with the status of each.
   */
  'plugins.sync': {
    params: z.object({ plugins: z.array(PluginRefSchema).max(200) }).strict(),
    result: z.object({ plugins: z.array(PluginStatusSchema) }),
  },
  /**
   * Starts a deployment's pipeline; progress arrives as events, the outcome as
   * `deployment.finished`. A run of a later `generation` than the one the agent has (a retry, a
   * redeploy) first removes everything the deployment has on the node.
   */
  'deployment.deploy': {
    params: z.object({ deployment: DesiredDeploymentSchema.extend({ run: PipelineRunSchema }) }).strict(),
    result: z.object({ accepted: z.boolean() }),
  },
  /** Aborts a running pipeline (rolling it back) and removes everything the deployment owns. */
  'deployment.remove': {
    params: z.object({ id: z.uuid() }).strict(),
    /** `keptLogs`: the services' last lines, read before they were removed. */
    result: z.object({ removed: z.boolean(), keptLogs: KeptLogsSchema.optional() }),
  },
  /** A day-2 action on one service of a running deployment; answers with the service's state after it. */
  'service.control': {
    params: z
      .object({ deploymentId: z.uuid(), service: dnsLabel, action: z.enum(['restart', 'stop', 'start']) })
      .strict(),
    result: z.object({ service: ServiceStateSchema }),
  },
  /** A node's data as its component's `backup` makes it: one archive, base64 (since protocol 2). */
  'data.backup': {
    params: DataTargetSchema,
    result: z.object({ archive: z.string().max(MAX_DATA_ARCHIVE_BASE64), bytes: z.number().int() }),
  },
  /** Replaces a node's data with an archive `data.backup` made; says what the component refused. */
  'data.restore': {
    params: DataTargetSchema.extend({ archive: z.string().max(MAX_DATA_ARCHIVE_BASE64) }),
    result: z.object({ notes: z.array(z.string().max(1000)).max(100) }),
  },
  /** Streams a service's logs as `log.line` events tagged with `streamId`, until `logs.close`. */
  'logs.open': {
    params: z
      .object({
        streamId: z.string().max(64),
        deploymentId: z.uuid(),
        service: dnsLabel,
        follow: z.boolean(),
        tail: z.number().int().min(0).max(10000),
      })
      .strict(),
    result: z.object({ opened: z.boolean() }),
  },
  'logs.close': {
    params: z.object({ streamId: z.string().max(64) }).strict(),
    result: z.object({ closed: z.boolean() }),
  },
} as const;
export type RequestMethod = keyof typeof RequestSchemas;

export const RequestMessageSchema = z
  .object({
    type: z.literal('request'),
    id: z.string().min(1).max(64),
    method: z.string().max(64),
    params: z.unknown(),
  })
  .strict();

export const ResponseMessageSchema = z.discriminatedUnion('ok', [
  z.object({ type: z.literal('response'), id: z.string(), ok: z.literal(true), result: z.unknown() }),
  z.object({
    type: z.literal('response'),
    id: z.string(),
    ok: z.literal(false),
    error: z.object({ code: z.string(), message: z.string() }),
  }),
]);

/** Whether the agent can reach its engine or cluster now, and why not. */
export const RuntimeHealthSchema = z.object({
  healthy: z.boolean(),
  reason: z.string().max(1000).optional(),
});
export type RuntimeHealth = z.infer<typeof RuntimeHealthSchema>;

const RuntimeCapabilitiesSchema = z.object({ ingress: z.boolean(), events: z.boolean() }).strict();

const CapacitySchema = z.object({ cpuMillicores: z.number(), memoryMb: z.number() });

export const HelloSchema = z.object({
  protocolVersion: z.number().int(),
  agentVersion: z.string(),
  /** Its runtime's kind: any (the set is open); the control plane matches it to the environment's. */
  runtime: z.string().regex(RUNTIME_KIND_PATTERN),
  /** What its runtime can do (since SDK 1.8); an older agent's is its first-party kind's. */
  capabilities: RuntimeCapabilitiesSchema.optional(),
  /** The largest message it accepts: the control plane pages what it sends to fit. */
  maxMessageBytes: z.number().int().min(1024).optional(),
  /**
   * What the node offers, measured before hello (since protocol 2): a node is never online with
   * capacity unknown. Absent when the runtime could not be reached (then `runtime` says why).
   */
  capacity: CapacitySchema.optional(),
  /** Whether its engine or cluster answers (since protocol 2): a node that cannot is `degraded`. */
  runtimeHealth: RuntimeHealthSchema.optional(),
});
export type Hello = z.infer<typeof HelloSchema>;

export const HeartbeatSchema = z.object({
  at: z.string(),
  capacity: CapacitySchema,
  /** Whether the runtime answered this beat (since protocol 2). */
  runtimeHealth: RuntimeHealthSchema.optional(),
  host: z.object({
    cpuPercent: z.number(),
    memoryUsedMb: z.number(),
    memoryTotalMb: z.number(),
    load1: z.number(),
  }),
  services: z.array(
    z.object({
      deploymentId: z.string(),
      service: z.string(),
      cpuPercent: z.number(),
      memoryBytes: z.number(),
      memoryLimitBytes: z.number(),
    }),
  ),
});
export type Heartbeat = z.infer<typeof HeartbeatSchema>;

/** Events the agent pushes without being asked. */
export const EventSchemas = {
  hello: HelloSchema,
  heartbeat: HeartbeatSchema,
  /** The agent refused a message; sent so the control plane logs it (the agent stays up). */
  'protocol.error': z.object({ message: z.string() }),
  /**
   * A pipeline step changed state (or logged a line, or an image pull progressed, or said what it
   * waits for: `waiting`, live only).
   */
  'pipeline.step': z.object({
    deploymentId: z.string(),
    nodeId: z.string(),
    status: z.enum(['started', 'succeeded', 'failed', 'rolling-back', 'rolled-back', 'log', 'waiting']),
    message: z.string().optional(),
    at: z.string(),
  }),
  /** A pipeline ended: running, or failed and rolled back. */
  'deployment.finished': ActualDeploymentSchema,
  'log.line': z.object({
    streamId: z.string(),
    service: z.string(),
    stream: z.enum(['stdout', 'stderr']),
    time: z.string(),
    line: z.string(),
  }),
  'log.end': z.object({ streamId: z.string(), reason: z.string().optional() }),
  /** The health of a running deployment's services changed (or a new control plane connected). */
  'services.health': z.object({
    deploymentId: z.string(),
    at: z.string(),
    services: z.array(ServiceHealthSchema).max(500),
  }),
  /** The agent's reconcile brought a service of a running deployment back to its spec. */
  'deployment.repaired': z.object({
    deploymentId: z.string(),
    service: z.string(),
    action: z.enum(['restarted', 'recreated']),
    /** In words: "web was gone; recreated". */
    message: z.string().max(2000),
    at: z.string(),
  }),
  /** A running deployment cannot be restored by reconcile (its data is gone): it needs a redeploy. */
  'deployment.degraded': z.object({ deploymentId: z.string(), reason: z.string().max(2000), at: z.string() }),
} as const;
export type EventName = keyof typeof EventSchemas;

export const EventMessageSchema = z
  .object({ type: z.literal('event'), event: z.string().max(64), data: z.unknown() })
  .strict();

export type RequestMessage = z.infer<typeof RequestMessageSchema>;
export type ResponseMessage = z.infer<typeof ResponseMessageSchema>;
export type EventMessage = z.infer<typeof EventMessageSchema>;

/**
 * The protocol's schemas and the runtime's types say the same thing twice (one checks what
 * crosses the wire, the other is what components and runtimes use): if they drift apart, this
 * stops the build.
 */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const bound: [
  Same<z.input<typeof healthCheckSchema>, HealthCheck>,
  Same<z.output<typeof ServiceSpecSchema>, ServiceSpec>,
  Same<z.output<typeof RuntimeCapabilitiesSchema>, RuntimeCapabilities>,
  Same<z.output<typeof ServiceStateSchema>, ServiceState>,
  Same<Omit<z.output<(typeof EventSchemas)['log.line']>, 'streamId'>, LogLine>,
] = [true, true, true, true, true];
void bound;
