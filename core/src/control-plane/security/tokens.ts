import { createHash, randomBytes } from 'node:crypto';

export { constantTimeEqual } from '@nullops/kernel';

/** A random token with 256 bits of entropy and a readable prefix saying what it is. */
export function generateToken(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

/**
 * SHA-256 of a token. Tokens are long random strings, so a fast hash is enough (no dictionary to
 * attack), and it allows lookup by hash.
 */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
