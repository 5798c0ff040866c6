import {
  type CatalogContract,
  PlayAllowance,
  SONG_MARKS_MAX,
  type UsersContract,
} from '../../common/contracts/index.js';
import {
  ConflictError,
  type Handlers,
  InvalidInputError,
  NotFoundError,
  type Pool,
  type Queryable,
  type ServiceClient,
  type TokenSecrets,
  UnauthorizedError,
} from '../../common/index.js';
import { adminHandlers } from './admin.js';
import { apiKeyOwner, createApiKey, listApiKeys, revokeApiKey } from './api-keys.js';
import { HashQueue } from './hashing.js';
import { listNowPlaying, recordPlayback } from './now-playing.js';
import { decoyHash, hashPassword, PasswordSealer, subsonicTokenMatches, verifyPassword } from './password.js';
import { passwordProblem } from './password-policy.js';
import { loadPlayQueue, savePlayQueue } from './play-queue.js';
import { LoginLimiter, type LoginLimits } from './rate-limit.js';
import { listRatings, setRating, songMarks } from './ratings.js';
import { type RegistrationLimits, RegistrationThrottle } from './registrations.js';
import {
  createSession,
  newSessionId,
  openSession,
  pruneSessions,
  revokeSession,
  revokeSessions,
} from './sessions.js';
import { addStars, listStars, removeStars, type StarIds } from './stars.js';
import {
  accountOf,
  createUser,
  findById,
  findByUsername,
  playlistOwner,
  type StoredUser,
  setPassword,
  setSubsonicSecret,
  updateProfile,
} from './store.js';
import { readToken, signToken } from './token.js';

export interface UsersHandlerOptions {
  pool: Pool;
  secrets: TokenSecrets;
  tokenTtlSeconds: number;
  /** Checks the catalog ids a user stars, rates, queues or plays. */
  catalog: ServiceClient<CatalogContract>;
  /** How many accounts one client address, and everyone together, may make. */
  registrations: RegistrationLimits;
  loginLimits?: LoginLimits;
  /** The worker's bounded scrypt work (registrations cannot crowd logins out). */
  hashes?: HashQueue;
  /** Plays one account may post per hour (a playback report that ends a play is one). */
  playsPerHour: number;
}

