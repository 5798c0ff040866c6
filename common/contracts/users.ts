import { z } from 'zod';
import { adminMethod, defineContract, internalMethod, publicMethod, userMethod } from '../rpc/contract.js';
import { MAX_MS_PLAYED } from './events.js';
import { id, ids, type Page, paging } from './shared.js';
import { SMART_MAX_FACTS } from './smart.js';

export interface User {
  id: string;
  username: string;
  displayName: string;
  bio: string;
  createdAt: string;
}

/** A user as administrators see them, and as `users.me` shows the caller themselves. */
export interface Account extends User {
  admin: boolean;
  /** A disabled account cannot log in, and none of its credentials work. */
  disabled: boolean;
}

export interface Session {
  token: string;
  expiresAt: string;
  user: User;
}

/** Who a valid session token belongs to. */
export interface VerifiedToken {
  userId: string;
  username: string;
  sessionId: string;
  expiresAt: string;
  admin: boolean;
}

/** An OpenSubsonic API key as listed; the key itself is shown only by `createApiKey`. */
export interface ApiKey {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
}

export interface Star {
  id: string;
  starredAt: string;
}

/** The caller's starred catalog items, most recently starred first. */
export interface Starred {
  songs: Star[];
  albums: Star[];
  artists: Star[];
}

export interface Rating {
  id: string;
  /** 1 to 5. */
  rating: number;
  ratedAt: string;
}

/** The caller's ratings, highest first (then most recently rated). */
export interface Ratings {
  songs: Rating[];
  albums: Rating[];
  artists: Rating[];
}

/** Most tracks a saved play queue holds. */
export const PLAY_QUEUE_MAX = 1000;

/** A user's saved play queue, for carrying listening from one player to another. */
export interface PlayQueue {
  trackIds: string[];
  /** Index in `trackIds` of the track playing, null for an empty queue. */
  currentIndex: number | null;
  /** Position in the current track, in ms. */
  positionMs: number;
  changedAt: string;
  /** The player (Subsonic client name) that saved it. */
  changedBy: string;
}

export const PLAYBACK_STATES = ['starting', 'playing', 'paused', 'stopped'] as const;
export type PlaybackState = (typeof PLAYBACK_STATES)[number];

/** What one player of one user is playing, as it last reported (position estimated since). */
export interface NowPlayingEntry {
  username: string;
  trackId: string;
  /** A number per (user, player), stable while the entry lives. */
  playerId: number;
  playerName: string;
  state: Exclude<PlaybackState, 'stopped'>;
  positionMs: number;
  playbackRate: number;
  updatedAt: string;
}

/** A player's name (Subsonic's `c`), bounded. */
const client = z.string().trim().min(1).max(100);

const starredIds = {
  songIds: ids().default([]),
  albumIds: ids().default([]),
  artistIds: ids().default([]),
};

export const username = z
  .string()
  .min(3, 'username must be at least 3 characters')
  .max(32, 'username must be at most 32 characters')
  .regex(/^[a-zA-Z0-9_.-]+$/, 'username may contain letters, digits, _ . and - only');
export const password = z
  .string()
  .min(8, 'password must be at least 8 characters')
  .max(200, 'password must be at most 200 characters');

/** A display name, as `updateProfile` and the admin methods take it. */
const displayName = z.string().trim().min(1).max(100);

/** One user, named by id or by username (any letter case). */
const userRef = z.union([z.strictObject({ id }), z.strictObject({ username: z.string().max(64) })]);

/** A user's marks on songs (`users.songMarks`). */
export interface SongMarks {
  ratings: Array<{ trackId: string; rating: number }>;
  starred: string[];
}

/** The most of each kind of mark `songMarks` answers with. */
export const SONG_MARKS_MAX = SMART_MAX_FACTS;

