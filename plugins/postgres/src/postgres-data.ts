import { randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { DataContext, RestoreReport } from '@nullops/plugin-sdk';
import { sanitizeDump } from './dump-sanitizer.js';

/**
 * Backup and restore of a `postgres.database` node, through the runtime's exec (the same on Docker
 * and Kubernetes): `pg_dump` inside the database's own container, gzipped, moved in base64 pieces
 * that fit an exec's output or argument limits. Names reach the shell only as positional
 * parameters, never inside the script; the superuser's password is the container's own
 * POSTGRES_PASSWORD (the official image's contract), so it never travels for this.
 *
 * A restore may bring another deployment's dump, which its users could have made say anything:
 * it is sanitized (dump-sanitizer.ts) and then run by `nullops_restore`, a role that owns the
 * database's objects and nothing more — no superuser, so neither an event trigger nor a
 * `COPY … PROGRAM` that slipped through can run, and nothing can switch back to a superuser.
 */

/** The largest archive a backup keeps (compressed), and what a restore reads out of one. */
export const MAX_ARCHIVE_BYTES = 9 * 1024 * 1024;
const MAX_SQL_BYTES = 256 * 1024 * 1024;
const READ_CHUNK = 512 * 1024;
const WRITE_CHUNK = 96 * 1024;
const DUMP = '/tmp/nullops-dump.gz';
const RESTORE = '/tmp/nullops-restore.b64';
const RESTORE_ROLE = 'nullops_restore';

export interface DatabaseParams {
  service: string;
  database: string;
  user: string;
}

async function run(ctx: DataContext, p: DatabaseParams, script: string, args: string[], timeoutMs: number) {
  const result = await ctx.runtime.exec(
    ctx.deployment.id,
    p.service,
    ['sh', '-c', script, 'sh', ...args],
    timeoutMs,
  );
  if (result.exitCode !== 0)
    throw new Error(`exit ${result.exitCode}: ${result.output.trim().split('\n').slice(-3).join(' | ')}`);
  return result.output;
}

/** As the database's superuser (the image's POSTGRES_USER), a script of ours: never a dump's. */
const asSuperuser = (ctx: DataContext, p: DatabaseParams, sql: string) =>
  run(
    ctx,
    p,
    'PGPASSWORD="$POSTGRES_PASSWORD" psql -X -q -v ON_ERROR_STOP=1 -U "$1" -d "$2" -c "$3" > /dev/null',
    [p.user, p.database, sql],
    60_000,
  );

export async function backupDatabase(ctx: DataContext, p: DatabaseParams): Promise<Uint8Array> {
  try {
    await run(
      ctx,
      p,
      `PGPASSWORD="$POSTGRES_PASSWORD" pg_dump -U "$1" -d "$2" --clean --if-exists --no-owner --no-privileges | gzip > ${DUMP}`,
      [p.user, p.database],
      10 * 60_000,
    );
    const bytes = Number((await run(ctx, p, `wc -c < ${DUMP}`, [], 10_000)).trim());
    if (bytes > MAX_ARCHIVE_BYTES)
      throw new Error(
        `the dump is ${Math.round(bytes / 1048576)} MiB compressed; backups are limited to ${MAX_ARCHIVE_BYTES / 1048576} MiB`,
      );
    const pieces: Buffer[] = [];
    for (let block = 0; block * READ_CHUNK < bytes; block++) {
      ctx.signal.throwIfAborted();
      const piece = await run(
        ctx,
        p,
        `dd if=${DUMP} bs=${READ_CHUNK} skip="$1" count=1 2>/dev/null | base64 | tr -d '\\n'`,
        [String(block)],
        60_000,
      );
      // Each piece decodes on its own: a 512 KiB block is no multiple of 3 bytes, so pieces end padded.
      pieces.push(Buffer.from(piece.trim(), 'base64'));
    }
    const archive = Buffer.concat(pieces);
    if (archive.length !== bytes) throw new Error(`read ${archive.length} of ${bytes} bytes of the dump`);
    return archive;
  } finally {
    await ctx.runtime.exec(ctx.deployment.id, p.service, ['rm', '-f', DUMP], 10_000).catch(() => {});
  }
}

/**
 * Replaces the database's contents with the archive's, in one transaction, as the restore role
 * (see the module's description); says what the sanitizer took out.
 */
export async function restoreDatabase(
  ctx: DataContext,
  p: DatabaseParams,
  archive: Uint8Array,
): Promise<RestoreReport> {
  let sql: string;
  try {
    sql = gunzipSync(archive, { maxOutputLength: MAX_SQL_BYTES }).toString('utf8');
  } catch (err) {
    throw new Error(`the backup is not a gzipped dump this plugin made: ${(err as Error).message}`);
  }
  const sanitized = sanitizeDump(sql);
  for (const line of sanitized.notes) ctx.log(`from the backup: ${line}`);
  const payload = gzipSync(Buffer.from(sanitized.sql, 'utf8')).toString('base64');
  const password = randomBytes(24).toString('hex');
  try {
    // The restore role (a login for this restore only) owns the database and, so that the dump's
    // DROP … IF EXISTS can replace them, every object now in it; it is no superuser.
    await asSuperuser(ctx, p, rolePrelude(p.database, password));
    await run(ctx, p, `: > ${RESTORE}`, [], 10_000);
    for (let at = 0; at < payload.length; at += WRITE_CHUNK) {
      ctx.signal.throwIfAborted();
      await run(ctx, p, `printf %s "$1" >> ${RESTORE}`, [payload.slice(at, at + WRITE_CHUNK)], 60_000);
    }
    await run(
      ctx,
      p,
      `base64 -d ${RESTORE} | gunzip | PGPASSWORD="$3" psql -X -q -v ON_ERROR_STOP=1 --single-transaction -U "$1" -d "$2" > /dev/null`,
      [RESTORE_ROLE, p.database, password],
      10 * 60_000,
    );
  } finally {
    await ctx.runtime.exec(ctx.deployment.id, p.service, ['rm', '-f', RESTORE], 10_000).catch(() => {});
    await asSuperuser(ctx, p, `ALTER ROLE ${RESTORE_ROLE} NOLOGIN PASSWORD NULL`).catch(() => {});
  }
  return { notes: sanitized.notes };
}

/**
 * As the superuser: the restore role exists (no superuser, no role or database creation), may log
 * in with this restore's password, owns the database and every object of its own schemas (not
 * those of extensions or the system), so the dump's drops and creates work and nothing more does.
 */
function rolePrelude(database: string, password: string): string {
  const role = RESTORE_ROLE;
  return `DO $nullops$
DECLARE r record;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}') THEN
    CREATE ROLE ${role} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
  END IF;
  ALTER ROLE ${role} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS LOGIN PASSWORD '${password}';
  EXECUTE format('ALTER DATABASE %I OWNER TO ${role}', '${database.replace(/'/g, "''")}');
  FOR r IN SELECT n.nspname FROM pg_namespace n
    WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = n.oid AND d.deptype = 'e') LOOP
    EXECUTE format('ALTER SCHEMA %I OWNER TO ${role}', r.nspname);
  END LOOP;
  FOR r IN SELECT c.oid::regclass AS name, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' AND c.relkind IN ('r','p','v','m','S','f')
      -- a serial or identity sequence goes with its table; extension members stay the extension's
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))
    ORDER BY c.relkind = 'S' LOOP
    EXECUTE format('ALTER %s %s OWNER TO ${role}',
      CASE r.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
        WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, r.name);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS name, p.prokind FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') LOOP
    EXECUTE format('ALTER %s %s OWNER TO ${role}', CASE r.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, r.name);
  END LOOP;
  FOR r IN SELECT t.oid::regtype AS name FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' AND t.typtype IN ('e','d','c')
      AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = t.oid AND d.deptype = 'e') LOOP
    EXECUTE format('ALTER TYPE %s OWNER TO ${role}', r.name);
  END LOOP;
END $nullops$`;
}
