import type { UsersContract } from '../../common/contracts/users.js';
import type { Pool } from '../../common/db/pool.js';
import { ConflictError, NotFoundError, UnauthorizedError } from '../../common/errors.js';
import type { CallContext, Handlers } from '../../common/rpc/contract.js';
import { decoyHash, verifyPassword } from './password.js';
import { LoginLimiter, type LoginLimits } from './rate-limit.js';
import { createUser, findById, findByUsername, updateProfile } from './store.js';
import { readToken, signToken } from './token.js';

export interface UsersHandlerOptions {
  pool: Pool;
  tokenSecret: string;
  tokenTtlSeconds: number;
  loginLimits?: LoginLimits;
}

/** One message for a wrong password and an unknown user, so a login does not tell who exists. */
const BAD_CREDENTIALS = 'wrong username or password';
const BAD_TOKEN = 'invalid or expired session token';

function requireCaller(ctx: CallContext) {
  if (!ctx.caller) throw new UnauthorizedError('log in first');
  return ctx.caller;
}

export function usersHandlers(opts: UsersHandlerOptions): Handlers<UsersContract> {
  const { pool } = opts;
  const limiter = new LoginLimiter(pool, opts.loginLimits);

  return {
    async register({ username, password }, ctx) {
      const user = await createUser(pool, username, password);
      if (!user) throw new ConflictError(`username "${username}" is taken`, { field: 'username' });
      ctx.log.info({ userId: user.id, username: user.username }, 'user registered');
      return user;
    },

    async login({ username, password }, ctx) {
      await limiter.attempt(username);
      const found = await findByUsername(pool, username);
      const ok = await verifyPassword(password, found?.passwordHash ?? (await decoyHash()));
      if (!found || !ok) {
        ctx.log.info({ username }, 'login failed');
        throw new UnauthorizedError(BAD_CREDENTIALS);
      }
      await limiter.succeeded(username);
      const expiresAt = new Date(Date.now() + opts.tokenTtlSeconds * 1000);
      const token = signToken({ userId: found.user.id, expiresAt }, opts.tokenSecret);
      return { token, expiresAt: expiresAt.toISOString(), user: found.user };
    },

    async verifyToken({ token }) {
      const claims = readToken(token, opts.tokenSecret);
      if (!claims || !(claims.expiresAt.getTime() > Date.now())) throw new UnauthorizedError(BAD_TOKEN);
      const found = await findById(pool, claims.userId);
      if (!found) throw new UnauthorizedError(BAD_TOKEN);
      return {
        userId: found.user.id,
        username: found.user.username,
        expiresAt: claims.expiresAt.toISOString(),
      };
    },

    async me(_params, ctx) {
      const caller = requireCaller(ctx);
      const found = await findById(pool, caller.userId);
      if (!found) throw new UnauthorizedError('this account no longer exists');
      return found.user;
    },

    async getProfile(params) {
      const found =
        'id' in params ? await findById(pool, params.id) : await findByUsername(pool, params.username);
      if (!found) {
        const what = 'id' in params ? `id ${params.id}` : `username "${params.username}"`;
        throw new NotFoundError(`no user with ${what}`);
      }
      return found.user;
    },

    async updateProfile(params, ctx) {
      const caller = requireCaller(ctx);
      const user = await updateProfile(pool, caller.userId, params);
      if (!user) throw new UnauthorizedError('this account no longer exists');
      return user;
    },
  };
}
