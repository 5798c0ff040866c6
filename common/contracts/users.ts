import { z } from 'zod';
import { defineContract, method } from '../rpc/contract.js';
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
  register: method(z.strictObject({ username, password })).returns<User>(),
  login: method(
    z.strictObject({ username: z.string().max(64), password: z.string().max(200) }),
  ).returns<Session>(),
  /** Checks a session token; used by the gateway on every authenticated request. */
  verifyToken: method(z.strictObject({ token: z.string().min(1).max(1000) })).returns<{
    userId: string;
    username: string;
    expiresAt: string;
  }>(),
  /** The caller's own profile. */
  me: method(z.strictObject({})).returns<User>(),
  getProfile: method(
    z.union([z.strictObject({ id }), z.strictObject({ username: z.string().max(64) })]),
  ).returns<User>(),
  updateProfile: method(
    z.strictObject({
      displayName: z.string().trim().min(1).max(100).optional(),
      bio: z.string().max(1000).optional(),
    }),
  ).returns<User>(),
  /**
   * Checks one Subsonic request's credentials: `token` = md5(password + salt) with `salt`, a
   * plain `password`, or an OpenSubsonic `apiKey`. Failures with a username count towards the
   * login rate limit.
   */
  subsonicAuth: method(
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
  createApiKey: method(
    z.strictObject({ name: z.string().trim().min(1).max(100).default('subsonic') }),
  ).returns<ApiKey & { key: string }>(),
  listApiKeys: method(z.strictObject({})).returns<ApiKey[]>(),
  revokeApiKey: method(z.strictObject({ id })).returns<{ revoked: true }>(),
  /** Stars catalog items for the caller (ids are not checked here: the caller checks them). */
  star: method(z.strictObject(starredIds)).returns<{ starred: number }>(),
  unstar: method(z.strictObject(starredIds)).returns<{ unstarred: number }>(),
  starred: method(z.strictObject({})).returns<Starred>(),
});
export type UsersContract = typeof usersContract;
