import { z } from 'zod';
import type { PartitionStanding } from '../projections/lag.js';
import { defineContract, internalMethod, publicMethod, userMethod } from '../rpc/contract.js';
import { ids, MAX_IDS, windowParam } from './shared.js';

export interface TrackCount {
  trackId: string;
  plays: number;
}

/** A track of the public top: its listeners (accounts that played it) rank it, then its plays. */
export interface TopTrack extends TrackCount {
  listeners: number;
}

/** A track the listeners of some tracks also played: how many of them, and how often. */
export interface CoPlayed {
  trackId: string;
  listeners: number;
  plays: number;
}

/** Most listeners of the seed tracks `coPlayed` looks at (the most active first). */
export const CO_PLAY_LISTENERS_MAX = 1000;

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

/** Plays and listening time of one item of a report. */
export interface ReportCount {
  plays: number;
  minutes: number;
}

/**
 * What a user listened to in a month or a year. Months and days are UTC. Artists, albums and
 * genres are the catalog's now; plays of tracks the catalog no longer has count in the totals
 * and the top tracks only.
 */
export interface ListeningReport extends ReportCount {
  userId: string;
  /** `2026-11` or `2026`. */
  period: string;
  /** First and last day of the period (UTC), inclusive. */
  from: string;
  to: string;
  timeZone: 'UTC';
  distinctTracks: number;
  distinctArtists: number;
  topTracks: Array<ReportCount & { trackId: string; title: string | null; artistName: string | null }>;
  topArtists: Array<ReportCount & { artistId: string; name: string }>;
  topAlbums: Array<ReportCount & { albumId: string; title: string; artistName: string }>;
  topGenres: Array<ReportCount & { genre: string }>;
  /** The ISO weekday (Monday ... Sunday) with the most plays. */
  busiestWeekday: { weekday: string; plays: number } | null;
  /** The UTC hour (0-23) with the most plays. */
  busiestHour: { hour: number; plays: number } | null;
  /** The longest run of consecutive days with a play, within the period. */
  longestStreak: { days: number; from: string; to: string } | null;
  /** Each month of the period, oldest first. */
  months: Array<ReportCount & { month: string }>;
}

/**
 * A report covers a period that has begun: no play can be dated later than a few minutes
 * ahead, and years past 9999 are not dates at all. Later periods are refused (400) in words.
 */
const begun = (year: number, month = 1) => Date.UTC(year, month - 1, 1) <= Date.now() + 86_400_000;
const reportParams = z.union([
  z.strictObject({
    year: z
      .number()
      .int()
      .min(1970)
      .max(9999)
      .refine((y) => begun(y), 'year must not be after the current one'),
  }),
  z.strictObject({
    month: z
      .string()
      .regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'month must look like 2026-11')
      .refine((m) => Number(m.slice(0, 4)) >= 1970, 'month must not be before 1970')
      .refine(
        (m) => begun(Number(m.slice(0, 4)), Number(m.slice(5))),
        'month must not be after the current one',
      ),
  }),
]);

export const statsContract = defineContract('stats', {
  /**
   * The most listened tracks of a window: by listeners (one account counts once per track,
   * however often it plays it), then by plays.
   */
  topTracks: publicMethod(
    z.strictObject({ window: windowParam, limit: z.number().int().min(1).max(100).default(10) }),
  ).returns<TopTrack[]>(),
  /** The caller's totals. */
  user: userMethod(
    z.strictObject({ limit: z.number().int().min(1).max(100).default(10) }),
  ).returns<UserStats>(),
  overview: publicMethod(z.strictObject({})).returns<Overview>(),
  /** The caller's listening report for a year or a month. */
  report: userMethod(reportParams).returns<ListeningReport>(),
  /** All-time play counts of the given tracks; tracks never played are left out. */
  trackPlays: internalMethod(z.strictObject({ trackIds: ids(MAX_IDS) })).returns<TrackCount[]>(),
  /**
   * Tracks that listeners of `trackIds` also played (the seeds left out), most listeners in
   * common first: what "people who play this also play" is built from.
   */
  /**
   * How far behind the event log each projection of the service is, per partition: the offset
   * applied, the lag in events and the leading worker (the gateway's /metrics).
   */
  projectionLag: internalMethod(z.strictObject({})).returns<PartitionStanding[]>(),
  coPlayed: internalMethod(
    z.strictObject({ trackIds: ids(MAX_IDS), limit: z.number().int().min(1).max(500).default(50) }),
  ).returns<CoPlayed[]>(),
});
export type StatsContract = typeof statsContract;
