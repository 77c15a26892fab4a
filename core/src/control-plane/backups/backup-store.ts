import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { inject, injectable } from '@nullops/kernel';
import type { ControlPlaneConfig } from '../config.js';
import { Refs } from '../refs.js';
import { FILE_HEADER_MAX, type SecretBox } from '../security/secret-box.js';

/** The file of one backup, and what says it is intact. */
export interface StoredBackup {
  file: string;
  /** Bytes of the archive (before encryption). */
  bytes: number;
  /** SHA-256 of the archive. */
  sha256: string;
}

const TAG_BYTES = 16;

/**
 * Backup files, kept by the control plane under `NULLOPS_BACKUP_DIR/<project>/<backup>.bak`:
 * encrypted at rest with the secret key (AES-256-GCM, streamed, bound to the backup's id, so a
 * file moved to another backup's name fails to open), written to a temporary name and renamed.
 * The database (and so a copy of it) alone cannot read one.
 */
@injectable()
export class BackupStore {
  readonly dir: string;

  constructor(
    @inject(Refs.config) config: ControlPlaneConfig,
    @inject(Refs.secretBox) private readonly box: SecretBox,
  ) {
    this.dir = resolve(config.NULLOPS_BACKUP_DIR ?? join(config.NULLOPS_DATA_DIR, 'backups'));
  }

  async write(projectId: string, backupId: string, archive: Uint8Array): Promise<StoredBackup> {
    const dir = join(this.dir, projectId);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, `${backupId}.bak`);
    const temp = `${file}.partial`;
    const { header, cipher } = this.box.fileCipher(contextOf(backupId));
    const out = createWriteStream(temp, { mode: 0o600 });
    out.write(header);
    await pipeline(Readable.from([Buffer.from(archive)]), cipher, out, { end: false });
    await new Promise<void>((done, fail) => out.end(cipher.getAuthTag(), () => done()).once('error', fail));
    await rename(temp, file);
    return { file, bytes: archive.length, sha256: createHash('sha256').update(archive).digest('hex') };
  }

  /** The archive, decrypted (plain files of older versions read as they are), checked against `sha256`. */
  async read(backup: { id: string; file: string; sha256: string; encrypted: boolean }): Promise<Buffer> {
    let archive: Buffer;
    if (!backup.encrypted) archive = await readAll(createReadStream(backup.file));
    else {
      const size = (await stat(backup.file)).size;
      const handle = await open(backup.file, 'r');
      const head = Buffer.alloc(Math.min(FILE_HEADER_MAX, size));
      const tag = Buffer.alloc(TAG_BYTES);
      try {
        await handle.read(head, 0, head.length, 0);
        await handle.read(tag, 0, TAG_BYTES, size - TAG_BYTES);
      } finally {
        await handle.close();
      }
      const { decipher, headerBytes } = this.box.fileDecipher(head, tag, contextOf(backup.id));
      const chunks: Buffer[] = [];
      await pipeline(
        createReadStream(backup.file, { start: headerBytes, end: size - TAG_BYTES - 1 }),
        decipher,
        new Writable({
          write(chunk, _encoding, done) {
            chunks.push(chunk);
            done();
          },
        }),
      ).catch((err) => {
        throw new Error(`the backup file could not be decrypted (${(err as Error).message})`);
      });
      archive = Buffer.concat(chunks);
    }
    if (createHash('sha256').update(archive).digest('hex') !== backup.sha256)
      throw new Error(`the backup file ${backup.file} is not what was stored (checksum differs)`);
    return archive;
  }

  async remove(file: string): Promise<void> {
    await rm(file, { force: true });
  }

  /** Every file of a project (it was deleted). */
  async removeProject(projectId: string): Promise<void> {
    await rm(join(this.dir, projectId), { recursive: true, force: true });
  }
}

const contextOf = (backupId: string) => `backup:${backupId}`;

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
