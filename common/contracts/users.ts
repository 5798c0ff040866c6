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
});
export type UsersContract = typeof usersContract;
