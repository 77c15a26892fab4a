import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const FORMAT = 'nx1';
/** Files (backups) start with this, then the key id's length, the key id and the IV. */
const FILE_FORMAT = Buffer.from('NXF1', 'ascii');
/** Enough of a file's first bytes to read its header (format, id of at most 16 bytes, IV). */
export const FILE_HEADER_MAX = 4 + 1 + 16 + 12;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Raised when a ciphertext cannot be opened: wrong key, wrong row, or tampered bytes. */
export class SecretDecryptionError extends Error {
  constructor(reason: string) {
    super(`cannot decrypt secret: ${reason}`);
    this.name = 'SecretDecryptionError';
  }
}

export interface SecretKey {
  /** Short id written into every ciphertext, so old keys keep working after a rotation. */
  id: string;
  key: Buffer;
}

/**
 * Parses `NULLOPS_SECRET_KEY`: either one key (base64 or hex of 32 bytes, id `1`), or a
 * comma-separated list `id:key,id:key` whose first entry is the current key and the rest are old
 * keys still accepted for decryption.
 */
export function parseSecretKeys(value: string): SecretKey[] {
  const entries = value.split(',').map((entry) => entry.trim());
  const keys = entries.map((entry, index) => {
    const colon = entry.indexOf(':');
    const id = colon > 0 ? entry.slice(0, colon) : String(entries.length - index);
    const material = colon > 0 ? entry.slice(colon + 1) : entry;
    if (!/^[A-Za-z0-9_-]{1,16}$/.test(id))
      throw new Error(`key id "${id}" must be 1-16 letters, digits, - or _`);
    const key = /^[0-9a-fA-F]{64}$/.test(material)
      ? Buffer.from(material, 'hex')
      : Buffer.from(material, 'base64');
    if (key.length !== 32) throw new Error(`key "${id}" must be 32 bytes, given as 64 hex digits or base64`);
    return { id, key };
  });
  if (new Set(keys.map((k) => k.id)).size !== keys.length) throw new Error('key ids must be unique');
  return keys;
}

/**
 * AES-256-GCM envelope for secrets at rest. Each ciphertext is
 * `nx1:<key id>:<iv>:<tag>:<ciphertext>` (base64url parts) and is bound to a *context* string,
 * e.g. `secret:<row id>`, passed as associated data: a ciphertext copied into another row fails
 * to decrypt instead of revealing its value there.
 */
export class SecretBox {
  private readonly keys: Map<string, Buffer>;
  private readonly current: SecretKey;

  constructor(keys: SecretKey[]) {
    const [current] = keys;
    if (!current) throw new Error('at least one secret key is required');
    this.current = current;
    this.keys = new Map(keys.map((k) => [k.id, k.key]));
  }

  /** Id of the key new ciphertexts are written with. */
  get currentKeyId(): string {
    return this.current.id;
  }

  encrypt(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const parts = [iv, cipher.getAuthTag(), data].map((b) => b.toString('base64url'));
    return [FORMAT, this.current.id, ...parts].join(':');
  }

  decrypt(ciphertext: string, context: string): string {
    const [format, keyId, iv, tag, data, extra] = ciphertext.split(':');
    if (format !== FORMAT || !keyId || iv === undefined || tag === undefined || data === undefined || extra) {
      throw new SecretDecryptionError('unknown format');
    }
    const key = this.keys.get(keyId);
    if (!key) throw new SecretDecryptionError(`key "${keyId}" is not configured`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), {
        authTagLength: TAG_BYTES,
      });
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      throw new SecretDecryptionError('authentication failed (wrong key, wrong record or tampered data)');
    }
  }

  /**
   * A stream cipher for a file (a backup): AES-256-GCM with the current key, bound to `context`.
   * The file is `header` (format, key id, IV) + ciphertext + the 16-byte tag the cipher gives at
   * the end.
   */
  fileCipher(context: string): { header: Buffer; cipher: import('node:crypto').CipherGCM } {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const id = Buffer.from(this.current.id, 'utf8');
    return { header: Buffer.concat([FILE_FORMAT, Buffer.from([id.length]), id, iv]), cipher };
  }

  /**
   * The decipher for a file `fileCipher` wrote, from its first bytes (at least FILE_HEADER_MAX) and
   * its tag (its last 16 bytes); `headerBytes` says where the ciphertext starts.
   */
  fileDecipher(
    head: Buffer,
    tag: Buffer,
    context: string,
  ): { decipher: import('node:crypto').DecipherGCM; headerBytes: number } {
    if (!head.subarray(0, FILE_FORMAT.length).equals(FILE_FORMAT))
      throw new SecretDecryptionError('not a file this control plane encrypted');
    const idLength = head[FILE_FORMAT.length] ?? 0;
    const idStart = FILE_FORMAT.length + 1;
    const keyId = head.subarray(idStart, idStart + idLength).toString('utf8');
    const key = this.keys.get(keyId);
    if (!key) throw new SecretDecryptionError(`key "${keyId}" is not configured`);
    const iv = head.subarray(idStart + idLength, idStart + idLength + IV_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(tag);
    return { decipher, headerBytes: idStart + idLength + IV_BYTES };
  }

  /** True when the ciphertext was written with an older key and should be re-encrypted. */
  needsRotation(ciphertext: string): boolean {
    return ciphertext.split(':')[1] !== this.current.id;
  }
}
