import { createHash, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/** A TLS identity: a certificate, its key (PEM) and the thumbprint a peer pins. */
export interface TlsIdentity {
  cert: string;
  key: string;
  /** SHA-256 of the DER certificate, as `AA:BB:…`: the format Node reports as `fingerprint256`. */
  thumbprint: string;
}

/** The thumbprint of a PEM certificate, in the format Node reports as `fingerprint256`. */
export function thumbprintOf(pem: string): string {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)?.join(':') ?? '';
}

/**
 * A self-signed ECDSA P-256 certificate and its key. Peers trust it by its pinned thumbprint, never
 * by a CA; `dnsName` is a fixed name for TLS clients that insist on checking one.
 */
export async function createSelfSignedIdentity(options: {
  commonName: string;
  dnsName: string;
  usages: ('serverAuth' | 'clientAuth')[];
  validDays: number;
}): Promise<TlsIdentity> {
  x509.cryptoProvider.set(webcrypto as never);
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const now = Date.now();
  const generated = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)))
      .toString('hex')
      .replace(/^[89a-f]/, '1'),
    name: `CN=${options.commonName}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + options.validDays * 86400_000),
    signingAlgorithm: algorithm,
    keys: keys as never,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(options.usages.map((u) => x509.ExtendedKeyUsage[u])),
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: options.dnsName }]),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const key = `-----BEGIN PRIVATE KEY-----\n${Buffer.from(pkcs8)
    .toString('base64')
    .match(/.{1,64}/g)
    ?.join('\n')}\n-----END PRIVATE KEY-----\n`;
  const cert = generated.toString('pem');
  return { cert, key, thumbprint: thumbprintOf(cert) };
}