/** One message for a wrong password and an unknown user, so a login does not tell who exists. */
const BAD_CREDENTIALS = 'wrong username or password';
const BAD_TOKEN = 'invalid or expired session token';
/** Told only to whoever gave the account's right password. */
const DISABLED = 'this account is disabled; an administrator can enable it again';
/** Also the answer for an account whose password was never given since Subsonic support came. */
const BAD_SUBSONIC_TOKEN =
  'wrong username or password (an account that has not logged in since Subsonic support was added must log in once first)';

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
  const { pool, secrets } = opts;
  const limiter = new LoginLimiter(pool, opts.loginLimits);
  const registrations = new RegistrationThrottle(pool, opts.registrations);
  const hashes = opts.hashes ?? new HashQueue();
  const sealer = new PasswordSealer(secrets);
  const plays = new PlayAllowance(opts.playsPerHour);
  const makeHash = (password: string) => hashes.run('make', () => hashPassword(password));

  /** The password's hash checked against `password`; unknown users cost the same time. */
  async function passwordMatches(found: StoredUser | null, password: string): Promise<boolean> {
    const stored = found?.passwordHash ?? (await decoyHash());
    const ok = await hashes.run('check', () => verifyPassword(password, stored));
    return ok && found !== null;
  }

  /** A new password must pass the policy (password-policy.ts): 400 naming the rule it breaks. */
  function checkNewPassword(password: string, username: string): void {
    const problem = passwordProblem(password, username);
    if (problem) throw new InvalidInputError(problem, { field: 'password' });
  }

  /**
   * Keeps the sealed copy of a password just proven right, so accounts made before Subsonic
   * support (or sealed under a previous token secret) get token auth on their next login.
   */
  async function rememberPassword(db: Queryable, found: StoredUser, password: string): Promise<void> {
    const { id } = found.user;
    const opened = found.subsonicSecret === null ? null : sealer.open(found.subsonicSecret, id);
    if (opened && !opened.stale && opened.password === password) return;
    await setSubsonicSecret(db, id, sealer.seal(password, id));
  }

  /**
   * Takes only what the catalog knows: an unknown id is a 404 naming it, and nothing is written.
   * With `withRemoved`, songs whose files left the library are known too (a player's saved
   * queue may still hold one; its reads leave it out).
   */
  async function checkCatalogIds(ids: StarIds, withRemoved = false): Promise<void> {
    const ask = <T extends { id: string }>(list: string[], call: () => Promise<T[]>) =>
      list.length === 0
        ? Promise.resolve(new Set<string>())
        : call().then((r) => new Set(r.map((x) => x.id)));
    const [songs, albums, artists] = await Promise.all([
      ask(ids.songIds, () => opts.catalog.call('getTracks', { ids: ids.songIds, withRemoved })),
      ask(ids.albumIds, () => opts.catalog.call('getAlbums', { ids: ids.albumIds })),
      ask(ids.artistIds, () => opts.catalog.call('getArtists', { ids: ids.artistIds })),
    ]);
    const unknown = [
      ...ids.songIds.filter((id) => !songs.has(id)).map((id) => `song ${id}`),
      ...ids.albumIds.filter((id) => !albums.has(id)).map((id) => `album ${id}`),
      ...ids.artistIds.filter((id) => !artists.has(id)).map((id) => `artist ${id}`),
    ];
    if (unknown.length > 0) {
      throw new NotFoundError(`no ${unknown.slice(0, 20).join(', ')} in the catalog`, {
        unknown: unknown.slice(0, 20),
      });
    }
  }

  /** What the catalog says an id is (songs first); a 404 when it is nothing there. */
  async function kindOf(id: string): Promise<'song' | 'album' | 'artist'> {
    const ids = [id];
    const [songs, albums, artists] = await Promise.all([
      opts.catalog.call('getTracks', { ids }),
      opts.catalog.call('getAlbums', { ids }),
      opts.catalog.call('getArtists', { ids }),
    ]);
    if (songs.length > 0) return 'song';
    if (albums.length > 0) return 'album';
    if (artists.length > 0) return 'artist';
    throw new NotFoundError(`no song, album or artist ${id} in the catalog`, { unknown: [id] });
  }

  return {
    ...adminHandlers({ pool, sealer, makeHash, checkNewPassword }),

    async register({ username, password }, ctx) {
      await registrations.admit(ctx.clientAddress);
      checkNewPassword(password, username);
      // A taken name is refused before any hashing, so retries of one name cost nothing.
      const taken = () => new ConflictError(`username "${username}" is taken`, { field: 'username' });
      if (await findByUsername(pool, username)) throw taken();
      const account = await createUser(pool, username, password, sealer, makeHash);
      if (!account) throw taken();
      const { admin, disabled: _disabled, ...user } = account;
      ctx.log.info({ userId: user.id, username: user.username, admin }, 'user registered');
      return user;
    },

    async login({ username, password }, ctx) {
      let found: StoredUser | null = null;
      const ok = await limiter.guard(username, ctx.clientAddress, async (db) => {
        found = await findByUsername(db, username);
        const matches = await passwordMatches(found, password);
        if (matches && found) await rememberPassword(db, found, password);
        return matches;
      });
      const user = found as StoredUser | null;
      if (!ok || !user) {
        ctx.log.info({ username, clientAddress: ctx.clientAddress }, 'login failed');
        throw new UnauthorizedError(BAD_CREDENTIALS);
      }
      if (user.disabled) throw new UnauthorizedError(DISABLED);
      const sessionId = newSessionId();
      const expiresAt = new Date(Date.now() + opts.tokenTtlSeconds * 1000);
      await createSession(pool, sessionId, user.user.id, expiresAt);
      await pruneSessions(pool);
      const token = signToken({ sessionId, userId: user.user.id, expiresAt }, secrets.current);
      return { token, expiresAt: expiresAt.toISOString(), user: user.user };
    },

    async logout({ all }, ctx) {
      const { caller } = ctx;
      if (all) {
        const revoked = await revokeSessions(pool, caller.userId);
        ctx.log.info({ userId: caller.userId, revoked }, 'every session ended');
        return { revoked };
      }
      if (!caller.sessionId) {
        throw new InvalidInputError(
          'these credentials are not a session; to end every session pass all: true',
        );
      }
      return { revoked: await revokeSession(pool, caller.userId, caller.sessionId) };
    },

    async changePassword({ oldPassword, newPassword }, ctx) {
      const { caller } = ctx;
      const ok = await limiter.guard(caller.username, ctx.clientAddress, async (db) =>
        passwordMatches(await findById(db, caller.userId), oldPassword),
      );
      if (!ok) throw new UnauthorizedError('the old password is wrong');
      checkNewPassword(newPassword, caller.username);
      const changed = await setPassword(
        pool,
        caller.userId,
        await makeHash(newPassword),
        sealer.seal(newPassword, caller.userId),
      );
      if (!changed) throw new UnauthorizedError('this account no longer exists');
      const revokedSessions = await revokeSessions(pool, caller.userId, caller.sessionId);
      ctx.log.info({ userId: caller.userId, revokedSessions }, 'password changed');
      return { revokedSessions };
    },

    async verifyToken({ token }) {
      const claims = readToken(token, secrets);
      if (!claims || !(claims.expiresAt.getTime() > Date.now())) throw new UnauthorizedError(BAD_TOKEN);
      const session = await openSession(pool, claims.sessionId, claims.userId);
      if (!session) throw new UnauthorizedError(BAD_TOKEN);
      return { ...session, sessionId: claims.sessionId, expiresAt: claims.expiresAt.toISOString() };
    },

    async me(_params, ctx) {
      const found = await findById(pool, ctx.caller.userId);
      if (!found) throw new UnauthorizedError('this account no longer exists');
      return accountOf(found);
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
      const user = await updateProfile(pool, ctx.caller.userId, params);
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
      const ok = await limiter.guard(username, ctx.clientAddress, async (db) => {
        found = await findByUsername(db, username);
        if ('token' in params) {
          const opened = found?.subsonicSecret ? sealer.open(found.subsonicSecret, found.user.id) : null;
          const matches = opened !== null && subsonicTokenMatches(opened.password, params.salt, params.token);
          if (matches && found && opened?.stale) await rememberPassword(db, found, opened.password);
          return matches;
        }
        const matches = await passwordMatches(found, params.password);
        if (matches && found) await rememberPassword(db, found, params.password);
        return matches;
      });
      const user = found as StoredUser | null;
      if (!ok || !user) {
        ctx.log.info(
          { username, mechanism: 'token' in params ? 'token' : 'password', clientAddress: ctx.clientAddress },
          'subsonic auth failed',
        );
        throw new UnauthorizedError('token' in params ? BAD_SUBSONIC_TOKEN : BAD_CREDENTIALS);
      }
      if (user.disabled) throw new UnauthorizedError(DISABLED);
      return { userId: user.user.id, username: user.user.username, admin: user.admin };
    },

    async createApiKey({ name }, ctx) {
      const { caller } = ctx;
      const created = await accountStillThere(() => createApiKey(pool, caller.userId, name));
      ctx.log.info({ userId: caller.userId, keyId: created.id }, 'api key created');
      return created;
    },

    async listApiKeys(_params, ctx) {
      return listApiKeys(pool, ctx.caller.userId);
    },

    async revokeApiKey({ id }, ctx) {
      const { caller } = ctx;
      if (!(await revokeApiKey(pool, caller.userId, id))) throw new NotFoundError(`no API key ${id}`);
      ctx.log.info({ userId: caller.userId, keyId: id }, 'api key revoked');
      return { revoked: true };
    },

    async star(params, ctx) {
      await checkCatalogIds(params);
      return { starred: await accountStillThere(() => addStars(pool, ctx.caller.userId, params)) };
    },

    async unstar(params, ctx) {
      return { unstarred: await removeStars(pool, ctx.caller.userId, params) };
    },

    async starred(_params, ctx) {
      return listStars(pool, ctx.caller.userId);
    },

    async setRating({ id, rating }, ctx) {
      const kind = await kindOf(id);
      await accountStillThere(() => setRating(pool, ctx.caller.userId, kind, id, rating));
      return { kind, rating };
    },

    async ratings(_params, ctx) {
      return listRatings(pool, ctx.caller.userId);
    },

    songMarks: ({ userId }) => songMarks(pool, userId, SONG_MARKS_MAX),

    playlistOwner: ({ userId }) => playlistOwner(pool, userId),

    async savePlayQueue(params, ctx) {
      await checkCatalogIds({ songIds: [...new Set(params.trackIds)], albumIds: [], artistIds: [] }, true);
      return accountStillThere(() => savePlayQueue(pool, ctx.caller.userId, params));
    },

    async getPlayQueue(_params, ctx) {
      return loadPlayQueue(pool, ctx.caller.userId);
    },

    async reportPlayback(report, ctx) {
      const [track] = await opts.catalog.call('getTracks', { ids: [report.trackId] });
      if (!track)
        throw new NotFoundError(`no song ${report.trackId} in the catalog`, { unknown: [report.trackId] });
      return accountStillThere(() =>
        recordPlayback(pool, ctx.caller.userId, report, track.durationMs, Date.now(), plays),
      );
    },

    async nowPlaying() {
      return listNowPlaying(pool);
    },
  };
}
