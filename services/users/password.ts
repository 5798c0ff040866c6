import { createHash, randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';
import { Sealer, type TokenSecrets } from '../../common/index.js';

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
 * password itself. It is kept sealed (common/sealing.ts) under the key of its own purpose.
 */
export class PasswordSealer {
  private readonly sealer: Sealer;

  constructor(secrets: TokenSecrets) {
    this.sealer = new Sealer(secrets, 'subsonic-password-v1');
  }

  seal(password: string, userId: string): string {
    return this.sealer.seal(password, userId);
  }

  /** A password opened with a previous key is `stale`: its caller seals it again. */
  open(sealed: string, userId: string): { password: string; stale: boolean } | null {
    const opened = this.sealer.open(sealed, userId);
    return opened && { password: opened.value, stale: opened.stale };
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
