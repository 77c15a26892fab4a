import { boolVar, ConfigError, enumVar, intVar, loadConfig, stringVar } from '@nullops/kernel';
import { z } from 'zod';
import { providersFromEnvironment } from './auth/sso/sso-providers.js';

/** Every environment variable the control plane reads; README.md documents each. */
export const controlPlaneConfigShape = {
  PORT: intVar(8080, 1, 65535),
  NULLOPS_LISTEN_HOST: stringVar('0.0.0.0'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  NULLOPS_DATA_DIR: stringVar('./.nullops'),
  /** Where database backups are kept (default: backups/ in the data directory). */
  NULLOPS_BACKUP_DIR: z.string().min(1).optional(),
  NULLOPS_EMBEDDED_PG_PORT: intVar(54329, 1, 65535),
  NULLOPS_ADMIN_PASSWORD: z.string().min(12, 'must be at least 12 characters').optional(),
  NULLOPS_SECRET_KEY: z.string().optional(),
  NULLOPS_LOG_LEVEL: enumVar(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
  NULLOPS_COOKIE_SECURE: enumVar(['auto', 'true', 'false'], 'auto'),
  NULLOPS_SESSION_TTL_HOURS: intVar(12, 1, 24 * 30),
  /** Reverse proxies you control in front of NullOps (0: trust no X-Forwarded-* header). */
  NULLOPS_TRUST_PROXY_HOPS: intVar(0, 0, 10),
  /** Older spelling of NULLOPS_TRUST_PROXY_HOPS=1. */
  NULLOPS_TRUST_PROXY: boolVar(false),
  /**
   * Bearer token that `/metrics` asks for (at least 16 characters). Unset: `/metrics` answers only
   * requests made on this machine (from a loopback address, not through a proxy).
   */
  NULLOPS_METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  NULLOPS_LOGIN_MAX_FAILURES: intVar(5, 1, 1000),
  NULLOPS_LOGIN_WINDOW_SECONDS: intVar(900, 1, 86400),
  NULLOPS_EMBEDDED_AGENT: enumVar(['auto', 'off'], 'auto'),
  NULLOPS_EMBEDDED_AGENT_PORT: intVar(5001, 1, 65535),
  /**
   * An agent of its own beside the control plane (docker compose): where it listens (host:port).
   * With NULLOPS_AGENT_TOKEN, it is node `local` of environment `local`, kept at this address.
   */
  NULLOPS_AGENT_ADDRESS: z
    .string()
    .regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'must be host:port, e.g. host.docker.internal:5001')
    .optional(),
  /** The token that agent was started with (at least 32 characters). */
  NULLOPS_AGENT_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
  /** Base domain of environment `local` when NullOps makes it (URLs: service.deployment.local.<it>). */
  NULLOPS_LOCAL_DOMAIN: stringVar('localhost'),
  /** The embedded agent's NULLOPS_HOST_ISOLATION (see the Docker agent's). */
  NULLOPS_HOST_ISOLATION: enumVar(['auto', 'required', 'off'], 'auto'),
  NULLOPS_INGRESS_DRIVER: enumVar(['builtin', 'caddy'], 'builtin'),
  NULLOPS_INGRESS_PORT: intVar(8081, 0, 65535),
  NULLOPS_INGRESS_PUBLIC_PORT: z
    .string()
    .regex(/^\d+$/, 'must be a port number')
    .transform(Number)
    .optional(),
  NULLOPS_CADDY_ADMIN_URL: stringVar('http://127.0.0.1:2019'),
  NULLOPS_CADDY_LISTEN: stringVar(':80'),
  /**
   * Where Caddy reaches this control plane (control-plane:8080): Caddy then serves the web UI and
   * API at NULLOPS_PUBLIC_URL's host too.
   */
  NULLOPS_CADDY_UI_UPSTREAM: z
    .string()
    .regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'must be host:port, e.g. control-plane:8080')
    .optional(),
  /** Who signs Caddy's certificates when NULLOPS_PUBLIC_URL is https: Let's Encrypt, or Caddy's own CA. */
  NULLOPS_CADDY_TLS_ISSUER: enumVar(['acme', 'internal'], 'acme'),
  /** The e-mail address Let's Encrypt writes to about the certificates (optional). */
  NULLOPS_CADDY_ACME_EMAIL: z.email('must be an e-mail address').optional(),
  NULLOPS_SWEEP_INTERVAL_SECONDS: intVar(30, 1, 3600),
  NULLOPS_AGENT_CONNECT_TIMEOUT_MS: intVar(10_000, 100, 120_000),
  /** Agent connections being made (dial, TLS, proof, hello) at the same time; the rest wait. */
  NULLOPS_AGENT_DIAL_CONCURRENCY: intVar(32, 1, 10_000),
  /** Silence from an agent (no message, no pong) after which its node is offline. */
  NULLOPS_AGENT_LIVENESS_TIMEOUT_MS: intVar(15_000, 300, 600_000),
  NULLOPS_AGENT_RECONNECT_BASE_MS: intVar(500, 10, 60_000),
  NULLOPS_AGENT_RECONNECT_MAX_MS: intVar(30_000, 100, 600_000),
  /** How often a control-plane replica says it is alive (and renews its node links' leases). */
  NULLOPS_REPLICA_HEARTBEAT_MS: intVar(2000, 50, 60_000),
  /** Silence after which a replica is dead: its node links and outbox effects go to the others. */
  NULLOPS_REPLICA_TIMEOUT_MS: intVar(8000, 200, 600_000),
  /**
   * Where the other replicas reach this one (a host name or IP, e.g. the pod's): requests that need
   * a node it links (log streams, execs) are relayed there over mutual TLS. Unset: the host name.
   */
  NULLOPS_REPLICA_HOST: z
    .string()
    .regex(/^[A-Za-z0-9.:-]+$/, 'must be a host name or an IP address')
    .optional(),
  /** The port of that mutual-TLS listener (0: any free port, said to the others in the database). */
  NULLOPS_REPLICA_PORT: intVar(0, 0, 65535),
  /** Replaced by the two above: relays no longer go to the plain-HTTP API port. */
  NULLOPS_REPLICA_ADDRESS: z
    .undefined({
      error:
        'replaced by NULLOPS_REPLICA_HOST (and NULLOPS_REPLICA_PORT): replicas relay to each other over mutual TLS now',
    })
    .optional(),
  /**
   * Where people reach NullOps (https://nullops.example.com): single sign-on's redirect URIs are
   * made from it, exactly. Unset: from the request that starts a sign-in.
   */
  NULLOPS_PUBLIC_URL: z
    .url({
      protocol: /^https?$/,
      error: 'must be the URL people open NullOps at, e.g. https://nullops.example.com',
    })
    .transform((u) => u.replace(/\/+$/, ''))
    .optional(),
  /** OpenID Connect providers as JSON (README: Single sign-on); they can be changed only here. */
  NULLOPS_SSO_PROVIDERS: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (!v) return [];
      try {
        return JSON.parse(v) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON array of providers' });
        return z.NEVER;
      }
    })
    .pipe(providersFromEnvironment),
  /** Origins (scheme://host[:port], comma-separated) whose pages may call the API with a token. */
  NULLOPS_CORS_ORIGINS: z
    .string()
    .optional()
    .transform((v) =>
      (v ?? '')
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean),
    )
    .pipe(
      z.array(z.url({ protocol: /^https?$/, error: 'must list origins such as https://portal.example.com' })),
    ),
};

export type ControlPlaneConfig = ReturnType<typeof loadControlPlaneConfig>;

export function loadControlPlaneConfig(env: NodeJS.ProcessEnv = process.env) {
  const config = loadConfig(controlPlaneConfigShape, env);
  // One without the other would be ignored without a word, and the agent never registered.
  if (config.NULLOPS_AGENT_ADDRESS && !config.NULLOPS_AGENT_TOKEN)
    throw new ConfigError([
      'NULLOPS_AGENT_TOKEN: required with NULLOPS_AGENT_ADDRESS (the token that agent was started with)',
    ]);
  if (config.NULLOPS_AGENT_TOKEN && !config.NULLOPS_AGENT_ADDRESS)
    throw new ConfigError([
      'NULLOPS_AGENT_ADDRESS: required with NULLOPS_AGENT_TOKEN (where that agent listens, host:port)',
    ]);
  return config;
}
