import { z } from 'zod';
import { defineContract, publicMethod, subscribe, userMethod } from '../rpc/contract.js';
import { DATABASE_BATCH, Events } from './events.js';
import { windowParam } from './shared.js';

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

export const statsContract = defineContract(
  'stats',
  {
    topTracks: publicMethod(
      z.strictObject({ window: windowParam, limit: z.number().int().min(1).max(100).default(10) }),
    ).returns<TrackCount[]>(),
    /** The caller's totals. */
    user: userMethod(
      z.strictObject({ limit: z.number().int().min(1).max(100).default(10) }),
    ).returns<UserStats>(),
    overview: publicMethod(z.strictObject({})).returns<Overview>(),
  },
  {
    subscriptions: {
      plays: subscribe(Events.trackPlayed, { batch: DATABASE_BATCH }),
      registrations: subscribe(Events.userRegistered, { batch: DATABASE_BATCH }),
      playlistChanges: subscribe(Events.playlistChanged, { batch: DATABASE_BATCH }),
    },
  },
);
export type StatsContract = typeof statsContract;
