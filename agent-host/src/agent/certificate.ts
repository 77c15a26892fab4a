import 'reflect-metadata';
import { createHash, webcrypto } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

export interface AgentCertificate {
  cert: string;
  key: string;
  /** SHA-256 of the DER certificate, as `AA:BB:…`: what the control plane pins. */
  thumbprint: string;
}

/** The thumbprint format Node reports as `fingerprint256`, from a PEM certificate. */
export function thumbprintOf(pem: string): string {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)?.join(':') ?? '';
}

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
  x509.cryptoProvider.set(webcrypto as never);
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const now = new Date();
  const generated = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)))
      .toString('hex')
      .replace(/^[89a-f]/, '1'),
    name: `CN=nullops-agent ${hostname()}`,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + 10 * 365 * 86400_000),
    signingAlgorithm: algorithm,
    keys: keys as never,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      // A fixed name TLS clients that verify names (Caddy) can check, trusting only this pinned cert.
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'nullops-agent' }]),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const key = `-----BEGIN PRIVATE KEY-----\n${Buffer.from(pkcs8)
    .toString('base64')
    .match(/.{1,64}/g)
    ?.join('\n')}\n-----END PRIVATE KEY-----\n`;
  const cert = generated.toString('pem');
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  // Key first, each written whole then renamed: a crash never leaves a cert without its key.
  await writeFile(`${keyFile}.tmp`, key, { mode: 0o600 });
  await rename(`${keyFile}.tmp`, keyFile);
  await writeFile(`${certFile}.tmp`, cert, { mode: 0o644 });
  await rename(`${certFile}.tmp`, certFile);
  return { cert, key, thumbprint: thumbprintOf(cert), created: true };
}
