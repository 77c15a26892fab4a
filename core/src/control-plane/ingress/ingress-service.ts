import { edgeKey, inject, injectable, nodeTokenHash } from '@nullops/kernel';
import type { ServiceState } from '@nullops/plugin-sdk';
import type { Logger } from 'pino';
import { ClusterBus } from '../cluster/cluster-bus.js';
import type { ControlPlaneConfig } from '../config.js';
import type { Database } from '../database/database.js';
import { ROUTED_STATES } from '../deployments/lifecycle.js';
import { SERVING_NODE_STATES } from '../models/fleet.js';
import { Outbox } from '../outbox/outbox.js';
import { Refs } from '../refs.js';
import type { SecretBox } from '../security/secret-box.js';
import { revealNodeToken } from '../services/node-tokens.js';
import { BuiltinProxy } from './builtin-proxy.js';
import { CaddyDriver, type CaddyOptions } from './caddy-driver.js';
import { serviceHost } from './host-name.js';
import type { IngressDriver, IngressRoute } from './ingress-driver.js';

/**
 * Owns the route table `service.deployment.environment.domain → (node, deployment, service)`,
 * rebuilt from the database (running deployments on online nodes only) and pushed to the
 * configured driver whenever deployments start or stop or nodes come and go. Traffic goes to the
 * node's agent edge; no address an agent reports is ever used, so a node can only serve its own
 * deployments.
 */
/** Outbox topic: rebuild the route table (queued with the change that moved a route). */
export const INGRESS_REFRESH_TOPIC = 'ingress.refresh';

/** Queues a rebuild of the route table in the caller's transaction. */
export const refreshRoutesLater = (outbox: Outbox, db: Database) =>
  outbox.add(db, INGRESS_REFRESH_TOPIC, 'ingress');

@injectable()
export class IngressService {
  private readonly builtin: BuiltinProxy;
  private readonly driver: IngressDriver;
  private pending: Promise<void> | undefined;
  private again = false;
  private current: IngressRoute[] = [];
  private lastError: unknown;
  /** Port the built-in proxy listens on (resolved after start when configured as 0). */
  port = 0;

  constructor(
    @inject(Refs.database) private readonly db: Database,
    @inject(Refs.config) private readonly config: ControlPlaneConfig,
    @inject(Refs.logger) private readonly logger: Logger,
    @inject(Refs.secretBox) private readonly box: SecretBox,
    @inject(Outbox) private readonly outbox: Outbox,
    @inject(ClusterBus) private readonly bus: ClusterBus,
  ) {
    this.builtin = new BuiltinProxy(logger);
    this.driver =
      config.NULLOPS_INGRESS_DRIVER === 'caddy' ? new CaddyDriver(caddyOptions(config)) : this.builtin;
  }

  async start(): Promise<void> {
    // The effect of deployments starting and stopping and nodes coming and going; a driver that
    // cannot take the table (Caddy restarting) is retried with the outbox's backoff.
    // Every replica serves every URL: the others rebuild theirs when told (and after a missed
    // message, on resync).
    this.outbox.handle(INGRESS_REFRESH_TOPIC, async () => {
      await this.refresh();
      await this.bus.publish(INGRESS_REFRESH_TOPIC);
      if (this.lastError) throw this.lastError;
    });
    this.bus.on(INGRESS_REFRESH_TOPIC, () => void this.refresh(), { othersOnly: true });
    this.bus.on('resync', () => void this.refresh());
    if (this.driver === this.builtin) {
      this.port = await this.builtin.listen(
        this.config.NULLOPS_INGRESS_PORT,
        this.config.NULLOPS_LISTEN_HOST,
      );
      this.logger.info({ port: this.port }, 'built-in ingress is listening');
    }
    await this.refresh();
    // Caddy not up yet (started beside this process): the outbox tries again, with backoff.
    if (this.lastError) await refreshRoutesLater(this.outbox, this.db);
  }

  async stop(): Promise<void> {
    await this.builtin.close();
  }

  get routes(): readonly IngressRoute[] {
    return this.current;
  }

