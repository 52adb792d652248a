import { X509Certificate } from 'node:crypto';

/** PEM blocks of one type, each re-terminated with a newline; text outside blocks is ignored (as OpenSSL does). */
export function pemBlocks(text: string, label = 'CERTIFICATE'): string[] {
  const re = new RegExp(`-----BEGIN ${label}-----[\\s\\S]*?-----END ${label}-----`, 'g');
  return [...text.matchAll(re)].map((m) => m[0] + '\n');
}

/** Parses every certificate of a PEM bundle; a block that does not parse is named by its position. */
export function parseCertificates(text: string, where: string): X509Certificate[] {
  const blocks = pemBlocks(text);
  if (blocks.length === 0) throw new Error(`${where}: no PEM certificate found`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw new Error(`${where}: certificate ${i + 1} does not parse (${(err as Error).message})`, { cause: err });
    }
  });
}

export function joinPem(pems: readonly string[]): string {
  return pems.map((p) => p.trimEnd() + '\n').join('');
}