export const usersContract = defineContract('users', {
  register: publicMethod(z.strictObject({ username, password })).returns<User>(),
  /** A new session. Failed attempts are throttled per client address and per username and address. */
  login: publicMethod(
    z.strictObject({ username: z.string().max(64), password: z.string().max(200) }),
  ).returns<Session>(),
  /** Ends the caller's session, or with `all` every session of the caller. */
  logout: userMethod(z.strictObject({ all: z.boolean().default(false) })).returns<{ revoked: number }>(),
  /** Changes the caller's password (the old one proves it is them) and ends every other session. */
  changePassword: userMethod(
    z.strictObject({ oldPassword: z.string().max(200), newPassword: password }),
  ).returns<{ revokedSessions: number }>(),
  /** Checks a session token (byte for byte as it was issued, for a session still open). */
  verifyToken: internalMethod(
    z.strictObject({ token: z.string().min(1).max(1000) }),
  ).returns<VerifiedToken>(),
  /** The caller's own profile, with their role. */
  me: userMethod(z.strictObject({})).returns<Account>(),
  /**
   * A user's profile by id or username. Needs a login: answered to anyone, "no such user"
   * would tell which names exist, which the login's equal answers and timing keep secret.
   */
  getProfile: userMethod(userRef).returns<User>(),
  updateProfile: userMethod(
    z.strictObject({
      displayName: displayName.optional(),
      bio: z.string().max(1000).optional(),
    }),
  ).returns<User>(),
  /**
   * Checks one Subsonic request's credentials: `token` = md5(password + salt) with `salt`, a
   * plain `password`, or an OpenSubsonic `apiKey`. Failures are throttled like logins.
   */
  subsonicAuth: internalMethod(
    z.union([
      z.strictObject({
        username: z.string().max(64),
        token: z.string().max(64),
        salt: z.string().min(1).max(200),
      }),
      z.strictObject({ username: z.string().max(64), password: z.string().max(200) }),
      z.strictObject({ apiKey: z.string().min(1).max(2000) }),
    ]),
  ).returns<{ userId: string; username: string; admin: boolean }>(),
  /** A new API key for the caller; the key is in this answer only. */
  createApiKey: userMethod(
    z.strictObject({ name: z.string().trim().min(1).max(100).default('subsonic') }),
  ).returns<ApiKey & { key: string }>(),
  listApiKeys: userMethod(z.strictObject({})).returns<ApiKey[]>(),
  revokeApiKey: userMethod(z.strictObject({ id })).returns<{ revoked: true }>(),
  /** Stars catalog items for the caller; every id must exist in the catalog. */
  star: userMethod(z.strictObject(starredIds)).returns<{ starred: number }>(),
  unstar: userMethod(z.strictObject(starredIds)).returns<{ unstarred: number }>(),
  starred: userMethod(z.strictObject({})).returns<Starred>(),
  /**
   * Rates a song, an album or an artist (whichever the catalog says `id` is) from 1 to 5 for
   * the caller; 0 removes the rating.
   */
  setRating: userMethod(z.strictObject({ id, rating: z.number().int().min(0).max(5) })).returns<{
    kind: 'song' | 'album' | 'artist';
    rating: number;
  }>(),
  ratings: userMethod(z.strictObject({})).returns<Ratings>(),
  /**
   * A user's song ratings and starred songs, for the rules of their smart playlists: at most
   * SMART_MAX_FACTS of each, the most recent.
   */
  songMarks: internalMethod(z.strictObject({ userId: id })).returns<SongMarks>(),
  /**
   * Who owns a playlist made from a library's playlist file: the library's owner (`userId`)
   * when that account exists and is enabled, otherwise the first enabled administrator; null
   * when there is neither.
   */
  playlistOwner: internalMethod(z.strictObject({ userId: id.optional() })).returns<{
    userId: string;
    username: string;
  } | null>(),
  /**
   * Saves the caller's play queue (every track must exist in the catalog); an empty list
   * clears it. `currentIndex` is required with tracks and must point into them.
   */
  savePlayQueue: userMethod(
    z
      .strictObject({
        trackIds: ids(PLAY_QUEUE_MAX),
        currentIndex: z
          .number()
          .int()
          .min(0)
          .max(PLAY_QUEUE_MAX - 1)
          .optional(),
        positionMs: z.number().int().min(0).max(MAX_MS_PLAYED).default(0),
        client,
      })
      .refine((q) => q.trackIds.length === 0 || q.currentIndex !== undefined, {
        message: 'currentIndex is required when the queue has tracks',
        path: ['currentIndex'],
      })
      .refine((q) => q.currentIndex === undefined || q.currentIndex < q.trackIds.length, {
        message: 'currentIndex must point into trackIds',
        path: ['currentIndex'],
      }),
  ).returns<PlayQueue | null>(),
  /** The caller's saved play queue, or null when none is saved. */
  getPlayQueue: userMethod(z.strictObject({})).returns<PlayQueue | null>(),
  /**
   * What one of the caller's players is doing with a track (OpenSubsonic playbackReport).
   * `stopped` ends the playback; unless `ignoreScrobble`, a playback that got far enough
   * (half the track or 4 minutes) is recorded as a play (`track.played`, through the
   * outbox, once however often the stop is reported). `inferred` reports (a stream starting)
   * never replace what the player reported itself.
   */
  reportPlayback: userMethod(
    z.strictObject({
      trackId: id,
      state: z.enum(PLAYBACK_STATES),
      positionMs: z.number().int().min(0).max(MAX_MS_PLAYED),
      playbackRate: z.number().min(0).max(16).default(1),
      ignoreScrobble: z.boolean().default(false),
      inferred: z.boolean().default(false),
      client,
    }),
  ).returns<{ played: boolean }>(),
  /** What every user's players are playing now, most recently reported first (at most 100). */
  nowPlaying: userMethod(z.strictObject({})).returns<NowPlayingEntry[]>(),
  /**
   * Administrators only, from here on. Every account, oldest first (a page of them); `query`
   * keeps those whose username or display name contains it (any letter case).
   */
  listUsers: adminMethod(z.strictObject({ ...paging, query: z.string().trim().max(64).optional() })).returns<
    Page<Account>
  >(),
  getUser: adminMethod(userRef).returns<Account>(),
  /** A new account, an administrator with `admin` (the password policy applies as to a registration). */
  createUser: adminMethod(
    z.strictObject({
      username,
      password,
      displayName: displayName.optional(),
      admin: z.boolean().default(false),
    }),
  ).returns<Account>(),
  /**
   * Changes an account: display name, role, disabled, or a new password. A new password and
   * disabling end every session of the account. Nobody may demote or disable themselves, nor
   * leave the install without an enabled administrator.
   */
  updateUser: adminMethod(
    z.strictObject({
      id,
      displayName: displayName.optional(),
      admin: z.boolean().optional(),
      disabled: z.boolean().optional(),
      password: password.optional(),
    }),
  ).returns<Account & { revokedSessions: number }>(),
  /** Deletes an account with its sessions, API keys, stars, ratings and play queue; not oneself, not the last admin. */
  deleteUser: adminMethod(z.strictObject({ id })).returns<{ deleted: true }>(),
});
export type UsersContract = typeof usersContract;
