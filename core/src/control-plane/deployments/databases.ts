/**
 * The PostgreSQL databases a pipeline starts: its `postgres.database` nodes, with the component's
 * defaults applied (service `db`, database and user `app`). What backup and restore work on.
 */
export function databasesIn(graph: unknown): { service: string; database: string; user: string }[] {
  const nodes = ((graph as { nodes?: unknown[] } | null)?.nodes ?? []) as {
    type: string;
    params?: Record<string, unknown>;
  }[];
  return nodes
    .filter((n) => n.type === 'postgres.database')
    .map((n) => ({
      service: String(n.params?.service ?? 'db'),
      database: String(n.params?.database ?? 'app'),
      user: String(n.params?.user ?? 'app'),
    }));
}
