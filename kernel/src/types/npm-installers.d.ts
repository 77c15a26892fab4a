// Just the parts of pacote and @npmcli/arborist that the plugin store uses (neither ships types).
declare module 'pacote' {
  export interface FetchResult {
    from: string;
    resolved: string;
    integrity: string;
  }
  export interface Manifest {
    name: string;
    version: string;
    _resolved: string;
    _integrity: string;
    dependencies?: Record<string, string>;
    nullops?: unknown;
  }
  export function manifest(spec: string, opts?: Record<string, unknown>): Promise<Manifest>;
  export function extract(spec: string, dest: string, opts?: Record<string, unknown>): Promise<FetchResult>;
}

declare module '@npmcli/arborist' {
  export default class Arborist {
    constructor(options: Record<string, unknown>);
    reify(options?: Record<string, unknown>): Promise<unknown>;
  }
}
