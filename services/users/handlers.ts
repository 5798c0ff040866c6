import type { UsersContract } from '../../common/contracts/users.js';
import type { Pool } from '../../common/db/pool.js';
import { ConflictError, NotFoundError, UnauthorizedError } from '../../common/errors.js';
import type { CallContext, Handlers } from '../../common/rpc/contract.js';
import { apiKeyOwner, createApiKey, listApiKeys, revokeApiKey } from './api-keys.js';
import {
  decoyHash,
  openPassword,
  sealingKey,
  sealPassword,
  subsonicTokenMatches,
  verifyPassword,
} from './password.js';
import { LoginLimiter, type LoginLimits } from './rate-limit.js';
import { addStars, listStars, removeStars } from './stars.js';
import {
  createUser,
  findById,
  findByUsername,
  type StoredUser,
  setSubsonicSecret,
  updateProfile,
} from './store.js';
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
/** Also the answer for an account whose password was never given since Subsonic support came. */
const BAD_SUBSONIC_TOKEN =
  'wrong username or password (an account that has not logged in since Subsonic support was added must log in once first)';

function requireCaller(ctx: CallContext) {
  if (!ctx.caller) throw new UnauthorizedError('log in first');
  return ctx.caller;
}

/** Runs an insert that references the caller's row; a deleted account is a 401, not an internal error. */
async function accountStillThere<T>(insert: () => Promise<T>): Promise<T> {
  try {
    return await insert();
  } catch (err) {
    if ((err as { code?: string }).code === '23503')
      throw new UnauthorizedError('this account no longer exists');
    throw err;
  }
}

export function usersHandlers(opts: UsersHandlerOptions): Handlers<UsersContract> {
  const { pool } = opts;
  const limiter = new LoginLimiter(pool, opts.loginLimits);
  const key = sealingKey(opts.tokenSecret);

  /**
   * Keeps the sealed copy of a password just proven right, so accounts made before Subsonic
   * support (or sealed under an old token secret) get token auth on their next login.
   */
  async function rememberPassword(found: StoredUser, password: string): Promise<void> {
    const { id } = found.user;
    if (found.subsonicSecret !== null && openPassword(found.subsonicSecret, key, id) === password) return;
    await setSubsonicSecret(pool, id, sealPassword(password, key, id));
  }

  return {
    async register({ username, password }, ctx) {
      const user = await createUser(pool, username, password, key);
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
      await rememberPassword(found, password);
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

    async subsonicAuth(params, ctx) {
      if ('apiKey' in params) {
        const owner = await apiKeyOwner(pool, params.apiKey);
        // Keys are 256 random bits: guessing one is hopeless, so no per-key limit is needed.
        if (!owner) throw new UnauthorizedError('invalid API key', { mechanism: 'apiKey' });
        return owner;
      }
      const { username } = params;
      let found: StoredUser | null = null;
      const ok = await limiter.guard(username, async (db) => {
        found = await findByUsername(db, username);
        if ('token' in params) {
          const password = found?.subsonicSecret
            ? openPassword(found.subsonicSecret, key, found.user.id)
            : null;
          return password !== null && subsonicTokenMatches(password, params.salt, params.token);
        }
        return verifyPassword(params.password, found?.passwordHash ?? (await decoyHash()));
      });
      const user = found as StoredUser | null;
      if (!ok || !user) {
        ctx.log.info(
          { username, mechanism: 'token' in params ? 'token' : 'password' },
          'subsonic auth failed',
        );
        throw new UnauthorizedError('token' in params ? BAD_SUBSONIC_TOKEN : BAD_CREDENTIALS);
      }
      if ('password' in params) await rememberPassword(user, params.password);
      return { userId: user.user.id, username: user.user.username };
    },

    async createApiKey({ name }, ctx) {
      const caller = requireCaller(ctx);
      const created = await accountStillThere(() => createApiKey(pool, caller.userId, name));
      ctx.log.info({ userId: caller.userId, keyId: created.id }, 'api key created');
      return created;
    },

    async listApiKeys(_params, ctx) {
      return listApiKeys(pool, requireCaller(ctx).userId);
    },

    async revokeApiKey({ id }, ctx) {
      const caller = requireCaller(ctx);
      if (!(await revokeApiKey(pool, caller.userId, id))) throw new NotFoundError(`no API key ${id}`);
      ctx.log.info({ userId: caller.userId, keyId: id }, 'api key revoked');
      return { revoked: true };
    },

    async star(params, ctx) {
      const caller = requireCaller(ctx);
      return { starred: await accountStillThere(() => addStars(pool, caller.userId, params)) };
    },

    async unstar(params, ctx) {
      return { unstarred: await removeStars(pool, requireCaller(ctx).userId, params) };
    },

    async starred(_params, ctx) {
      return listStars(pool, requireCaller(ctx).userId);
    },
  };
}
