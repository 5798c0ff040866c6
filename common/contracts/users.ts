import { z } from 'zod';
import { defineContract, internalMethod, publicMethod, userMethod } from '../rpc/contract.js';
import { id } from './shared.js';

export interface User {
  id: string;
  username: string;
  displayName: string;
  bio: string;
  createdAt: string;
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

const starredIds = {
  songIds: z.array(id).max(1000).default([]),
  albumIds: z.array(id).max(1000).default([]),
  artistIds: z.array(id).max(1000).default([]),
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
  /** The caller's own profile. */
  me: userMethod(z.strictObject({})).returns<User>(),
  getProfile: publicMethod(
    z.union([z.strictObject({ id }), z.strictObject({ username: z.string().max(64) })]),
  ).returns<User>(),
  updateProfile: userMethod(
    z.strictObject({
      displayName: z.string().trim().min(1).max(100).optional(),
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
  ).returns<{ userId: string; username: string }>(),
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
});
export type UsersContract = typeof usersContract;
