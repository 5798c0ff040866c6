import { z } from 'zod';
import { defineContract, method } from '../rpc/contract.js';

export interface Play {
  eventId: string;
  trackId: string;
  title: string | null;
  artistName: string | null;
  albumTitle: string | null;
  playedAt: string;
  msPlayed: number;
  source: string;
}

export const historyContract = defineContract('history', {
  /** The caller's last plays, newest first (or `userId`'s, for internal callers without a caller). */
  recent: method(
    z.strictObject({
      limit: z.number().int().min(1).max(500).default(20),
      userId: z.string().max(64).optional(),
    }),
  ).returns<Play[]>(),
});
export type HistoryContract = typeof historyContract;
