import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { TokenSecrets } from './token-secrets.js';

/**
 * Credentials the system must be able to read back (a Subsonic password, a ListenBrainz
 * token, a Last.fm session key) are kept sealed with AES-256-GCM under a key derived from the
 * token secret, one key per purpose (never the session HMAC's key, nor another purpose's),
 * with the owner's id as associated data so a sealed value copied onto another account does
 * not open. Sealed form: `aes256gcm$<iv>$<ciphertext>$<tag>`, each base64url.
 */
const SEAL_SCHEME = 'aes256gcm';

function sealingKey(tokenSecret: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', tokenSecret, 'music-streaming', purpose, 32));
}

function seal(value: string, key: Buffer, ownerId: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(ownerId));
  const sealed = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
  return [SEAL_SCHEME, iv, sealed, cipher.getAuthTag()]
    .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
    .join('$');
}

/** The sealed value, or null when it is unreadable or was sealed under another key or for another owner. */
function open(sealed: string, key: Buffer, ownerId: string): string | null {
  const [scheme, iv, data, tag, extra] = sealed.split('$');
  if (scheme !== SEAL_SCHEME || !iv || !data || !tag || extra !== undefined) return null;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(ownerId));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString(
      'utf8',
    );
  } catch {
    return null;
  }
}

/**
 * Seals values of one purpose under the current token secret and opens them under it or a
 * previous one, so a rotation costs no one a stored credential: a value opened with a
 * previous key is `stale`, and its caller seals it again under the current one.
 */
export class Sealer {
  private readonly current: Buffer;
  private readonly keys: readonly Buffer[];

  /** `purpose` names the key (HKDF info): values sealed for one purpose never open for another. */
  constructor(secrets: TokenSecrets, purpose: string) {
    this.current = sealingKey(secrets.current, purpose);
    this.keys = [this.current, ...secrets.previous.map((s) => sealingKey(s, purpose))];
  }

  seal(value: string, ownerId: string): string {
    return seal(value, this.current, ownerId);
  }

  open(sealed: string, ownerId: string): { value: string; stale: boolean } | null {
    for (const key of this.keys) {
      const value = open(sealed, key, ownerId);
      if (value !== null) return { value, stale: key !== this.current };
    }
    return null;
  }
}
