import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

/** A listener's certificate chain and private key, as PEM bytes Node's TLS takes. */
export interface TlsIdentity {
  readonly cert: Buffer;
  readonly key: Buffer;
}

export type TlsAttribute = 'tls-cert' | 'tls-key';

/**
 * Reads and checks a listener's PEM files, the same way at start (a config error) and on `SIGHUP` (a reload that
 * keeps the old identity when the new one is bad): each file readable, PEM of the right kind, the key the one the
 * certificate was issued for. `fail` makes the error, told which attribute is at fault.
 */
export function readTlsIdentity(paths: { readonly certPath: string; readonly keyPath: string }, fail: (attribute: TlsAttribute, message: string) => Error): TlsIdentity {
  const cert = readPem(paths.certPath, 'tls-cert', fail);
  const key = readPem(paths.keyPath, 'tls-key', fail);
  if (!/-----BEGIN CERTIFICATE-----/.test(cert.toString('latin1'))) {
    throw fail('tls-cert', `${paths.certPath} holds no PEM certificate ("-----BEGIN CERTIFICATE-----")`);
  }
  if (!/-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/.test(key.toString('latin1'))) {
    throw fail('tls-key', `${paths.keyPath} holds no PEM private key ("-----BEGIN PRIVATE KEY-----")`);
  }
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (err) {
    throw fail('tls-cert', `${paths.certPath} is not a certificate Node can read: ${(err as Error).message}`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    const encrypted = /ENCRYPTED/.test(key.toString('latin1'));
    throw fail('tls-key', `${paths.keyPath} is not a private key Node can read${encrypted ? ' (it is encrypted: give the key without a passphrase)' : ''}: ${(err as Error).message}`);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw fail('tls-key', `${paths.keyPath} is not the key of the certificate in ${paths.certPath}`);
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw fail('tls-cert', `Node's TLS refuses the certificate and key: ${(err as Error).message}`);
  }
  return { cert, key };
}

function readPem(path: string, attribute: TlsAttribute, fail: (attribute: TlsAttribute, message: string) => Error): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw fail(attribute, `cannot read ${path}: ${reason}`);
  }
}
