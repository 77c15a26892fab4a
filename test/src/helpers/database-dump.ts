import type { Database } from '@nullops/core';

/** Every row of every table of the public schema as JSON text: what a database dump would reveal. */
export async function dumpDatabase(db: Database): Promise<string> {
  const tables: { tablename: string }[] = await db('pg_tables')
    .where('schemaname', 'public')
    .select('tablename');
  const parts: string[] = [];
  for (const { tablename } of tables) {
    const { rows } = await db.raw(`select coalesce(json_agg(t)::text, '') as dump from "${tablename}" t`);
    parts.push(`${tablename}: ${rows[0].dump}`);
  }
  return parts.join('\n');
}

/** A fingerprint of the data in every table except those that change on every request. */
export async function fingerprint(
  db: Database,
  // The outbox is a queue of effects, emptied as they run: callers check it on its own. Replicas
  // and their leases beat on their own; sign-in throttles count refused attempts on purpose.
  skip = [
    'audit_events',
    'sessions',
    'api_tokens',
    'outbox',
    'control_plane_replicas',
    'node_link_leases',
    'login_throttle_users',
    'login_throttle_addresses',
  ],
): Promise<string> {
  const tables: { tablename: string }[] = await db('pg_tables')
    .where('schemaname', 'public')
    .select('tablename');
  const selects = tables
    .map((t) => t.tablename)
    .filter((t) => !skip.includes(t))
    .sort()
    .map(
      (t) =>
        `select '${t}' as t, coalesce(md5(string_agg(x::text, '|' order by x::text)), '-') as h from "${t}" x`,
    );
  const { rows } = await db.raw(selects.join(' union all '));
  return rows
    .map((r: { t: string; h: string }) => `${r.t}:${r.h}`)
    .sort()
    .join(',');
}
