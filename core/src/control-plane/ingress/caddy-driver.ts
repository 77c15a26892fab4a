import { AGENT_EDGE_HEADERS, UnavailableError } from '@nullops/plugin-sdk';
import { type IngressDriver, type IngressRoute, stoppedAnswer } from './ingress-driver.js';

/** The name every agent certificate carries (SAN), so a TLS client can verify it by pinning. */
export const AGENT_TLS_NAME = 'nullops-agent';

/** How NullOps uses a Caddy: its admin API, where it listens, and what else it serves. */
export interface CaddyOptions {
  adminUrl: string;
  /** Where it serves plain HTTP (without `https`). */
  listen: string;
  /** The web UI and API through Caddy too: people's host for NullOps, and where Caddy reaches it. */
  ui?: { host: string; upstream: string };
  /**
   * HTTPS for every host it serves, with certificates Caddy obtains and renews itself (Let's
   * Encrypt, or its own CA for trials and tests); plain HTTP then only redirects.
   */
  https?: { issuer: 'acme' | 'internal'; email?: string };
}

/**
 * Production ingress through Caddy's admin API: every change loads a complete configuration (one
 * route per host, then a 404 for everything else — Caddy would otherwise answer unknown hosts with
 * an empty 200). Replacing the whole config avoids drift and duplicate route ids. Each route goes
 * to the node's agent edge over TLS trusting only the node's pinned certificate, with the edge
 * headers (set, so a client cannot supply its own).
 */
export class CaddyDriver implements IngressDriver {
  readonly name = 'caddy';
  private readonly adminUrl: string;

  constructor(private readonly options: CaddyOptions) {
    this.adminUrl = options.adminUrl;
  }

  config(routes: IngressRoute[]) {
    const { ui, https } = this.options;
    return {
      admin: { listen: new URL(this.adminUrl).host, config: { persist: false } },
      apps: {
        ...(https ? { tls: { automation: { policies: [{ issuers: [issuer(https)] }] } } } : {}),
        http: {
          servers: {
            nullops: {
              listen: [https ? ':443' : this.options.listen],
              // Below the agent edge's 16 KiB, so a request that passes reaches it whole.
              max_header_bytes: 12 * 1024,
              ...(https ? {} : { automatic_https: { disable: true } }),
              routes: [
                ...(ui
                  ? [
                      {
                        match: [{ host: [ui.host] }],
                        handle: [{ handler: 'reverse_proxy', upstreams: [{ dial: ui.upstream }] }],
                        terminal: true,
                      },
                    ]
                  : []),
                ...routes
                  .filter((r) => r.stopped)
                  .map((r) => ({
                    match: [{ host: [r.host] }],
                    handle: [{ handler: 'static_response', status_code: 503, body: stoppedAnswer(r) }],
                    terminal: true,
                  })),
                ...routes
                  .filter((r) => !r.stopped && r.edge.certificate)
                  .map((r) => ({
                    match: [{ host: [r.host] }],
                    handle: [
                      {
                        handler: 'reverse_proxy',
                        upstreams: [{ dial: `${r.edge.host}:${r.edge.port}` }],
                        headers: {
                          request: {
                            set: {
                              [AGENT_EDGE_HEADERS.target]: [`${r.deploymentId}/${r.service}`],
                              [AGENT_EDGE_HEADERS.key]: [r.edge.key],
                            },
                          },
                        },
                        transport: {
                          protocol: 'http',
                          tls: {
                            root_ca_pool: [derOf(r.edge.certificate as string)],
                            server_name: AGENT_TLS_NAME,
                          },
                        },
                      },
                    ],
                    terminal: true,
                  })),
                {
                  handle: [
                    {
                      handler: 'static_response',
                      status_code: 404,
                      body: 'no NullOps service at {http.request.host}\n',
                    },
                  ],
                },
              ],
            },
          },
        },
      },
    };
  }

  async apply(routes: IngressRoute[]): Promise<void> {
    let res: Response;
    try {
      res = await fetch(`${this.adminUrl}/load`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(this.config(routes)),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (err) {
      throw new UnavailableError(
        `Caddy's admin API at ${this.adminUrl} is unreachable: ${(err as Error).message}`,
      );
    }
    if (!res.ok)
      throw new UnavailableError(
        `Caddy refused the configuration (HTTP ${res.status}): ${(await res.text()).slice(0, 300)}`,
      );
  }
}

function issuer(https: NonNullable<CaddyOptions['https']>) {
  return https.issuer === 'internal'
    ? { module: 'internal' }
    : { module: 'acme', ...(https.email ? { email: https.email } : {}) };
}

/** A PEM certificate's DER bytes, base64 (the form Caddy's `root_ca_pool` takes). */
function derOf(pem: string): string {
  return pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
}
