/** Where the ingress sends a service's traffic: the agent edge of the node that runs it. */
export interface EdgeTarget {
  nodeId: string;
  host: string;
  port: number;
  /** SHA-256 thumbprint of the node's pinned certificate: the ingress verifies it on every connection. */
  thumbprint: string;
  /** The pinned certificate (PEM), for drivers that verify TLS themselves (Caddy). */
  certificate: string | null;
  /** Proves to the agent that a request comes from this control plane's ingress. */
  key: string;
}

/** One route: requests for `host` go to `service` of `deploymentId` through its node's edge. */
export interface IngressRoute {
  host: string;
  deploymentId: string;
  service: string;
  edge: EdgeTarget;
  /** The service is not running (a user stopped it, or it ended): answered 503 saying so, never forwarded. */
  stopped?: boolean;
}

/** What a request for a service that is not running gets, instead of "no service here". */
export function stoppedAnswer(route: IngressRoute): string {
  return `${route.service} at ${route.host} is stopped: start it from its deployment's page (or nullops start <deployment> ${route.service})\n`;
}

/** Something that routes traffic: the built-in proxy, Caddy through its admin API, … */
export interface IngressDriver {
  readonly name: string;
  /** Replaces the whole route table; drivers get the full table every time, never diffs. */
  apply(routes: IngressRoute[]): Promise<void>;
  close?(): Promise<void>;
}
