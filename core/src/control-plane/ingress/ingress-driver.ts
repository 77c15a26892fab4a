/** One route: requests for `host` go to `target`. */
export interface IngressRoute {
  host: string;
  target: { host: string; port: number };
  deploymentId: string;
  service: string;
}

/** Something that routes traffic: the built-in proxy, Caddy through its admin API, … */
export interface IngressDriver {
  readonly name: string;
  /** Replaces the whole route table; drivers get the full table every time, never diffs. */
  apply(routes: IngressRoute[]): Promise<void>;
  close?(): Promise<void>;
}
