import { createHash } from 'node:crypto';
import type { UsersContract } from '../../common/contracts/users.js';
import { isAppError } from '../../common/errors.js';
import type { ServiceClient } from '../../common/rpc/client.js';
import type { Caller } from '../../common/rpc/contract.js';
import { LruCache } from '../lru.js';
import type { Params } from './params.js';
import { missing, SubsonicCodes, SubsonicError } from './response.js';

export type Credentials =
  | { username: string; token: string; salt: string }
  | { username: string; password: string }
  | { apiKey: string };

const conflicting = (message: string) => new SubsonicError(SubsonicCodes.CONFLICTING_AUTH, message);

/** `p` is the password, or `enc:` and its UTF-8 bytes in hex. */
function decodePassword(p: string): string {
  if (!p.startsWith('enc:')) return p;
  const hex = p.slice(4);
  if (!/^(?:[0-9a-f]{2})*$/i.test(hex)) {
    throw new SubsonicError(
      SubsonicCodes.WRONG_CREDENTIALS,
      'p=enc: must be followed by the password in hex',
    );
  }
  return Buffer.from(hex, 'hex').toString('utf8');
}

/**
 * The credentials of a request: `apiKey` alone (OpenSubsonic), or `u` with `t` and `s`
 * (t = md5(password + s)), or `u` with `p`. Mixing mechanisms is error 43, as the API says.
 */
export function readCredentials(params: Params): Credentials {
  const [apiKey, u, p, t, s] = ['apiKey', 'u', 'p', 't', 's'].map((name) => params.string(name));
  if (apiKey) {
    if (u !== undefined || p !== undefined || t !== undefined || s !== undefined) {
      throw conflicting('apiKey must not be combined with u, p, t or s');
    }
    return { apiKey };
  }
  if (!u) throw missing('u');
  if (p !== undefined && (t !== undefined || s !== undefined)) {
    throw conflicting('give either p or t and s, not both');
  }
  if (t !== undefined || s !== undefined) {
    if (!t) throw missing('t');
    if (!s) throw missing('s');
    return { username: u, token: t, salt: s };
  }
  if (p === undefined) throw missing('p (or t and s, or apiKey)');
  return { username: u, password: decodePassword(p) };
}

export interface AuthCacheOptions {
  /** How long credentials that passed are trusted without asking the users service again. */
  ttlMs?: number;
  maxSize?: number;
}

/**
 * Checks credentials with `users.subsonicAuth`. Players authenticate every request and often
 * send several at once with the same salt, so answers that passed are cached briefly under a
 * hash of the credentials (never the credentials themselves), and concurrent requests with the
 * same credentials share one call. Failures are never cached, so each counts towards the limit.
 */
export class SubsonicAuthenticator {
  private readonly cache: LruCache<string, Caller>;

  constructor(
    private readonly users: ServiceClient<UsersContract>,
    opts: AuthCacheOptions = {},
  ) {
    this.cache = new LruCache(opts.maxSize ?? 10_000, opts.ttlMs ?? 30_000);
  }

  verify(credentials: Credentials): Promise<Caller> {
    const key = createHash('sha256').update(JSON.stringify(credentials)).digest('base64url');
    return this.cache.getOrLoad(key, async () => ({ value: await this.check(credentials) }));
  }

  private async check(credentials: Credentials): Promise<Caller> {
    try {
      const { userId, username } = await this.users.call('subsonicAuth', credentials);
      return { userId, username };
    } catch (err) {
      // Credentials too long for the contract are simply wrong ones.
      if (isAppError(err, 'UNAUTHORIZED') || isAppError(err, 'INVALID_PARAMS')) {
        throw 'apiKey' in credentials
          ? new SubsonicError(SubsonicCodes.INVALID_API_KEY, 'invalid API key')
          : new SubsonicError(
              SubsonicCodes.WRONG_CREDENTIALS,
              isAppError(err, 'UNAUTHORIZED') ? err.message : 'wrong username or password',
            );
      }
      throw err;
    }
  }
}
