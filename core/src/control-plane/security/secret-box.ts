import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const FORMAT = 'nx1';
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

  /** True when the ciphertext was written with an older key and should be re-encrypted. */
  needsRotation(ciphertext: string): boolean {
    return ciphertext.split(':')[1] !== this.current.id;
  }
}
