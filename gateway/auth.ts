import { createHash } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { UsersContract } from '../common/contracts/index.js';
import {
  type Caller,
  isAppError,
  isUnavailable,
  LruCache,
  type ServiceClient,
  UnauthorizedError,
} from '../common/index.js';
import './locals.js';

export interface AuthCacheOptions {
  /**
   * How long credentials that passed are trusted without asking the users service again: the
   * bound on how long a revoked session, API key or changed password still works here.
   */
  ttlMs: number;
  /**
   * How long credentials that passed stay good enough while the users service cannot answer
   * (its database down, no worker): revocation cannot be checked then, and refusing every
   * logged-in listener for the length of an outage would lose what they do (default 15 min).
   */
  staleIfUnavailableMs?: number;
  maxSize?: number;
}

/** Credentials checked recently, and the last good answer for use during an outage of the users service. */
class CredentialCache {
  private readonly fresh: LruCache<string, Caller>;
  private readonly lastGood: LruCache<string, Caller>;

  constructor(opts: AuthCacheOptions) {
    this.fresh = new LruCache(opts.maxSize ?? 10_000, opts.ttlMs);
    this.lastGood = new LruCache(opts.maxSize ?? 10_000, opts.staleIfUnavailableMs ?? 15 * 60_000);
  }

  async get(key: string, check: () => Promise<{ value: Caller; expiresAt?: number }>): Promise<Caller> {
    try {
      return await this.fresh.getOrLoad(key, async () => {
        const checked = await check();
        this.lastGood.set(key, checked.value, checked.expiresAt);
        return checked;
      });
    } catch (err) {
      const stale = isUnavailable(err) ? this.lastGood.get(key) : undefined;
      if (stale) return stale;
      // A definitive refusal (a session ended, a key revoked, a password changed) is final:
      // the credentials are not trusted again, not even while the users service is away.
      if (isAppError(err, 'UNAUTHORIZED')) this.forget(key);
      throw err;
    }
  }

  forget(key: string): void {
    this.fresh.delete(key);
    this.lastGood.delete(key);
  }
}

/** The credentials of one Subsonic request (see gateway/subsonic/auth.ts). */
export type SubsonicCredentials =
  | { username: string; token: string; salt: string }
  | { username: string; password: string }
  | { apiKey: string };

/**
 * The one authenticator of the gateway, for REST, /rpc and Subsonic alike: bearer tokens with
 * `users.verifyToken`, Subsonic credentials with `users.subsonicAuth`. Answers that passed are
 * cached briefly (never past a token's expiry), and concurrent requests with the same new
 * credentials share one call; failures are never cached, so each one counts towards the
 * users service's throttling. While the users service cannot answer, credentials that passed
 * recently still do. Subsonic credentials are cached under a hash, never as they are.
 */
export class Authenticator {
  private readonly tokens: CredentialCache;
  private readonly subsonicCredentials: CredentialCache;
  /** The tokens this gateway trusts, by user, so a logout of every session forgets them all. */
  private readonly byUser = new Map<string, Set<string>>();

  constructor(
    private readonly users: ServiceClient<UsersContract>,
    opts: AuthCacheOptions,
  ) {
    this.tokens = new CredentialCache(opts);
    this.subsonicCredentials = new CredentialCache(opts);
  }

  /** The caller of a session token; UnauthorizedError when it is not a live session's token. */
  bearer(token: string): Promise<Caller> {
    return this.tokens.get(token, async () => {
      const { userId, username, sessionId, expiresAt, admin } = await this.users.call('verifyToken', {
        token,
      });
      const mine = this.byUser.get(userId) ?? new Set<string>();
      // Bounded like the cache: an index entry for a token the cache has dropped is harmless.
      if (mine.size >= 100) mine.delete(mine.values().next().value!);
      this.byUser.set(userId, mine.add(token));
      if (this.byUser.size > 10_000) this.byUser.delete(this.byUser.keys().next().value!);
      return { value: { userId, username, sessionId, admin }, expiresAt: Date.parse(expiresAt) };
    });
  }

  /** The caller of Subsonic credentials; the users service's errors as they are. */
  subsonic(credentials: SubsonicCredentials, clientAddress: string | undefined): Promise<Caller> {
    const key = createHash('sha256').update(JSON.stringify(credentials)).digest('base64url');
    return this.subsonicCredentials.get(key, async () => {
      const { userId, username, admin } = await this.users.call('subsonicAuth', credentials, {
        clientAddress,
      });
      return { value: { userId, username, admin } };
    });
  }

  /** Stops trusting a token at once (this gateway's logout); other gateways stop within the ttl. */
  forget(token: string): void {
    this.tokens.forget(token);
    for (const [userId, tokens] of this.byUser)
      if (tokens.delete(token) && tokens.size === 0) this.byUser.delete(userId);
  }

  /** Stops trusting every token of a user this gateway has seen (their logout of every session). */
  forgetUser(userId: string): void {
    for (const token of this.byUser.get(userId) ?? []) this.tokens.forget(token);
    this.byUser.delete(userId);
  }
}

/** The token of an `Authorization: Bearer <token>` header; undefined when there is no header. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer +([\x21-\x7e]{1,1000})\s*$/i.exec(header);
  if (!match) throw new UnauthorizedError('Authorization header must be "Bearer <token>"');
  return match[1];
}

/**
 * Sets `res.locals.caller` (and `res.locals.token`) when the request carries a token. A token
 * that is present but invalid is a 401 even on public routes: the client believes it is logged
 * in and is not.
 */
export function authenticate(auth: Authenticator): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const token = bearerToken(req.get('authorization'));
    if (token !== undefined) {
      res.locals.caller = await auth.bearer(token);
      res.locals.token = token;
    }
    next();
  };
}

/**
 * RPC options for a call made for this request's client: its caller (if logged in) and its
 * address. The address is always there: the catalog tells an anonymous client (who sees only
 * the libraries everyone sees) from a service's own call by it.
 */
export function forClient(
  req: Request,
  res: Response,
): { caller: Caller | undefined; clientAddress: string } {
  return { caller: res.locals.caller, clientAddress: clientAddressOf(req) };
}

/** The client's address as calls carry it (never empty: see `forClient`). */
export const clientAddressOf = (req: Request): string => req.ip || 'unknown';

/** The authenticated caller, or a 401 for routes that need one. */
export function requireCaller(res: Response): Caller {
  const caller = res.locals.caller;
  if (!caller) throw new UnauthorizedError('this needs a logged-in user (Authorization: Bearer <token>)');
  return caller;
}
