import { z } from 'zod';
import { defineContract, internalMethod, subscribe, userMethod } from '../rpc/contract.js';
import { DATABASE_BATCH, Events } from './events.js';

export interface Play {
  eventId: string;
  trackId: string;
  title: string | null;
  artistName: string | null;
  albumTitle: string | null;
  /**
   * The track's file has left the library (the names are what it was), or the track is of a
   * library the user no longer sees (no names).
   */
  unavailable?: true;
  playedAt: string;
  msPlayed: number;
  source: string;
}

/** One entry of the retained play log, in the order it was stored (`seq`). */
export interface LoggedPlay {
  seq: number;
  eventId: string;
  userId: string;
  trackId: string;
  playedAt: string;
  msPlayed: number;
  source: string;
}

export const historyContract = defineContract(
  'history',
  {
    /** The caller's last plays, newest first. */
    recent: userMethod(z.strictObject({ limit: z.number().int().min(1).max(500).default(20) })).returns<
      Play[]
    >(),
    /**
     * Pages through the retained play log in `seq` order, for rebuilding statistics: plays with
     * `seq > afterSeq`, and when `eventIds` is given only those events.
     */
    export: internalMethod(
      z.strictObject({
        afterSeq: z.number().int().min(0).default(0),
        limit: z.number().int().min(1).max(5000).default(1000),
        eventIds: z.array(z.uuid()).max(5000).optional(),
      }),
    ).returns<LoggedPlay[]>(),
  },
  { subscriptions: { plays: subscribe(Events.trackPlayed, { batch: DATABASE_BATCH }) } },
);
export type HistoryContract = typeof historyContract;
