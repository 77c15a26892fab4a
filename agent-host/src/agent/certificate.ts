import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createSelfSignedIdentity, type TlsIdentity, thumbprintOf } from '@nullops/kernel';

export { thumbprintOf };

export type AgentCertificate = TlsIdentity;

/**
 * The agent's TLS identity: generated on first start (ECDSA P-256, self-signed, 10 years) into the
 * data directory and reused afterwards, so the control plane's pinned thumbprint stays valid.
 * Deleting the files makes a new identity, which the control plane treats as untrusted.
 */
export async function loadOrCreateCertificate(
  dataDir: string,
): Promise<AgentCertificate & { created: boolean }> {
  const certFile = join(dataDir, 'agent.crt');
  const keyFile = join(dataDir, 'agent.key');
  if (existsSync(certFile) && existsSync(keyFile)) {
    const cert = await readFile(certFile, 'utf8');
    return { cert, key: await readFile(keyFile, 'utf8'), thumbprint: thumbprintOf(cert), created: false };
  }
  const { cert, key, thumbprint } = await createSelfSignedIdentity({
    commonName: `nullops-agent ${hostname()}`,
    // A fixed name TLS clients that verify names (Caddy) can check, trusting only this pinned cert.
    dnsName: 'nullops-agent',
    usages: ['serverAuth'],
    validDays: 10 * 365,
  });
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  // Key first, each written whole then renamed: a crash never leaves a cert without its key.
  await writeFile(`${keyFile}.tmp`, key, { mode: 0o600 });
  await rename(`${keyFile}.tmp`, keyFile);
  await writeFile(`${certFile}.tmp`, cert, { mode: 0o644 });
  await rename(`${certFile}.tmp`, certFile);
  return { cert, key, thumbprint, created: true };
}
