import type { Runtime } from '@nullops/plugin-sdk';

/**
 * A PostgreSQL database of a deployment, dumped and restored through the runtime's exec (the
 * same on Docker and Kubernetes): `pg_dump` inside the database's own container, gzipped, moved in
 * base64 pieces that fit an exec's output or argument limits. Names reach the shell only as
 * positional parameters, never inside the script; the password is the container's own
 * POSTGRES_PASSWORD (the official image's contract), so it never travels for this.
 */

/** The largest dump that travels in one protocol message (base64). */
export const MAX_DUMP_BASE64 = 12 * 1024 * 1024;
const READ_CHUNK = 512 * 1024;
const WRITE_CHUNK = 96 * 1024;
const DUMP = '/tmp/nullops-dump.gz';
const RESTORE = '/tmp/nullops-restore.b64';

export interface DatabaseTarget {
  deploymentId: string;
  service: string;
  database: string;
  user: string;
}

async function run(runtime: Runtime, t: DatabaseTarget, script: string, args: string[], timeoutMs: number) {
  const result = await runtime.exec(
    t.deploymentId,
    t.service,
    ['sh', '-c', script, 'sh', ...args],
    timeoutMs,
  );
  if (result.exitCode !== 0)
    throw new Error(`exit ${result.exitCode}: ${result.output.trim().split('\n').slice(-3).join(' | ')}`);
  return result.output;
}

export async function dumpDatabase(
  runtime: Runtime,
  t: DatabaseTarget,
): Promise<{ dump: string; bytes: number }> {
  try {
    await run(
      runtime,
      t,
      `PGPASSWORD="$POSTGRES_PASSWORD" pg_dump -U "$1" -d "$2" --clean --if-exists --no-owner --no-privileges | gzip > ${DUMP}`,
      [t.user, t.database],
      10 * 60_000,
    );
    const bytes = Number((await run(runtime, t, `wc -c < ${DUMP}`, [], 10_000)).trim());
    if (bytes * 1.34 > MAX_DUMP_BASE64)
      throw new Error(
        `the dump is ${Math.round(bytes / 1048576)} MiB compressed; backups are limited to ${Math.floor(MAX_DUMP_BASE64 / 1.34 / 1048576)} MiB`,
      );
    const pieces: string[] = [];
    for (let block = 0; block * READ_CHUNK < bytes; block++)
      pieces.push(
        (
          await run(
            runtime,
            t,
            `dd if=${DUMP} bs=${READ_CHUNK} skip="$1" count=1 2>/dev/null | base64 | tr -d '\\n'`,
            [String(block)],
            60_000,
          )
        ).trim(),
      );
    // Each piece decodes on its own: a 512 KiB block is no multiple of 3 bytes, so pieces end padded.
    const dump = Buffer.concat(pieces.map((p) => Buffer.from(p, 'base64')));
    if (dump.length !== bytes) throw new Error(`read ${dump.length} of ${bytes} bytes of the dump`);
    return { dump: dump.toString('base64'), bytes };
  } finally {
    await runtime.exec(t.deploymentId, t.service, ['rm', '-f', DUMP], 10_000).catch(() => {});
  }
}

/** Replaces the database's contents with the dump (its objects dropped first), in one transaction. */
export async function restoreDatabase(runtime: Runtime, t: DatabaseTarget, dump: string): Promise<void> {
  try {
    await run(runtime, t, `: > ${RESTORE}`, [], 10_000);
    for (let at = 0; at < dump.length; at += WRITE_CHUNK)
      await run(runtime, t, `printf %s "$1" >> ${RESTORE}`, [dump.slice(at, at + WRITE_CHUNK)], 60_000);
    await run(
      runtime,
      t,
      `base64 -d ${RESTORE} | gunzip | PGPASSWORD="$POSTGRES_PASSWORD" psql -q -v ON_ERROR_STOP=1 --single-transaction -U "$1" -d "$2" > /dev/null`,
      [t.user, t.database],
      10 * 60_000,
    );
  } finally {
    await runtime.exec(t.deploymentId, t.service, ['rm', '-f', RESTORE], 10_000).catch(() => {});
  }
}
