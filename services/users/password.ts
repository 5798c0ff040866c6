import {
  createCipheriv,
  createDecipheriv,
  createHash,
  hkdfSync,
  randomBytes,
  type ScryptOptions,
  scrypt,
  timingSafeEqual,
} from 'node:crypto';
import type { TokenSecrets } from './secret.js';

/**
 * Everything about stored passwords lives here: the scrypt hash every login checks, and the
 * recoverable copy Subsonic token auth needs (see docs/SUBSONIC.md).
 *
 * Stored form: `scrypt$<N>$<r>$<p>$<salt base64url>$<hash base64url>`. The cost parameters are
 * stored with each hash so they can be raised later without breaking existing passwords.
 */

const PARAMS = { N: 16_384, r: 8, p: 1 } as const;
const KEY_LENGTH = 64;
const SALT_LENGTH = 16;

function derive(password: string, salt: Buffer, opts: ScryptOptions, keyLength: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // maxmem leaves headroom over 128 * N * r bytes, the memory scrypt needs for these params.
    scrypt(password, salt, keyLength, { ...opts, maxmem: 256 * 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_LENGTH);
  const hash = await derive(password, salt, PARAMS, KEY_LENGTH);
  return [
    'scrypt',
    PARAMS.N,
    PARAMS.r,
    PARAMS.p,
    salt.toString('base64url'),
    hash.toString('base64url'),
  ].join('$');
}

/** True when `password` matches the stored hash; false for a wrong password or an unreadable hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await derive(
    password,
    Buffer.from(salt, 'base64url'),
    { N: Number(n), r: Number(r), p: Number(p) },
    expected.length,
  );
  return timingSafeEqual(actual, expected);
}

/**
 * A hash of a random password, checked against when a login names an unknown user so that
 * the answer takes as long as for a known user with a wrong password.
 */
let decoy: Promise<string> | undefined;
export function decoyHash(): Promise<string> {
  decoy ??= hashPassword(randomBytes(16).toString('hex'));
  return decoy;
}

/**
 * Subsonic's token auth sends md5(password + salt) with a fresh salt, so checking it needs the
 * password itself. It is kept sealed with AES-256-GCM under a key derived from the token
 * secret (never the same key as the session HMAC), with the user id as associated data so a
 * sealed value copied onto another account does not open.
 * Sealed form: `aes256gcm$<iv>$<ciphertext>$<tag>`, each base64url.
 */
const SEAL_SCHEME = 'aes256gcm';

function sealingKey(tokenSecret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', tokenSecret, 'music-streaming', 'subsonic-password-v1', 32));
}

function seal(password: string, key: Buffer, userId: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(userId));
  const sealed = Buffer.concat([cipher.update(password, 'utf8'), cipher.final()]);
  return [SEAL_SCHEME, iv, sealed, cipher.getAuthTag()]
    .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
    .join('$');
}

/** The sealed password, or null when it is unreadable or was sealed under another key or for another user. */
function open(sealed: string, key: Buffer, userId: string): string | null {
  const [scheme, iv, data, tag, extra] = sealed.split('$');
  if (scheme !== SEAL_SCHEME || !iv || !data || !tag || extra !== undefined) return null;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(userId));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString(
      'utf8',
    );
  } catch {
    return null;
  }
}

/**
 * Seals passwords under the current token secret and opens them under it or a previous one,
 * so a rotation does not cost anyone their Subsonic token auth: a password opened with a
 * previous key is `stale` and sealed again under the current one by its caller.
 */
export class PasswordSealer {
  private readonly current: Buffer;
  private readonly keys: readonly Buffer[];

  constructor(secrets: TokenSecrets) {
    this.current = sealingKey(secrets.current);
    this.keys = [this.current, ...secrets.previous.map(sealingKey)];
  }

  seal(password: string, userId: string): string {
    return seal(password, this.current, userId);
  }

  open(sealed: string, userId: string): { password: string; stale: boolean } | null {
    for (const key of this.keys) {
      const password = open(sealed, key, userId);
      if (password !== null) return { password, stale: key !== this.current };
    }
    return null;
  }
}

/** True when `token` is md5(password + salt) in hex, as Subsonic clients compute it. */
export function subsonicTokenMatches(password: string, salt: string, token: string): boolean {
  if (!/^[0-9a-f]{32}$/i.test(token)) return false;
  const expected = createHash('md5')
    .update(password + salt, 'utf8')
    .digest();
  return timingSafeEqual(expected, Buffer.from(token, 'hex'));
}

/** API keys are long random strings, so a fast hash is enough to keep them unreadable at rest. */
export function apiKeyHash(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function newApiKey(): string {
  return randomBytes(32).toString('base64url');
}
