import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export interface Credentials {
  url: string;
  token: string;
}

/** `$XDG_CONFIG_HOME/nullops/config.json` (default `~/.config`), readable by its owner only. */
export function configPath(): string {
  return join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'nullops', 'config.json');
}

export async function saveCredentials(credentials: Credentials): Promise<string> {
  const path = configPath();
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
  return path;
}

/** NULLOPS_URL and NULLOPS_TOKEN (CI) win over what `nullops login` stored. */
export async function loadCredentials(): Promise<Credentials> {
  let stored: Partial<Credentials> = {};
  try {
    stored = JSON.parse(await readFile(configPath(), 'utf8'));
  } catch {
    // Not logged in: the environment may still have it all.
  }
  const url = process.env.NULLOPS_URL || stored.url;
  const token = process.env.NULLOPS_TOKEN || stored.token;
  if (!url || !token)
    throw new UsageError(
      'not logged in: run `nullops login <url>`, or set NULLOPS_URL and NULLOPS_TOKEN (an API token)',
    );
  return { url: url.replace(/\/+$/, ''), token };
}

/** A mistake of the caller: said plainly, exit code 2. */
export class UsageError extends Error {}
