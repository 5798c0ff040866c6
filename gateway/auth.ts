import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { UsersContract } from '../common/contracts/users.js';
import { UnauthorizedError } from '../common/errors.js';
import type { ServiceClient } from '../common/rpc/client.js';
import type { Caller } from '../common/rpc/contract.js';
import { LruCache } from './lru.js';
import './locals.js';

export interface TokenCacheOptions {
  /** How long a verified token is trusted without asking the users service again. */
  ttlMs?: number;
  maxSize?: number;
}

/**
 * Checks bearer tokens with `users.verifyToken`. Answers are cached briefly (bounded, and
 * never past the token's own expiry) so a busy client costs one RPC per token per ttl, and
 * concurrent requests with the same new token share one call.
 */
export class TokenVerifier {
  private readonly cache: LruCache<string, Caller>;

  constructor(
    private readonly users: ServiceClient<UsersContract>,
    opts: TokenCacheOptions = {},
  ) {
    this.cache = new LruCache(opts.maxSize ?? 10_000, opts.ttlMs ?? 30_000);
  }

  verify(token: string): Promise<Caller> {
    return this.cache.getOrLoad(token, async () => {
      const { userId, username, expiresAt } = await this.users.call('verifyToken', { token });
      return { value: { userId, username }, expiresAt: Date.parse(expiresAt) };
    });
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
 * Sets `res.locals.caller` when the request carries a token. A token that is present but
 * invalid is a 401 even on public routes: the client believes it is logged in and is not.
 */
export function authenticate(verifier: TokenVerifier): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const token = bearerToken(req.get('authorization'));
    if (token !== undefined) res.locals.caller = await verifier.verify(token);
    next();
  };
}

/** The authenticated caller, or a 401 for routes that need one. */
export function requireCaller(res: Response): Caller {
  const caller = res.locals.caller;
  if (!caller) throw new UnauthorizedError('this needs a logged-in user (Authorization: Bearer <token>)');
  return caller;
}
