import { z } from 'zod';
import { defineContract, method } from '../rpc/contract.js';

export interface TrackCount {
  trackId: string;
  plays: number;
}

export interface UserStats {
  userId: string;
  totalPlays: number;
  totalMs: number;
  distinctTracks: number;
  topTracks: TrackCount[];
  lastPlayedAt: string | null;
}

export interface Overview {
  totalPlays: number;
  /** Users with a play in the last hour. */
  activeUsers: number;
  /** Plays per minute over the last hour, oldest first, minutes without plays included as 0. */
  perMinute: Array<{ minute: string; plays: number }>;
  registeredUsers: number;
  playlistChanges: number;
}

export const statsContract = defineContract('stats', {
  topTracks: method(
    z.strictObject({
      window: z.enum(['hour', 'day', 'all']).default('all'),
      limit: z.number().int().min(1).max(100).default(10),
    }),
  ).returns<TrackCount[]>(),
  /** A user's totals: the caller's, or `userId`'s. */
  user: method(
    z.strictObject({
      userId: z.string().max(64).optional(),
      limit: z.number().int().min(1).max(100).default(10),
    }),
  ).returns<UserStats>(),
  overview: method(z.strictObject({})).returns<Overview>(),
});
export type StatsContract = typeof statsContract;