  /** The public URL of a service. */
  url(host: string): string {
    const port = this.config.NULLOPS_INGRESS_PUBLIC_PORT ?? this.port;
    return `http://${host}${port === 80 || !port ? '' : `:${port}`}`;
  }

  /** Rebuilds and pushes the route table; concurrent calls coalesce into one more run. */
  refresh(): Promise<void> {
    if (this.pending) {
      this.again = true;
      return this.pending;
    }
    this.pending = (async () => {
      do {
        this.again = false;
        try {
          this.current = await this.compute();
          await this.driver.apply(this.current);
          this.lastError = undefined;
        } catch (err) {
          this.lastError = err;
          this.logger.error({ err, driver: this.driver.name }, 'could not update the ingress');
        }
      } while (this.again);
    })().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async compute(): Promise<IngressRoute[]> {
    const rows: {
      id: string;
      name: string;
      actual: ServiceState[] | null;
      envName: string;
      baseDomain: string;
      nodeId: string;
      nodeHost: string;
      nodePort: number;
      thumbprint: string | null;
      certificate: string | null;
      tokenEnc: string | null;
    }[] = await this.db('deployments as d')
      .join('environments as e', 'e.id', 'd.environmentId')
      .join('nodes as n', 'n.id', 'd.nodeId')
      .whereIn('d.state', [...ROUTED_STATES])
      // A degraded node (its runtime briefly unreachable) keeps serving what runs there.
      .whereIn('n.status', [...SERVING_NODE_STATES])
      // Environments with an ingress class are served by their cluster's own controller.
      .whereNull('e.ingressClass')
      .select(
        'd.id',
        'd.name',
        'd.actual',
        'e.name as envName',
        'e.baseDomain',
        'n.id as nodeId',
        'n.host as nodeHost',
        'n.port as nodePort',
        'n.thumbprint',
        'n.certificate',
        'n.tokenEnc',
      );
    const keys = new Map<string, string | undefined>();
    const keyOf = (row: (typeof rows)[number]) => {
      if (!keys.has(row.nodeId)) {
        const token = revealNodeToken(this.box, { id: row.nodeId, tokenEnc: row.tokenEnc });
        keys.set(row.nodeId, token ? edgeKey(nodeTokenHash(token)) : undefined);
      }
      return keys.get(row.nodeId);
    };
    return rows.flatMap((d) => {
      const key = keyOf(d);
      if (!key || !d.thumbprint) return [];
      return (
        (d.actual ?? [])
          // A stopped one (not one crashing and being restarted) answers that it is stopped.
          .filter((s) => s.status === 'running' || (s.status === 'stopped' && !s.restarting))
          .map((s) => ({
            ...(s.status === 'stopped' ? { stopped: true } : {}),
            host: serviceHost(s.name, d.name, d.envName, d.baseDomain),
            deploymentId: d.id,
            service: s.name,
            edge: {
              nodeId: d.nodeId,
              host: d.nodeHost,
              port: d.nodePort,
              thumbprint: d.thumbprint as string,
              certificate: d.certificate,
              key,
            },
          }))
      );
    });
  }
}

/** Caddy as configured: HTTPS when NullOps' public URL is https, the web UI when Caddy can reach it. */
function caddyOptions(config: ControlPlaneConfig): CaddyOptions {
  const publicUrl = config.NULLOPS_PUBLIC_URL ? new URL(config.NULLOPS_PUBLIC_URL) : undefined;
  return {
    adminUrl: config.NULLOPS_CADDY_ADMIN_URL,
    listen: config.NULLOPS_CADDY_LISTEN,
    ...(publicUrl && config.NULLOPS_CADDY_UI_UPSTREAM
      ? { ui: { host: publicUrl.hostname, upstream: config.NULLOPS_CADDY_UI_UPSTREAM } }
      : {}),
    ...(publicUrl?.protocol === 'https:'
      ? {
          https: {
            issuer: config.NULLOPS_CADDY_TLS_ISSUER,
            ...(config.NULLOPS_CADDY_ACME_EMAIL ? { email: config.NULLOPS_CADDY_ACME_EMAIL } : {}),
          },
        }
      : {}),
  };
}
