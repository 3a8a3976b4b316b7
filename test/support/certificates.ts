import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCertificate {
  readonly certPath: string;
  readonly keyPath: string;
  /** The certificate (PEM): what a client is told to trust. */
  readonly cert: Buffer;
}

/** A self-signed certificate for `localhost` and 127.0.0.1, made by Debian's openssl in a directory of its own. */
export function selfSignedCertificate(commonName = 'localhost'): TestCertificate {
  const dir = mkdtempSync(join(tmpdir(), 'slimproxy-tls-'));
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', `/CN=${commonName}`, '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', keyPath, '-out', certPath,
  ], { stdio: 'ignore' });
  return { certPath, keyPath, cert: readFileSync(certPath) };
}

/** A TLS listener (loopback, ephemeral port) with this certificate, to put next to a test config's plain one. */
export function tlsListener(certificate: TestCertificate, attributes = ''): string {
  return `<listen address="127.0.0.1" port="0" tls-cert="${certificate.certPath}" tls-key="${certificate.keyPath}" ${attributes}/>`;
}
