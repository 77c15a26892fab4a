import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Database } from './database/database.js';
import { User } from './models/identity.js';
import { hashPassword } from './security/passwords.js';
import { parseSecretKeys, type SecretKey } from './security/secret-box.js';

/**
 * On the very first start (no users at all) creates the `admin` account. Its password comes from
 * `NULLOPS_ADMIN_PASSWORD`, or is generated and returned so the caller prints it once.
 */
export async function ensureFirstAdmin(
  db: Database,
  configured: string | undefined,
): Promise<{ created: boolean; generatedPassword?: string }> {
  return db.transaction(async (trx) => {
    // An advisory lock keeps two control planes starting together from both creating an admin.
    await trx.raw('select pg_advisory_xact_lock(727001)');
    if ((await User.query(trx).resultSize()) > 0) return { created: false };
    const password = configured ?? randomBytes(18).toString('base64url');
    await User.query(trx).insert({
      id: randomUUID(),
      username: 'admin',
      displayName: 'Administrator',
      role: 'admin',
      passwordHash: await hashPassword(password),
    });
    return configured ? { created: true } : { created: true, generatedPassword: password };
  });
}

/**
 * The secret-encryption keys: from `NULLOPS_SECRET_KEY` when set, else a key generated once into
 * the data directory (fine for one machine; production sets the variable and keeps it elsewhere,
 * so that the database alone cannot decrypt anything).
 */
export async function loadSecretKeys(
  configured: string | undefined,
  dataDir: string,
  logger: Logger,
): Promise<SecretKey[]> {
  if (configured) {
    try {
      return parseSecretKeys(configured);
    } catch (err) {
      throw new Error(`NULLOPS_SECRET_KEY: ${(err as Error).message}`);
    }
  }
  const file = join(resolve(dataDir), 'secret.key');
  if (!existsSync(file)) {
    await mkdir(resolve(dataDir), { recursive: true, mode: 0o755 });
    await writeFile(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    logger.warn(
      { file },
      'NULLOPS_SECRET_KEY is not set: generated a key in the data directory; set the variable in production',
    );
  }
  return parseSecretKeys((await readFile(file, 'utf8')).trim());
}
